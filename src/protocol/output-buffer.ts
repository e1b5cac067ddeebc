/**
 * A growable byte buffer for outgoing frames. A connection owns one, fills it
 * during a turn of the event loop, then writes the pending bytes to the socket
 * (takePiece() until empty, corked: one writev).
 *
 * take() hands out a view of the bytes written so far (no copy) and carries on
 * writing after them in the same slab; so bytes already taken are never
 * overwritten. When the slab runs out, the whole frames written so far stay
 * where they are, as a pending piece, and only the frame still being written
 * moves to a fresh slab: a busy connection's turn of output is not copied again
 * each time it outgrows its slab (that copy was 5% of the acceptor's samples).
 *
 * Positions returned by beginFrame() (and used internally for backfilling
 * sizes) count from `origin`, so they stay valid when the slab changes. `pos`
 * is the absolute write position in `buf`.
 */
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_OVERHEAD } from './constants.js';
import type { FieldTable, FieldValue } from './field-types.js';
import { copyBytes, viewOfBytes } from './copy-bytes.js';
import { writeU32BE } from './uint32.js';

const EMPTY = Buffer.alloc(0);
const EMPTY_VIEW = viewOfBytes(EMPTY);
const TWO_32 = 0x1_0000_0000;
const TWO_63 = 2 ** 63;
const ELLIPSIS = Buffer.from('...');
/** A fresh slab is twice the last one, up to this (or what one write needs). */
const MAX_SLAB = 256 * 1024;
/** Spare slabs kept at most: a consumer is paused from 256 KiB unwritten, and what its shard sent meanwhile still comes. */
const MAX_SPARES = 4;
/** Outgrown slabs followed at most; older ones are left to the garbage collector. */
const MAX_RETIRED = 16;

export class OutputBuffer {
  buf: Buffer;
  /** buf again, for word-wise copies (copyWords): same offsets */
  private view: DataView;
  pos = 0;
  /** Where positions count from (absolute in buf; negative once a frame moved to a fresh slab). */
  private origin = 0;
  /** Start of the pending bytes in buf; everything before it has been taken or is a pending piece. */
  private start = 0;
  /** End of the last whole frame in buf: what lies before it never changes again. */
  private frameEnd = 0;
  /** Earlier pending bytes, whole frames left behind in outgrown slabs, oldest first. */
  private readonly pieces: Buffer[] = [];
  private piecesBytes = 0;
  /** Bytes handed out by take() and takePiece() so far. */
  private taken = 0;
  /** Set by the first written(): only then do outgrown slabs come back (a buffer whose views are kept never says). */
  private recycles = false;
  /** Slabs outgrown, oldest first, and the `taken` count by which each had handed out its last byte. */
  private readonly retired: Buffer[] = [];
  private readonly retiredUntil: number[] = [];
  /** Outgrown slabs the socket is done with, for the next grow()s: a socket that lags holds several. */
  private readonly spares: Buffer[] = [];
  private readonly initialSize: number;

  constructor(initialSize = 16 * 1024) {
    this.initialSize = Math.max(16, initialSize | 0);
    this.buf = Buffer.allocUnsafe(this.initialSize);
    this.view = viewOfBytes(this.buf);
  }

  /** Number of bytes written and not yet taken. */
  get length(): number {
    return this.piecesBytes + this.pos - this.start;
  }

  /** What it holds: its slab, kept for the next turns, and the pending bytes of earlier ones. */
  get heldBytes(): number {
    let spare = 0;
    for (const slab of this.spares) spare += slab.length;
    return this.buf.length + this.piecesBytes + spare;
  }

