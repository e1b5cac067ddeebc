import { describe, expect, it } from 'vitest';
import { FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_MIN_SIZE } from '../../src/protocol/constants.js';
import { AmqpError, ReplyCode } from '../../src/protocol/errors.js';
import { FrameReader, PROTOCOL_HEADER } from '../../src/protocol/frame-reader.js';
import * as M from '../../src/protocol/methods.generated.js';
import { OutputBuffer } from '../../src/protocol/output-buffer.js';
import { bytes, int, readFrames, rng, type Frame, errorOf } from './helpers.js';

/** A stream of mixed frames and the frames it should read back as. */
function sampleStream(): { wire: Buffer; frames: Frame[] } {
  const out = new OutputBuffer(32);
  const frames: Frame[] = [];
  const add = (type: number, channel: number, write: () => void) => {
    const before = out.length;
    write();
    const all = out.buf.subarray(out.pos - (out.length - before), out.pos);
    frames.push({ type, channel, payload: Buffer.from(all.subarray(7, all.length - 1)) });
  };
  add(FRAME_METHOD, 1, () => M.writeBasicPublish(out, 1, { exchange: 'ex', routingKey: 'rk', mandatory: false, immediate: false }));
  add(FRAME_HEARTBEAT, 0, () => out.heartbeat());
  add(FRAME_METHOD, 0, () => M.writeConnectionCloseOk(out, 0));
  add(FRAME_HEADER, 7, () => {
    const start = out.beginFrame(FRAME_HEADER, 7);
    out.bytes(Buffer.from([0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0]));
    out.endFrame(start);
  });
  add(FRAME_BODY, 7, () => {
    const start = out.beginFrame(FRAME_BODY, 7);
    out.bytes(Buffer.from('abc'));
    out.endFrame(start);
  });
  add(FRAME_BODY, 65535, () => {
    const start = out.beginFrame(FRAME_BODY, 65535);
    out.bytes(bytes(rng(3), 200));
    out.endFrame(start);
  });
  add(FRAME_BODY, 2, () => {
    const start = out.beginFrame(FRAME_BODY, 2); // an empty payload
    out.endFrame(start);
  });
  return { wire: out.take(), frames };
}


