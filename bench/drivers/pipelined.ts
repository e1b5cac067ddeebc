// A driver for when amqplib itself is the ceiling: publishes are copied from
// pre-encoded frame templates into large write batches, and deliveries are parsed
// in place (the timestamp is read straight from the socket's buffer). Only what
// the scenarios need: one channel per connection, no heartbeats, no returns.
import net from 'node:net';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, FrameSplitter, M, PROTOCOL_HEADER, Reader, bodyFrame, headerFrame, methodFrame, parseAmqpUrl } from '../amqp/wire.js';
import type { Closeable, ConsumerSpec, Driver, Publisher, PublisherSpec } from './types.js';
import { makeBody } from './types.js';
import { ConfirmCount } from './confirm-count.js';

const BATCH_BYTES = 64 * 1024;
const CH = 1;

/** One AMQP connection with channel 1 open; replies to synchronous methods are matched in order. */
class RawConnection {
  readonly socket: net.Socket;
  private pending: Array<{ id: number; resolve: (r: Reader) => void; reject: (e: Error) => void }> = [];
  private failure: Error | null = null;
  /** Frames the connection's user wants (deliveries, acks); everything else is handled here. */
  onFrame: (type: number, buf: Buffer, start: number, end: number) => void = () => undefined;
  /** Called after each chunk read, to flush acks batched during it. */
  onChunkEnd: () => void = () => undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
  }

  static connect(url: string): Promise<RawConnection> {
    const u = parseAmqpUrl(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: u.host, port: u.port });
      socket.setNoDelay(true);
      const conn = new RawConnection(socket);
      const fail = (e: Error) => { conn.fail(e); reject(e); };
      socket.once('error', fail);
      const splitter = new FrameSplitter((type, ch, buf, start, end) => conn.frame(type, ch, buf, start, end));
      socket.on('data', (chunk: Buffer) => {
        try {
          splitter.push(chunk);
        } catch (e) {
          conn.fail(e as Error);
          socket.destroy();
          return;
        }
        conn.onChunkEnd();
      });
      socket.on('close', () => conn.fail(new Error('connection closed')));
      socket.write(PROTOCOL_HEADER);
      // The handshake: start -> start-ok, tune -> tune-ok + open -> open-ok, then channel 1.
      conn.expect(M.connectionStart)
        .then(() => {
          const response = Buffer.from(`\0${u.user}\0${u.pass}`);
          socket.write(methodFrame(0, M.connectionStartOk, (w) =>
            w.table({ product: 'warren-bench pipelined driver', capabilities: { 'basic.nack': true, publisher_confirms: true } })
              .shortstr('PLAIN').longstr(response).shortstr('en_US')));
          return conn.expect(M.connectionTune);
        })
        .then((r) => {
          const channelMax = r.u16();
          const frameMax = r.u32();
          socket.write(methodFrame(0, M.connectionTuneOk, (w) => w.u16(channelMax || 2047).u32(Math.min(frameMax || 131072, 131072)).u16(0)));
          return conn.call(0, methodFrame(0, M.connectionOpen, (w) => w.shortstr(u.vhost).shortstr('').u8(0)), M.connectionOpenOk);
        })
        .then(() => conn.call(CH, methodFrame(CH, M.channelOpen, (w) => w.shortstr('')), M.channelOpenOk))
        .then(() => {
          socket.off('error', fail);
          socket.on('error', (e) => conn.fail(e));
          resolve(conn);
        }, fail);
    });
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    for (const p of this.pending.splice(0)) p.reject(this.failure);
  }

  private frame(type: number, ch: number, buf: Buffer, start: number, end: number): void {
    if (type === FRAME_METHOD) {
      const id = buf.readUInt32BE(start);
      if (id === M.connectionClose || id === M.channelClose) {
        const r = new Reader(buf, start + 4);
        const code = r.u16();
        const text = r.shortstr();
        this.socket.write(methodFrame(ch, id === M.connectionClose ? M.connectionCloseOk : M.channelCloseOk));
        this.fail(new Error(`broker closed the ${id === M.connectionClose ? 'connection' : 'channel'}: ${code} ${text}`));
        return;
      }
      if (this.pending.length && this.pending[0]!.id === id) {
        this.pending.shift()!.resolve(new Reader(buf, start + 4));
        return;
      }
    }
    this.onFrame(type, buf, start, end);
  }

  expect(id: number): Promise<Reader> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.pending.push({ id, resolve, reject }));
  }

  call(_channel: number, frame: Buffer, replyId: number): Promise<Reader> {
    const p = this.expect(replyId);
    this.socket.write(frame);
    return p;
  }

  async close(): Promise<void> {
    if (this.failure || this.socket.destroyed) return;
    try {
      await Promise.race([
        this.call(0, methodFrame(0, M.connectionClose, (w) => w.u16(200).shortstr('bye').u16(0).u16(0)), M.connectionCloseOk),
        new Promise((resolve) => setTimeout(resolve, 2000)),
      ]);
    } catch { /* already gone */ }
    this.socket.destroy();
  }
}

class PipelinedPublisher implements Publisher {
  /** Per routing key: method + header + body frames, ready to copy. */
  private readonly templates: Buffer[];
  private readonly stampOffset: number[];
  private batch = Buffer.allocUnsafe(BATCH_BYTES);
  private used = 0;
  private flushScheduled = false;
  private readonly confirms: ConfirmCount;
  private readonly confirming: boolean;

