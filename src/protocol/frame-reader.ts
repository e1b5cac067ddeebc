/**
 * Splits an inbound byte stream into frames, whatever the chunk boundaries.
 *
 * A frame is: type (u8), channel (u16), size (u32), `size` payload bytes,
 * frame-end (0xCE). The handler gets the payload as buf[start..end): when a
 * whole frame lies inside one chunk, that is the chunk itself (no copy and no
 * view object per frame), so it must copy whatever it keeps past the call if
 * the socket reuses its buffers. Only a frame split across chunks is copied,
 * into one buffer of exactly its payload size (start 0).
 *
 * Errors (all hard FRAME_ERRORs) are thrown out of push(); so is anything the
 * handler throws. After a throw the reader's state is unspecified: close the
 * connection rather than pushing more.
 */
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_OVERHEAD } from './constants.js';
import { AmqpError, ReplyCode } from './errors.js';

/** What a client sends first: "AMQP" 0 0 9 1. */
export const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

export interface FrameHandler {
  /** The frame's payload is buf[start..end). */
  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void;
  /** While true, push() stops after the frame it handed out and leaves the rest of its chunk to the caller. */
  readonly holdingFrames?: boolean;
}

const EMPTY = Buffer.alloc(0);

// states of the byte-level machine
const S_HEADER = 0; // collecting the 7 header bytes
const S_PAYLOAD = 1; // collecting payload bytes into this.payload
const S_END = 2; // expecting the frame-end octet

export class FrameReader {
  /** Largest whole frame accepted (payload + 8); 0 means no limit. Update after tune-ok. */
  maxFrameSize: number;
  private readonly handler: FrameHandler;
  private state = S_HEADER;
  /** A header split across chunks is assembled here. */
  private readonly scratch = Buffer.alloc(7);
  /** Bytes collected so far: into scratch in S_HEADER, into payload in S_PAYLOAD. */
  private have = 0;
  private type = 0;
  private channel = 0;
  private size = 0;
  private payload: Buffer = EMPTY;

  constructor(handler: FrameHandler, maxFrameSize: number) {
    this.handler = handler;
    this.maxFrameSize = maxFrameSize;
  }

  /** Handles the frames of `chunk`; returns how many of its bytes it took (fewer once the handler holds frames). */
  push(chunk: Buffer): number {
    const len = chunk.length;
    let p = 0;
    while (p < len) {
      if (this.state === S_HEADER) {
        let type: number;
        let channel: number;
        let size: number;
        if (this.have === 0 && len - p >= 7) {
          // fast path: the header is inside this chunk
          type = chunk[p];
          channel = (chunk[p + 1] << 8) | chunk[p + 2];
          size = chunk[p + 3] * 0x1000000 + ((chunk[p + 4] << 16) | (chunk[p + 5] << 8) | chunk[p + 6]);
          p += 7;
        } else {
          const s = this.scratch;
          let h = this.have;
          while (h < 7 && p < len) s[h++] = chunk[p++];
          if (h < 7) {
            this.have = h;
            return len;
          }
          this.have = 0;
          type = s[0];
          channel = (s[1] << 8) | s[2];
          size = s[3] * 0x1000000 + ((s[4] << 16) | (s[5] << 8) | s[6]);
        }
        this.check(type, size);
        if (len - p > size) {
          // the payload and the end octet are here too: hand out its place in the chunk
          if (chunk[p + size] !== FRAME_END) throw badEnd(chunk[p + size], type, channel);
          const start = p;
          p += size + 1;
          this.handler.onFrame(type, channel, chunk, start, start + size);
          if (this.handler.holdingFrames) return p;
          continue;
        }
        this.type = type;
        this.channel = channel;
        this.size = size;
        if (size === 0) {
          this.payload = EMPTY;
          this.state = S_END;
          continue;
        }
        // the size was checked against frame-max above, so this allocation is bounded
        this.payload = Buffer.allocUnsafe(size);
        this.state = S_PAYLOAD;
      } else if (this.state === S_PAYLOAD) {
        const want = this.size - this.have;
        const n = len - p < want ? len - p : want;
        chunk.copy(this.payload, this.have, p, p + n);
        p += n;
        this.have += n;
        if (this.have === this.size) {
          this.have = 0;
          this.state = S_END;
        }
      } else {
        const end = chunk[p++];
        if (end !== FRAME_END) throw badEnd(end, this.type, this.channel);
        const payload = this.payload;
        this.payload = EMPTY;
        this.state = S_HEADER;
        this.handler.onFrame(this.type, this.channel, payload, 0, payload.length);
        if (this.handler.holdingFrames) return p;
      }
    }
    return len;
  }

  private check(type: number, size: number): void {
    if (type !== FRAME_METHOD && type !== FRAME_HEADER && type !== FRAME_BODY && type !== FRAME_HEARTBEAT) {
      throw new AmqpError(ReplyCode.FRAME_ERROR, `unknown frame type ${type}`, 0, 0, true);
    }
    const max = this.maxFrameSize;
    if (max > 0 && size + FRAME_OVERHEAD > max) {
      throw new AmqpError(
        ReplyCode.FRAME_ERROR,
        `frame size ${size + FRAME_OVERHEAD} exceeds frame-max ${max}`,
        0,
        0,
        true,
      );
    }
  }
}

function badEnd(octet: number, type: number, channel: number): AmqpError {
  return new AmqpError(
    ReplyCode.FRAME_ERROR,
    `bad frame-end octet 0x${octet.toString(16).padStart(2, '0')} after frame type ${type} on channel ${channel} (expected 0xce)`,
    0,
    0,
    true,
  );
}