  /** Makes room for n more bytes, keeping the pending contents. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    // Whole frames stay behind as a piece; the frame being written (or bytes
    // written outside frames, whose sizes may still be backfilled) move along.
    const from = this.frameEnd;
    if (from > this.start) {
      this.pieces.push(this.buf.subarray(this.start, from));
      this.piecesBytes += from - this.start;
    }
    const moving = this.pos - from;
    let size = this.initialSize;
    while (size < moving + n) size *= 2;
    if (size < MAX_SLAB && size < this.buf.length * 2) size = Math.min(MAX_SLAB, this.buf.length * 2);
    // Fresh memory costs a page fault per 4 KiB on first touch: at saturation
    // every turn outgrew its slab, and the faults were most of a 1 KiB
    // delivery's copy into it. So a slab the socket is done with comes back.
    const spare = this.spares.pop();
    const next = spare !== undefined && spare.length >= size ? spare : Buffer.allocUnsafe(size);
    copyBytes(this.buf, from, this.pos, next, 0);
    // The old slab is left to the views already taken from it, until written() says they are written.
    if (this.recycles && this.buf.length > 0 && this.buf.length <= MAX_SLAB) {
      if (this.retired.length === MAX_RETIRED) {
        this.retired.shift();
        this.retiredUntil.shift();
      }
      this.retired.push(this.buf);
      this.retiredUntil.push(this.taken + this.piecesBytes);
    }
    this.buf = next;
    this.view = viewOfBytes(next);
    this.origin -= from;
    this.pos = moving;
    this.start = 0;
    this.frameEnd = 0;
  }

  /**
   * Returns the pending bytes and empties the buffer. The result is never
   * written to again, so it can go straight to socket.write(). Copies only when
   * the bytes lie in several slabs: a socket writer takes them with takePiece().
   */
  take(): Buffer {
    if (this.pieces.length === 0) return this.takeTail();
    const all = Buffer.allocUnsafe(this.length);
    let at = 0;
    while (this.pieces.length > 0) {
      const piece = this.takePiece();
      at += copyBytes(piece, 0, piece.length, all, at);
    }
    copyBytes(this.buf, this.start, this.pos, all, at);
    this.takeTail();
    return all;
  }

  /** The oldest pending bytes that lie in one slab (all of them when they fit one); empty when none. */
  takePiece(): Buffer {
    const piece = this.pieces.shift();
    if (piece === undefined) return this.takeTail();
    this.piecesBytes -= piece.length;
    this.taken += piece.length;
    return piece;
  }

  /**
   * Of the bytes taken so far, all but the last `unwritten` are no longer
   * needed by anyone (the socket wrote them; it holds the rest, its
   * writableLength): the outgrown slabs they lay in become spares for the
   * next grow()s, and once nothing is left at all the next frames go to the
   * start of the same slab again. Without this each turn's output took fresh
   * slab space, and that allocation of memory outside V8's heap (as fast as
   * the output) made V8 run a full mark-compact several times a second.
   */
  written(unwritten: number): void {
    this.recycles = true;
    const done = this.taken - unwritten;
    let freed = false;
    while (this.retired.length > 0 && this.retiredUntil[0] <= done) {
      const slab = this.retired.shift()!;
      this.retiredUntil.shift();
      if (this.spares.length < MAX_SPARES) this.spares.push(slab);
      freed = true;
    }
    if (unwritten !== 0 || this.length !== 0) return;
    const used = this.pos;
    this.pos = this.start = this.origin = this.frameEnd = 0;
    if (!freed && used < this.buf.length / 4) this.spares.length = 0; // a quiet spell: not worth holding
  }

  private takeTail(): Buffer {
    if (this.pos === this.start) return EMPTY;
    const out = this.buf.subarray(this.start, this.pos);
    this.taken += out.length;
    this.start = this.origin = this.frameEnd = this.pos;
    // A slab made for one large message is not kept; one grown by a busy turn is, for written().
    if (this.buf.length > MAX_SLAB) {
      this.buf = EMPTY;
      this.view = EMPTY_VIEW;
      this.pos = this.start = this.origin = this.frameEnd = 0;
    }
    return out;
  }

