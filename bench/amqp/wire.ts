// Just enough AMQP 0-9-1 framing for the bench's own client and its null server.
// Written for speed of the hot paths (publish templates, delivery parsing), not
// for completeness: the broker under test owns the real codec.

export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const FRAME_END = 0xce;

/** (class << 16) | method, so one number identifies a method. */
export const M = {
  connectionStart: (10 << 16) | 10,
  connectionStartOk: (10 << 16) | 11,
  connectionTune: (10 << 16) | 30,
  connectionTuneOk: (10 << 16) | 31,
  connectionOpen: (10 << 16) | 40,
  connectionOpenOk: (10 << 16) | 41,
  connectionClose: (10 << 16) | 50,
  connectionCloseOk: (10 << 16) | 51,
  connectionBlocked: (10 << 16) | 60,
  connectionUnblocked: (10 << 16) | 61,
  channelOpen: (20 << 16) | 10,
  channelOpenOk: (20 << 16) | 11,
  channelClose: (20 << 16) | 40,
  channelCloseOk: (20 << 16) | 41,
  exchangeDeclare: (40 << 16) | 10,
  exchangeDeclareOk: (40 << 16) | 11,
  exchangeDelete: (40 << 16) | 20,
  exchangeDeleteOk: (40 << 16) | 21,
  queueDeclare: (50 << 16) | 10,
  queueDeclareOk: (50 << 16) | 11,
  queueBind: (50 << 16) | 20,
  queueBindOk: (50 << 16) | 21,
  queuePurge: (50 << 16) | 30,
  queuePurgeOk: (50 << 16) | 31,
  queueDelete: (50 << 16) | 40,
  queueDeleteOk: (50 << 16) | 41,
  basicQos: (60 << 16) | 10,
  basicQosOk: (60 << 16) | 11,
  basicConsume: (60 << 16) | 20,
  basicConsumeOk: (60 << 16) | 21,
  basicCancel: (60 << 16) | 30,
  basicCancelOk: (60 << 16) | 31,
  basicPublish: (60 << 16) | 40,
  basicReturn: (60 << 16) | 50,
  basicDeliver: (60 << 16) | 60,
  basicAck: (60 << 16) | 80,
  basicNack: (60 << 16) | 120,
  confirmSelect: (85 << 16) | 10,
  confirmSelectOk: (85 << 16) | 11,
} as const;

/** Growable writer for building frames; only used off the hot path or to build templates. */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): this { this.room(1); this.buf[this.pos++] = v; return this; }
  u16(v: number): this { this.room(2); this.buf.writeUInt16BE(v, this.pos); this.pos += 2; return this; }
  u32(v: number): this { this.room(4); this.buf.writeUInt32BE(v, this.pos); this.pos += 4; return this; }
  u64(v: number): this { this.u32(Math.floor(v / 0x100000000)); return this.u32(v >>> 0); }
  shortstr(s: string): this {
    const n = Buffer.byteLength(s);
    if (n > 255) throw new Error(`shortstr too long: ${s.slice(0, 40)}…`);
    this.room(1 + n);
    this.buf[this.pos++] = n;
    this.pos += this.buf.write(s, this.pos);
    return this;
  }
  longstr(s: string | Buffer): this {
    const b = typeof s === 'string' ? Buffer.from(s) : s;
    this.u32(b.length);
    this.room(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
    return this;
  }
  /** Field table with string and boolean values only: all the bench ever sends. */
  table(t: Record<string, string | boolean | Record<string, boolean>> = {}): this {
    const start = this.pos;
    this.u32(0);
    for (const [k, v] of Object.entries(t)) {
      this.shortstr(k);
      if (typeof v === 'string') this.u8(0x53).longstr(v);
      else if (typeof v === 'boolean') this.u8(0x74).u8(v ? 1 : 0);
      else this.u8(0x46).table(v);
    }
    this.buf.writeUInt32BE(this.pos - start - 4, start);
    return this;
  }
  bytes(b: Buffer): this { this.room(b.length); b.copy(this.buf, this.pos); this.pos += b.length; return this; }
  result(): Buffer { return this.buf.subarray(0, this.pos); }
}

/** One method frame; `args` writes the arguments after class and method ids. */
export function methodFrame(channel: number, id: number, args?: (w: Writer) => void): Buffer {
  const w = new Writer(64);
  w.u8(FRAME_METHOD).u16(channel).u32(0).u16(id >>> 16).u16(id & 0xffff);
  args?.(w);
  w.buf.writeUInt32BE(w.pos - 7, 3);
  w.u8(FRAME_END);
  return Buffer.from(w.result());
}

/** Content header frame for class basic with optional delivery-mode. */
export function headerFrame(channel: number, bodySize: number, persistent: boolean): Buffer {
  const w = new Writer(32);
  w.u8(FRAME_HEADER).u16(channel).u32(0).u16(60).u16(0).u64(bodySize);
  if (persistent) w.u16(0x1000).u8(2);
  else w.u16(0);
  w.buf.writeUInt32BE(w.pos - 7, 3);
  w.u8(FRAME_END);
  return Buffer.from(w.result());
}

export function bodyFrame(channel: number, body: Buffer): Buffer {
  const w = new Writer(body.length + 8);
  w.u8(FRAME_BODY).u16(channel).u32(body.length).bytes(body).u8(FRAME_END);
  return Buffer.from(w.result());
}

/** Reads arguments of a method payload; `pos` starts after class/method ids. */
export class Reader {
  pos: number;
  constructor(public buf: Buffer, start: number) { this.pos = start; }
  u8(): number { return this.buf[this.pos++]!; }
  u16(): number { const v = this.buf.readUInt16BE(this.pos); this.pos += 2; return v; }
  u32(): number { const v = this.buf.readUInt32BE(this.pos); this.pos += 4; return v; }
  u64(): number { const hi = this.u32(); return hi * 0x100000000 + this.u32(); }
  shortstr(): string {
    const n = this.u8();
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  longstr(): Buffer { const n = this.u32(); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  skipTable(): void { const n = this.u32(); this.pos += n; }
}

/**
 * Splits a byte stream into frames. Keeps at most one partial frame between
 * chunks, so steady-state parsing does not allocate.
 */
export class FrameSplitter {
  private carry: Buffer | null = null;
  constructor(private readonly onFrame: (type: number, channel: number, buf: Buffer, start: number, end: number) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let pos = 0;
    const len = buf.length;
    while (len - pos >= 7) {
      const size = buf.readUInt32BE(pos + 3);
      const end = pos + 7 + size;
      if (end + 1 > len) break;
      if (buf[end] !== FRAME_END) throw new Error('AMQP framing error: missing frame-end octet');
      this.onFrame(buf[pos]!, buf.readUInt16BE(pos + 1), buf, pos + 7, end);
      pos = end + 1;
    }
    // Copy the tail: the chunk buffer may be reused by the stream.
    if (pos < len) this.carry = Buffer.from(buf.subarray(pos));
  }
}

/** Parses `amqp://user:pass@host:port/vhost` with RabbitMQ's defaults. */
export function parseAmqpUrl(url: string): { host: string; port: number; user: string; pass: string; vhost: string } {
  const u = new URL(url);
  if (u.protocol !== 'amqp:') throw new Error(`only amqp:// URLs are supported: ${url}`);
  const vhostPath = u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : '/';
  return {
    host: u.hostname || 'localhost',
    port: u.port ? Number(u.port) : 5672,
    user: u.username ? decodeURIComponent(u.username) : 'guest',
    pass: u.password ? decodeURIComponent(u.password) : 'guest',
    vhost: vhostPath,
  };
}