  constructor(private readonly conn: RawConnection, spec: PublisherSpec, onConfirm?: (stampUs: number) => void) {
    this.confirms = new ConfirmCount(onConfirm ?? null, spec.inFlight);
    this.confirming = spec.confirm;
    const body = makeBody(spec.size);
    const header = headerFrame(CH, body.length, spec.persistent);
    const bodyF = bodyFrame(CH, body);
    this.templates = spec.routingKeys.map((key) =>
      Buffer.concat([methodFrame(CH, M.basicPublish, (w) => w.u16(0).shortstr(spec.exchange).shortstr(key).u8(0)), header, bodyF]));
    this.stampOffset = this.templates.map((t) => t.length - bodyF.length + 7);
    if (bodyF.length - 8 > 131072 - 8) throw new Error('pipelined driver: bodies above one frame are not supported');
    conn.onFrame = (type, buf, start) => {
      if (type !== FRAME_METHOD) return;
      const id = buf.readUInt32BE(start);
      if (id !== M.basicAck && id !== M.basicNack) return;
      const r = new Reader(buf, start + 4);
      const tag = r.u64();
      const multiple = (r.u8() & 1) === 1;
      this.confirms.set(multiple ? Math.max(this.confirms.value, tag) : this.confirms.value + 1);
    };
  }

  publish(keyIndex: number, stampUs: number): boolean {
    const t = this.templates[keyIndex]!;
    if (this.used + t.length > this.batch.length) this.flush();
    t.copy(this.batch, this.used);
    this.batch.writeDoubleLE(stampUs, this.used + this.stampOffset[keyIndex]!);
    if (this.confirming) this.confirms.sent(stampUs);
    this.used += t.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return !this.conn.socket.writableNeedDrain;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.used === 0) return;
    // The socket keeps the written slice until sent, so start a new batch buffer.
    this.conn.socket.write(this.batch.subarray(0, this.used));
    this.batch = Buffer.allocUnsafe(BATCH_BYTES);
    this.used = 0;
  }

  writable(): Promise<void> {
    this.flush();
    return new Promise((resolve) => {
      if (this.conn.socket.writableNeedDrain) this.conn.socket.once('drain', resolve);
      else setImmediate(resolve);
    });
  }

  async sync(): Promise<void> {
    this.flush();
    await this.conn.call(CH, methodFrame(CH, M.basicQos, (w) => w.u32(0).u16(0).u8(0)), M.basicQosOk);
  }

  confirmed(): number { return this.confirms.value; }

  waitConfirmed(n: number): Promise<void> {
    this.flush();
    return this.confirms.waitFor(n);
  }

  async close(): Promise<void> {
    this.flush();
    await this.conn.close();
  }
}

export const pipelinedDriver: Driver = {
  name: 'pipelined',

  async openPublisher(url: string, spec: PublisherSpec, onConfirm?: (stampUs: number) => void): Promise<Publisher> {
    const conn = await RawConnection.connect(url);
    if (spec.confirm) await conn.call(CH, methodFrame(CH, M.confirmSelect, (w) => w.u8(0)), M.confirmSelectOk);
    return new PipelinedPublisher(conn, spec, onConfirm);
  },

  async openConsumer(url: string, spec: ConsumerSpec, onDelivery: (stampUs: number) => void): Promise<Closeable> {
    const conn = await RawConnection.connect(url);
    if (!spec.noAck) await conn.call(CH, methodFrame(CH, M.basicQos, (w) => w.u32(0).u16(spec.prefetch).u8(0)), M.basicQosOk);
    let lastTag = 0;
    let ackedTag = 0;
    let firstBody = false;
    // Acks go out as one multiple-ack per chunk read, or sooner at half the prefetch window.
    const ackEvery = Math.max(1, Math.floor(spec.prefetch / 2));
    const sendAck = () => {
      if (lastTag === ackedTag) return;
      ackedTag = lastTag;
      const f = Buffer.allocUnsafe(21);
      f[0] = FRAME_METHOD;
      f.writeUInt16BE(CH, 1);
      f.writeUInt32BE(13, 3);
      f.writeUInt32BE(M.basicAck, 7);
      f.writeUInt32BE(Math.floor(lastTag / 0x100000000), 11);
      f.writeUInt32BE(lastTag >>> 0, 15);
      f[19] = 1;
      f[20] = 0xce;
      conn.socket.write(f);
    };
    conn.onFrame = (type, buf, start, end) => {
      if (type === FRAME_METHOD) {
        if (buf.readUInt32BE(start) !== M.basicDeliver) return;
        if (!spec.noAck) {
          const tagPos = start + 4 + 1 + buf[start + 4]!;
          lastTag = buf.readUInt32BE(tagPos) * 0x100000000 + buf.readUInt32BE(tagPos + 4);
        }
        firstBody = true;
      } else if (type === FRAME_HEADER) {
        // A zero-length body has no body frame: count it here.
        if (buf.readUInt32BE(start + 4) === 0 && buf.readUInt32BE(start + 8) === 0) { firstBody = false; onDelivery(NaN); }
      } else if (type === FRAME_BODY && firstBody) {
        firstBody = false;
        onDelivery(end - start >= 8 ? buf.readDoubleLE(start) : NaN);
        if (!spec.noAck && lastTag - ackedTag >= ackEvery) sendAck();
      }
    };
    if (!spec.noAck) conn.onChunkEnd = sendAck;
    for (const queue of spec.queues) {
      await conn.call(CH, methodFrame(CH, M.basicConsume, (w) => w.u16(0).shortstr(queue).shortstr('').u8(spec.noAck ? 2 : 0).table(spec.arguments)), M.basicConsumeOk);
    }
    return conn;
  },

  async openIdle(url: string): Promise<Closeable> {
    return RawConnection.connect(url);
  },
};