  u8(v: number): void {
    if (this.pos + 1 > this.buf.length) this.grow(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    if (this.pos + 2 > this.buf.length) this.grow(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }

  u32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.grow(4);
    writeU32BE(this.buf, this.pos, v);
    this.pos += 4;
  }

  /** Unsigned 64-bit from a number (exact up to 2^53). */
  u64(v: number): void {
    if (this.pos + 8 > this.buf.length) this.grow(8);
    const hi = Math.floor(v / TWO_32);
    const p = this.pos;
    writeU32BE(this.buf, p, hi);
    writeU32BE(this.buf, p + 4, v - hi * TWO_32);
    this.pos = p + 8;
  }

  // Typed-array stores wrap modulo 256, so the signed writers share the byte
  // layout of the unsigned ones (two's complement).
  i8(v: number): void {
    this.u8(v);
  }

  i16(v: number): void {
    this.u16(v);
  }

  i32(v: number): void {
    this.u32(v);
  }

  /** Signed 64-bit from an integer number in [-2^63, 2^63) or a bigint. */
  i64(v: number | bigint): void {
    if (typeof v === 'bigint') {
      this.ensure(8);
      this.buf.writeBigInt64BE(v, this.pos);
      this.pos += 8;
      return;
    }
    // floor keeps lo in [0, 2^32) for negatives; both halves are exact for integers
    const hi = Math.floor(v / TWO_32);
    this.u32(hi);
    this.u32(v - hi * TWO_32);
  }

  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** A short string: length octet then utf8. Throws a plain Error above 255 bytes (a caller bug). */
  shortstr(s: string): void {
    const chars = s.length;
    if (chars > 255) throw new Error(`shortstr too long: ${chars} characters (max 255 bytes)`);
    if (chars === 0) {
      this.u8(0);
      return;
    }
    // 3 bytes per UTF-16 unit is the utf8 worst case, so one write suffices
    this.ensure(1 + chars * 3);
    const n = this.buf.write(s, this.pos + 1, 'utf8');
    if (n > 255) throw new Error(`shortstr too long: ${n} bytes (max 255)`);
    this.buf[this.pos] = n;
    this.pos += 1 + n;
  }

  /**
   * A reply text (connection.close, channel.close, basic.return). A text over
   * the 255 bytes of a shortstr is cut as RabbitMQ cuts it, to 252 bytes and
   * "...", but on a UTF-8 character boundary.
   */
  replyText(s: string): void {
    // up to 85 UTF-16 units always fit (at most 3 bytes each)
    if (s.length <= 85) return this.shortstr(s);
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length <= 255) {
      this.u8(bytes.length);
      return this.bytes(bytes);
    }
    let n = 252;
    // a cut inside a character lands on a continuation byte (10xxxxxx): back up to its start
    while (n > 0 && (bytes[n] & 0xc0) === 0x80) n--;
    this.u8(n + 3);
    this.bytes(bytes, 0, n);
    this.bytes(ELLIPSIS);
  }

  /** A long string: u32 length then the bytes (strings are written as utf8). */
  longstr(b: Buffer | string): void {
    if (typeof b === 'string') {
      const n = Buffer.byteLength(b, 'utf8');
      this.ensure(4 + n);
      this.u32(n);
      this.buf.write(b, this.pos, 'utf8');
      this.pos += n;
    } else {
      const n = b.length;
      this.ensure(4 + n);
      this.u32(n);
      b.copy(this.buf, this.pos);
      this.pos += n;
    }
  }

  /** Raw bytes, no length prefix (`view`: b's, where the caller holds one: copyBytes). */
  bytes(b: Buffer, start = 0, end = b.length, view: DataView | null = null): void {
    const n = end - start;
    this.ensure(n);
    copyBytes(b, start, end, this.buf, this.pos, view, this.view);
    this.pos += n;
  }

  /** Writes a u32 at a pending-relative position written earlier (sizes known only afterwards). */
  private backfill32(at: number, v: number): void {
    writeU32BE(this.buf, this.origin + at, v);
  }