describe('FrameReader', () => {
  const { wire, frames } = sampleStream();

  it('reads a whole stream in one chunk', () => {
    expect(readFrames([wire], FRAME_MIN_SIZE)).toEqual(frames);
  });

  it('reads the stream split at every offset', () => {
    for (let i = 0; i <= wire.length; i++) {
      expect(readFrames([wire.subarray(0, i), wire.subarray(i)], FRAME_MIN_SIZE), `split at ${i}`).toEqual(frames);
    }
  });

  it('reads the stream split at every pair of offsets', () => {
    for (let i = 0; i <= wire.length; i += 3) {
      for (let j = i; j <= wire.length; j += 5) {
        const chunks = [wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)];
        expect(readFrames(chunks, FRAME_MIN_SIZE)).toEqual(frames);
      }
    }
  });

  it('reads the stream one byte at a time', () => {
    const chunks = [...wire].map((b) => Buffer.from([b]));
    expect(readFrames(chunks, FRAME_MIN_SIZE)).toEqual(frames);
  });

  it('reads the stream in random chunks', () => {
    const r = rng(99);
    for (let n = 0; n < 200; n++) {
      const chunks: Buffer[] = [];
      for (let p = 0; p < wire.length; ) {
        const len = int(r, 0, 40);
        chunks.push(wire.subarray(p, p + len));
        p += len;
      }
      expect(readFrames(chunks, FRAME_MIN_SIZE)).toEqual(frames);
    }
  });

  it('hands out places in the chunk when a frame is whole, and exact copies when split', () => {
    const seen: Buffer[] = [];
    const reader = new FrameReader({ onFrame: (_t, _c, buf, start, end) => seen.push(buf.subarray(start, end)) }, 0);
    reader.push(wire);
    for (const p of seen) expect(p.buffer).toBe(wire.buffer);

    seen.length = 0;
    const first = wire.subarray(0, 10); // splits the first frame
    reader.push(first);
    reader.push(wire.subarray(10));
    expect(seen[0].buffer).not.toBe(wire.buffer);
    expect(seen[0].length).toBe(frames[0].payload.length);
    expect(seen[0]).toEqual(frames[0].payload);
    expect(seen[1].buffer).toBe(wire.buffer);
  });

  it('honours a frame-max changed by the handler between frames', () => {
    const out = new OutputBuffer();
    M.writeConnectionTuneOk(out, 0, { channelMax: 0, frameMax: 8192, heartbeat: 0 });
    const big = out.beginFrame(FRAME_BODY, 1);
    out.bytes(Buffer.alloc(6000));
    out.endFrame(big);
    const stream = out.take();

    const reader = new FrameReader(
      {
        onFrame(type) {
          if (type === FRAME_METHOD) reader.maxFrameSize = 8192;
        },
      },
      FRAME_MIN_SIZE,
    );
    expect(() => reader.push(stream)).not.toThrow();
    // the same body frame is too big for the pre-tune limit
    expect(errorOf(() => new FrameReader({ onFrame() {} }, FRAME_MIN_SIZE).push(stream.subarray(19))).code).toBe(
      ReplyCode.FRAME_ERROR,
    );
  });

  it('accepts a frame of exactly frame-max', () => {
    const out = new OutputBuffer();
    const s = out.beginFrame(FRAME_BODY, 1);
    out.bytes(Buffer.alloc(FRAME_MIN_SIZE - 8));
    out.endFrame(s);
    expect(readFrames([out.take()], FRAME_MIN_SIZE)).toHaveLength(1);
  });

  it('lets handler errors propagate', () => {
    const boom = new Error('boom');
    const reader = new FrameReader(
      {
        onFrame() {
          throw boom;
        },
      },
      0,
    );
    expect(() => reader.push(wire)).toThrow(boom);
  });

  it('exports the protocol header', () => {
    expect([...PROTOCOL_HEADER]).toEqual([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
  });
});

describe('FrameReader bad input', () => {
  const frame = (type: number, channel: number, payload: Buffer, end = 0xce) => {
    const b = Buffer.alloc(8 + payload.length);
    b[0] = type;
    b.writeUInt16BE(channel, 1);
    b.writeUInt32BE(payload.length, 3);
    payload.copy(b, 7);
    b[b.length - 1] = end;
    return b;
  };
  const header = (type: number, size: number) => {
    const b = Buffer.alloc(7);
    b[0] = type;
    b.writeUInt32BE(size, 3);
    return b;
  };

  const cases: [string, Buffer, number, RegExp][] = [
    ['bad end octet', frame(1, 0, Buffer.from([0, 10, 0, 51]), 0x00), 4096, /frame-end/],
    ['bad end octet on empty payload', frame(8, 0, Buffer.alloc(0), 0xcd), 4096, /frame-end/],
    ['oversized frame', header(3, 4096 - 7), 4096, /frame size 4097 exceeds frame-max 4096/],
    ['huge size, refused before allocating', header(3, 0xffffffff), 131072, /exceeds frame-max 131072/],
    ['frame type 0', frame(0, 0, Buffer.alloc(0)), 4096, /frame type 0/],
    ['frame type 4', frame(4, 0, Buffer.alloc(0)), 4096, /frame type 4/],
    ['frame type "A" (a second protocol header)', PROTOCOL_HEADER, 4096, /frame type 65/],
  ];

  for (const [name, bytes, max, text] of cases) {
    it(`${name} -> hard FRAME_ERROR, whole and byte by byte`, () => {
      const e = errorOf(() => new FrameReader({ onFrame() {} }, max).push(bytes));
      expect(e.code).toBe(ReplyCode.FRAME_ERROR);
      expect(e.hard).toBe(true);
      expect(e.message).toMatch(text);

      const reader = new FrameReader({ onFrame() {} }, max);
      const e2 = errorOf(() => {
        for (const b of bytes) reader.push(Buffer.from([b]));
      });
      expect(e2.code).toBe(ReplyCode.FRAME_ERROR);
    });
  }

  it('reports a bad frame after good ones', () => {
    const good = frame(1, 1, Buffer.from([0, 20, 0, 41]));
    const seen: number[] = [];
    const reader = new FrameReader({ onFrame: (_t, ch) => seen.push(ch) }, 4096);
    const e = errorOf(() => reader.push(Buffer.concat([good, good, frame(1, 1, Buffer.alloc(1), 0xaa)])));
    expect(e.code).toBe(ReplyCode.FRAME_ERROR);
    expect(seen).toEqual([1, 1]);
  });
});
