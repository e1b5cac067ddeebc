/** A hand-rolled AMQP client for wire tests: its own frame encoder, nothing from the broker's codec. */
import net from 'node:net';
import { expect } from 'vitest';

export const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');
export const FRAME_METHOD = 1;
export const FRAME_END = 0xce;

export const u8 = (n: number) => Buffer.from([n]);
export const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
export const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
export const u64 = (n: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
export const shortstr = (s: string) => Buffer.concat([u8(Buffer.byteLength(s)), Buffer.from(s)]);
export const longstr = (s: string | Buffer) => { const b = Buffer.from(s); return Buffer.concat([u32(b.length), b]); };
export const emptyTable = () => u32(0);
/** A field table of entries already encoded (shortstr name, type octet, value). */
export const fieldTable = (...entries: Buffer[]) => {
  const body = Buffer.concat(entries);
  return Buffer.concat([u32(body.length), body]);
};

/** type, channel, size, payload, end octet (overridable to break the frame). */
export function frame(type: number, ch: number, payload: Buffer, end = FRAME_END): Buffer {
  const head = Buffer.alloc(7);
  head.writeUInt8(type, 0);
  head.writeUInt16BE(ch, 1);
  head.writeUInt32BE(payload.length, 3);
  return Buffer.concat([head, payload, u8(end)]);
}

export function method(ch: number, classId: number, methodId: number, ...args: Buffer[]): Buffer {
  return frame(FRAME_METHOD, ch, Buffer.concat([u16(classId), u16(methodId), ...args]));
}

export const startOk = (user: string, pass: string) =>
  method(0, 10, 11, emptyTable(), shortstr('PLAIN'), longstr(`\0${user}\0${pass}`), shortstr('en_US'));
// channel-max 2047, heartbeat off (RabbitMQ refuses a channel-max or frame-max of 0)
export const tuneOk = (frameMax: number, heartbeat = 0) => method(0, 10, 31, u16(2047), u32(frameMax), u16(heartbeat));
export const open = (vhost: string) => method(0, 10, 40, shortstr(vhost), shortstr(''), u8(0));
export const closeOk = () => method(0, 10, 51);
/** queue.declare(name), no flags, no arguments */
export const queueDeclare = (ch: number, name: string) => method(ch, 50, 10, u16(0), shortstr(name), u8(0), emptyTable());

// ---------------------------------------------------------------- raw client

export interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
  /** class id and method id, for method frames */
  classId: number;
  methodId: number;
}

/** A TCP client that reads whole frames (or raw bytes) as they arrive. */
export class RawClient {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  /** true once the server has closed the socket (or it errored) */
  ended = false;
  /** resolves when the socket is fully closed */
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => { this.buf = Buffer.concat([this.buf, chunk]); this.notify(); });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => { this.ended = true; this.notify(); resolve(); }));
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(...bufs: Buffer[]): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(Buffer.concat(bufs));
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Waits for more data or the close, failing after `ms`. */
  private next(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no data from the server within ${ms} ms`)), ms);
      this.wake = () => { clearTimeout(t); resolve(); };
    });
  }

  /** The next whole frame, or null if the server closed the socket first. */
  async readFrame(ms = 4000): Promise<Frame | null> {
    for (;;) {
      if (this.buf.length >= 7) {
        const size = this.buf.readUInt32BE(3);
        if (this.buf.length >= size + 8) {
          const f = this.buf.subarray(0, size + 8);
          this.buf = this.buf.subarray(size + 8);
          expect(f[size + 7], 'frame-end octet from the server').toBe(FRAME_END);
          const payload = f.subarray(7, 7 + size);
          const isMethod = f[0] === FRAME_METHOD && size >= 4;
          return {
            type: f[0],
            channel: f.readUInt16BE(1),
            payload,
            classId: isMethod ? payload.readUInt16BE(0) : 0,
            methodId: isMethod ? payload.readUInt16BE(2) : 0,
          };
        }
      }
      if (this.ended) return null;
      await this.next(ms);
    }
  }

  /** Every byte the server sends until it closes the socket. */
  async readAll(ms = 3000): Promise<Buffer> {
    while (!this.ended) await this.next(ms);
    return this.buf;
  }

  /** Reads the next method frame and checks it is class.method on channel 0. */
  async expectMethod(classId: number, methodId: number): Promise<Frame> {
    const f = await this.readFrame();
    expect(f, `expected method ${classId}.${methodId}, the server closed the socket`).not.toBeNull();
    expect([f!.type, f!.channel, f!.classId, f!.methodId]).toEqual([FRAME_METHOD, 0, classId, methodId]);
    return f!;
  }

  /**
   * The next method frame, skipping content frames, checked to be
   * class.method on `channel` (methodId -1: any method of the class); a
   * channel.close in its place fails with its code and text.
   */
  async nextMethod(channel: number, classId: number, methodId: number): Promise<Frame> {
    for (;;) {
      const f = await this.readFrame();
      expect(f, `expected ${classId}.${methodId}, the server closed the socket`).not.toBeNull();
      if (f!.type !== FRAME_METHOD) continue;
      if (f!.classId === 20 && f!.methodId === 40 && !(classId === 20 && methodId === 40)) {
        throw new Error(`channel closed: ${f!.payload.readUInt16BE(4)} ${f!.payload.subarray(7, 7 + f!.payload[6])}`);
      }
      expect([f!.channel, f!.classId, methodId < 0 ? -1 : f!.methodId]).toEqual([channel, classId, methodId]);
      return f!;
    }
  }

  /** The whole handshake by hand, ending with open-ok; returns connection.start. */
  async handshake(heartbeat = 0, frameMax = 4096, header = PROTOCOL_HEADER): Promise<Frame> {
    this.send(header);
    const start = await this.expectMethod(10, 10);
    this.send(startOk('guest', 'guest'));
    await this.expectMethod(10, 30); // tune
    this.send(tuneOk(frameMax, heartbeat), open('/'));
    await this.expectMethod(10, 41); // open-ok
    return start;
  }

  /**
   * Skips frames until connection.close, checks its reply code, answers
   * close-ok and waits for the server to close the socket.
   */
  async expectClose(code: number, opts: { ms?: number; text?: string } = {}): Promise<void> {
    for (;;) {
      const f = await this.readFrame(opts.ms);
      expect(f, `the server closed the socket without connection.close ${code}`).not.toBeNull();
      if (f!.type === FRAME_METHOD && f!.channel === 0 && f!.classId === 10 && f!.methodId === 50) {
        const got = f!.payload.readUInt16BE(4);
        const text = f!.payload.subarray(7, 7 + f!.payload[6]).toString();
        expect(got, `connection.close ${got} '${text}'`).toBe(code);
        if (opts.text !== undefined) expect(text).toBe(opts.text);
        this.send(closeOk());
        await this.waitClosed();
        return;
      }
    }
  }

  /** Fails unless the server closes the socket with no connection.close before it, as RabbitMQ does for most errors during the handshake. */
  async expectBareClose(ms?: number): Promise<void> {
    for (let f = await this.readFrame(ms); f !== null; f = await this.readFrame(ms)) {
      const close = f.type === FRAME_METHOD && f.channel === 0 && f.classId === 10 && f.methodId === 50;
      expect(close, `connection.close ${close ? f.payload.readUInt16BE(4) : ''} before the socket closed`).toBe(false);
    }
  }

  /** Fails unless the server closes the socket within `ms`. */
  async waitClosed(ms = 5000): Promise<void> {
    let t!: NodeJS.Timeout;
    const timeout = new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms); });
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(t);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