  /** A field table with its u32 size; undefined writes an empty table. */
  table(t: FieldTable | undefined): void {
    this.ensure(4);
    const at = this.pos - this.origin;
    this.pos += 4;
    if (t != null) {
      const keys = Object.keys(t);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        this.shortstr(k);
        this.fieldValue(t[k]);
      }
    }
    this.backfill32(at, this.pos - this.origin - at - 4);
  }

  /** A type letter plus value; the letter is inferred from the JS type (see field-table.ts). */
  fieldValue(v: FieldValue | undefined): void {
    switch (typeof v) {
      case 'boolean':
        this.u8(0x74); // t
        this.u8(v ? 1 : 0);
        return;
      case 'number':
        if (Number.isInteger(v)) {
          if (v >= -0x80000000 && v <= 0x7fffffff) {
            this.u8(0x49); // I
            this.u32(v);
            return;
          }
          if (v >= -TWO_63 && v < TWO_63) {
            this.u8(0x6c); // l
            this.i64(v);
            return;
          }
        }
        this.u8(0x64); // d: fractions, NaN, infinities, integers beyond int64
        this.f64(v);
        return;
      case 'bigint':
        this.u8(0x6c); // l
        this.i64(v);
        return;
      case 'string':
        this.u8(0x53); // S
        this.longstr(v);
        return;
      case 'undefined':
        this.u8(0x56); // V
        return;
      case 'object':
        if (v === null) {
          this.u8(0x56); // V
        } else if (v instanceof Uint8Array) {
          this.u8(0x78); // x
          // a plain Uint8Array (not in FieldValue, but easy to pass) is viewed as a Buffer
          const u: Uint8Array = v;
          this.longstr(Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));
        } else if (Array.isArray(v)) {
          this.u8(0x41); // A
          this.ensure(4);
          const at = this.pos - this.origin;
          this.pos += 4;
          for (let i = 0; i < v.length; i++) this.fieldValue(v[i]);
          this.backfill32(at, this.pos - this.origin - at - 4);
        } else if (v instanceof Date) {
          this.u8(0x54); // T: seconds since the epoch
          this.u64(Math.floor(v.getTime() / 1000));
        } else if (isDecimal(v)) {
          this.u8(0x44); // D
          this.u8(v.decimals);
          this.u32(v.value);
        } else {
          this.u8(0x46); // F
          this.table(v as FieldTable);
        }
        return;
      default:
        throw new Error(`cannot encode a ${typeof v} in a field table`);
    }
  }

  /** Starts a frame: type, channel, size placeholder. Returns its position for endFrame. */
  beginFrame(type: number, channel: number): number {
    if (this.pos + 7 > this.buf.length) this.grow(7);
    const b = this.buf;
    const p = this.pos;
    b[p] = type;
    b[p + 1] = channel >>> 8;
    b[p + 2] = channel;
    this.pos = p + 7;
    return p - this.origin;
  }

  /**
   * Starts a frame whose first bytes were written once beforehand (`head`: the
   * type, channel and a size placeholder, then the same payload start each
   * time; `view`: head's, for copyBytes). Returns its position for endFrame.
   */
  beginWrittenFrame(head: Buffer, view: DataView): number {
    const n = head.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    const p = this.pos;
    copyBytes(head, 0, n, this.buf, p, view, this.view);
    this.pos = p + n;
    return p - this.origin;
  }

  /** Backfills the payload size of the frame begun at start and writes frame-end. */
  endFrame(start: number): void {
    this.backfill32(start + 3, this.pos - this.origin - start - 7);
    this.u8(FRAME_END);
    this.frameEnd = this.pos;
  }

  heartbeat(): void {
    if (this.pos + 8 > this.buf.length) this.grow(8);
    const b = this.buf;
    const p = this.pos;
    b[p] = FRAME_HEARTBEAT;
    b[p + 1] = 0;
    b[p + 2] = 0;
    b[p + 3] = 0;
    b[p + 4] = 0;
    b[p + 5] = 0;
    b[p + 6] = 0;
    b[p + 7] = FRAME_END;
    this.pos = this.frameEnd = p + 8;
  }

  /**
   * Writes a content header frame followed by body frames of at most
   * frameMax - 8 payload bytes each (frameMax 0 means no limit). rawProperties
   * are the property-flags and property values exactly as a publisher sent
   * them. body may be split in chunks; their concatenation is the body, and
   * bodySize bytes of it are sent.
   */
  writeContent(
    channel: number,
    classId: number,
    bodySize: number,
    rawProperties: Buffer,
    body: Buffer | Buffer[],
    frameMax: number,
  ): void {
    const maxPayload = maxPayloadOf(frameMax, bodySize);
    const frames = Math.ceil(bodySize / maxPayload);
    this.ensure(FRAME_OVERHEAD + 12 + rawProperties.length + frames * FRAME_OVERHEAD + bodySize);
    const b = this.buf;
    let p = this.writeHeaderFrame(channel, classId, bodySize, rawProperties, 0, rawProperties.length);

    const list = Array.isArray(body) ? body : null;
    let chunk: Buffer = list === null ? (body as Buffer) : list.length > 0 ? list[0] : EMPTY;
    let chunkIndex = 0;
    let chunkPos = 0;
    let remaining = bodySize;
    while (remaining > 0) {
      const size = remaining < maxPayload ? remaining : maxPayload;
      p = bodyFrameStart(b, p, channel, size);
      let want = size;
      while (want > 0) {
        const avail = chunk.length - chunkPos;
        if (avail === 0) {
          // pos is not advanced, so the partial content is dropped
          if (list === null || ++chunkIndex >= list.length) {
            throw new Error(`body is shorter than its declared size ${bodySize}`);
          }
          chunk = list[chunkIndex];
          chunkPos = 0;
          continue;
        }
        const n = avail < want ? avail : want;
        p += copyBytes(chunk, chunkPos, chunkPos + n, b, p);
        chunkPos += n;
        want -= n;
      }
      b[p++] = FRAME_END;
      remaining -= size;
    }
    this.pos = this.frameEnd = p;
  }

  /**
   * writeContent for a message whose properties and body lie whole in buffers
   * (a ring record, a publish's socket chunk): props[propertiesAt..propertiesEnd)
   * and body[bodyAt..bodyEnd). Reads them in place, so a delivery allocates no views.
   */
  writeContentFrom(
    channel: number,
    classId: number,
    props: Buffer,
    propertiesAt: number,
    propertiesEnd: number,
    body: Buffer,
    bodyAt: number,
    bodyEnd: number,
    frameMax: number,
    /** props' and body's, where the caller holds them (copyBytes) */
    propsView: DataView | null = null,
    bodyView: DataView | null = null,
  ): void {
    const bodySize = bodyEnd - bodyAt;
    const maxPayload = maxPayloadOf(frameMax, bodySize);
    const frames = Math.ceil(bodySize / maxPayload);
    this.ensure(FRAME_OVERHEAD + 12 + propertiesEnd - propertiesAt + frames * FRAME_OVERHEAD + bodySize);
    const b = this.buf;
    let p = this.writeHeaderFrame(channel, classId, bodySize, props, propertiesAt, propertiesEnd, propsView);
    for (let at = bodyAt; at < bodyEnd; ) {
      const size = bodyEnd - at < maxPayload ? bodyEnd - at : maxPayload;
      p = bodyFrameStart(b, p, channel, size);
      p += copyBytes(body, at, at + size, b, p, bodyView, this.view);
      b[p++] = FRAME_END;
      at += size;
    }
    this.pos = this.frameEnd = p;
  }

  /** The content header frame at pos (room ensured by the caller); returns the end offset in buf. */
  private writeHeaderFrame(channel: number, classId: number, bodySize: number, src: Buffer, propertiesAt: number, propertiesEnd: number, srcView: DataView | null = null): number {
    const b = this.buf;
    let p = this.pos;
    b[p] = FRAME_HEADER;
    b[p + 1] = channel >>> 8;
    b[p + 2] = channel;
    writeU32BE(b, p + 3, 12 + propertiesEnd - propertiesAt);
    b[p + 7] = classId >>> 8;
    b[p + 8] = classId;
    b[p + 9] = 0; // weight
    b[p + 10] = 0;
    const hi = Math.floor(bodySize / TWO_32);
    writeU32BE(b, p + 11, hi);
    writeU32BE(b, p + 15, bodySize - hi * TWO_32);
    p += 19;
    p += copyBytes(src, propertiesAt, propertiesEnd, b, p, srcView, this.view);
    b[p++] = FRAME_END;
    return p;
  }
}

/** Body bytes per frame: frameMax - 8, or all of it when frameMax is 0 (no limit). */
function maxPayloadOf(frameMax: number, bodySize: number): number {
  if (frameMax !== 0 && frameMax <= FRAME_OVERHEAD) throw new Error(`frame-max ${frameMax} leaves no room for a body`);
  return frameMax === 0 ? Math.max(bodySize, 1) : frameMax - FRAME_OVERHEAD;
}

/** A body frame's 7 header bytes at b[p]; returns where its payload goes. */
function bodyFrameStart(b: Buffer, p: number, channel: number, size: number): number {
  b[p] = FRAME_BODY;
  b[p + 1] = channel >>> 8;
  b[p + 2] = channel;
  writeU32BE(b, p + 3, size);
  return p + 7;
}

function isDecimal(v: object): v is { decimals: number; value: number } {
  const d = v as { decimals?: unknown; value?: unknown };
  return typeof d.decimals === 'number' && typeof d.value === 'number' && Object.keys(v).length === 2;
}
