// A server that speaks just enough AMQP 0-9-1 to be benchmarked: it completes
// the handshake, answers every synchronous method, discards publishes (acking
// them in confirm mode) and streams canned deliveries to consumers. Measuring a
// client against it shows the client's own ceiling on this machine (`--ceiling`).
// Each delivery carries the send time of the publish it stands for, so its
// latency is a round trip through a server that does nothing, as through a broker.
// With `delayUs` it burns CPU per publish: the "slow broker" of the gate's tests.
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { FrameSplitter, FRAME_METHOD, FRAME_HEADER, FRAME_BODY, M, PROTOCOL_HEADER, Reader, methodFrame, headerFrame, bodyFrame } from './amqp/wire.js';
import { nowUs, spinUs } from './clock.js';

export interface NullServerOptions {
  port?: number;
  host?: string;
  /** CPU microseconds burnt per published message. */
  delayUs?: number;
}

export interface NullServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Consumer {
  tag: string;
  noAck: boolean;
  nextTag: number;
  acked: number;
}

interface ChannelState {
  confirm: boolean;
  published: number;
  ackedUpTo: number;
  prefetch: number;
  consumers: Consumer[];
  /** a content header came: the next body frame starts a message, with its stamp */
  awaitingBody: boolean;
}

/** Deliveries one pump writes before yielding, so publishes on other sockets get their turn. */
const PUMP_BATCH = 256;
/**
 * What a server owes its consumers, shared by its connections: one delivery per
 * publish received, so consumers see the load shape the publishers make (one
 * delivery per publish, round-robin) and a consumer flood cannot starve
 * publishers sharing its thread; and each publish's send time, so that its
 * delivery carries it.
 */
class Owed {
  deliveries = 0;
  /** Echoes the size publishers use, so canned deliveries look like theirs. */
  bodySize = 16;
  readonly pumps = new Set<() => void>();
  /**
   * The send times of the publishes owed for, oldest first (a body's first 8
   * bytes, where the bench's drivers stamp it; NaN if shorter). Past STAMPS_HELD,
   * later publishes are not stamped until nothing is owed, so a stamp always
   * goes with its own publish; an unstamped delivery carries the time it is written.
   */
  private readonly stamps: number[] = [];
  private head = 0;
  private overflowed = false;

  /** A publish received, sent at `stamp`. */
  owe(stamp: number): void {
    this.deliveries++;
    if (this.overflowed || this.stamps.length - this.head >= STAMPS_HELD) {
      this.overflowed = true;
      return;
    }
    this.stamps.push(stamp);
  }

  /** `count` owed deliveries are being written. */
  pay(count: number): void {
    this.deliveries -= count;
    if (this.deliveries === 0) this.overflowed = false;
  }

  /** The stamp for the next owed delivery: its publish's send time, else `now`. */
  takeStamp(now: number): number {
    if (this.head === this.stamps.length) return now;
    const stamp = this.stamps[this.head++]!;
    if (this.head === this.stamps.length) {
      this.stamps.length = 0;
      this.head = 0;
    }
    return Number.isNaN(stamp) ? now : stamp;
  }
}
const STAMPS_HELD = 1 << 20;

export function startNullServer(opts: NullServerOptions = {}): Promise<NullServer> {
  const delayUs = opts.delayUs ?? 0;
  const owed = new Owed();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    serveConnection(socket, delayUs, owed);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        url: `amqp://guest:guest@${opts.host ?? '127.0.0.1'}:${port}`,
        port,
        close: () => new Promise<void>((done) => {
          for (const s of sockets) s.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}

function serveConnection(socket: net.Socket, delayUs: number, owed: Owed): void {
  const channels = new Map<number, ChannelState>();
  let gotHeader = false;
  let pumping = false;
  let ctagSeq = 0;

  const send = (b: Buffer) => socket.write(b);

  const splitter = new FrameSplitter((type, ch, buf, start, end) => {
    const chan = channels.get(ch);
    if (type === FRAME_HEADER) {
      const size = Number(buf.readBigUInt64BE(start + 4));
      owed.bodySize = Math.max(16, Math.min(size, 1 << 20));
      if (size === 0) owed.owe(NaN);
      else if (chan) chan.awaitingBody = true;
      return;
    }
    if (type === FRAME_BODY) {
      if (chan?.awaitingBody) {
        chan.awaitingBody = false;
        owed.owe(end - start >= 8 ? buf.readDoubleLE(start) : NaN);
      }
      return; // the rest of a body is discarded
    }
    if (type !== FRAME_METHOD) return; // heartbeats
    const id = buf.readUInt32BE(start);
    const r = new Reader(buf, start + 4);
    switch (id) {
      case M.basicPublish:
        if (delayUs > 0) spinUs(delayUs);
        if (chan?.confirm) chan.published++;
        return;
      case M.basicAck: {
        const tag = r.u64();
        const multiple = (r.u8() & 1) === 1;
        for (const c of chan?.consumers ?? []) {
          if (multiple ? tag >= c.acked : tag === c.acked + 1) c.acked = Math.min(tag, c.nextTag - 1);
        }
        pump();
        return;
      }
      case M.connectionStartOk:
        send(methodFrame(0, M.connectionTune, (w) => w.u16(2047).u32(131072).u16(0)));
        return;
      case M.connectionTuneOk:
        return;
      case M.connectionOpen:
        send(methodFrame(0, M.connectionOpenOk, (w) => w.shortstr('')));
        return;
      case M.connectionClose:
        send(methodFrame(0, M.connectionCloseOk));
        socket.end();
        return;
      case M.connectionCloseOk:
        socket.end();
        return;
      case M.channelOpen:
        channels.set(ch, { confirm: false, published: 0, ackedUpTo: 0, prefetch: 0, consumers: [], awaitingBody: false });
        send(methodFrame(ch, M.channelOpenOk, (w) => w.u32(0)));
        return;
      case M.channelClose:
        channels.delete(ch);
        send(methodFrame(ch, M.channelCloseOk));
        return;
      case M.confirmSelect:
        if (chan) chan.confirm = true;
        if ((r.u8() & 1) === 0) send(methodFrame(ch, M.confirmSelectOk));
        return;
      case M.basicQos: {
        r.u32();
        if (chan) chan.prefetch = r.u16();
        send(methodFrame(ch, M.basicQosOk));
        return;
      }
      case M.basicConsume: {
        r.u16();
        r.shortstr();
        let tag = r.shortstr();
        const bits = r.u8();
        if (!tag) tag = `null-ctag-${++ctagSeq}`;
        if ((bits & 8) === 0) send(methodFrame(ch, M.basicConsumeOk, (w) => w.shortstr(tag)));
        chan?.consumers.push({ tag, noAck: (bits & 2) !== 0, nextTag: 1, acked: 0 });
        pump();
        return;
      }
      case M.basicCancel: {
        const tag = r.shortstr();
        if (chan) chan.consumers = chan.consumers.filter((c) => c.tag !== tag);
        send(methodFrame(ch, M.basicCancelOk, (w) => w.shortstr(tag)));
        return;
      }
      case M.queueDeclare: {
        r.u16();
        const name = r.shortstr() || `null-q-${++ctagSeq}`;
        send(methodFrame(ch, M.queueDeclareOk, (w) => w.shortstr(name).u32(0).u32(0)));
        return;
      }
      case M.queueBind: send(methodFrame(ch, M.queueBindOk)); return;
      case M.queuePurge: send(methodFrame(ch, M.queuePurgeOk, (w) => w.u32(0))); return;
      case M.queueDelete: send(methodFrame(ch, M.queueDeleteOk, (w) => w.u32(0))); return;
      case M.exchangeDeclare: send(methodFrame(ch, M.exchangeDeclareOk)); return;
      case M.exchangeDelete: send(methodFrame(ch, M.exchangeDeleteOk)); return;
      default:
        return; // anything else needs no answer for the bench
    }
  });

  // Confirms are batched: one multiple-ack per channel per chunk read.
  const flushConfirms = () => {
    for (const [ch, c] of channels) {
      if (c.confirm && c.published > c.ackedUpTo) {
        c.ackedUpTo = c.published;
        send(methodFrame(ch, M.basicAck, (w) => w.u64(c.published).u8(1)));
      }
    }
  };

  // Streams canned deliveries to every consumer while the socket is writable
  // and prefetch allows; resumes on 'drain' and on acks.
  let waitingDrain = false;
  const pump = () => {
    if (pumping || waitingDrain) return;
    pumping = true;
    setImmediate(() => {
      pumping = false;
      if (socket.destroyed) return;
      let wrote = false;
      for (const [ch, c] of channels) {
        for (const consumer of c.consumers) {
          let limit = consumer.noAck || c.prefetch === 0 ? PUMP_BATCH : Math.min(PUMP_BATCH, c.prefetch - (consumer.nextTag - 1 - consumer.acked));
          limit = Math.min(limit, owed.deliveries);
          if (limit <= 0) continue;
          owed.pay(limit);
          socket.write(deliveries(ch, consumer, limit, owed));
          wrote = true;
        }
      }
      if (!wrote) return;
      if (socket.writableNeedDrain) {
        waitingDrain = true;
        socket.once('drain', () => { waitingDrain = false; pump(); });
      } else pump();
    });
  };

  owed.pumps.add(pump);
  socket.on('close', () => owed.pumps.delete(pump));
  socket.on('data', (chunk: Buffer) => {
    if (!gotHeader) {
      if (chunk.length < 8) { socket.destroy(); return; }
      gotHeader = true;
      if (!chunk.subarray(0, 8).equals(PROTOCOL_HEADER)) {
        socket.end(PROTOCOL_HEADER);
        return;
      }
      send(methodFrame(0, M.connectionStart, (w) =>
        w.u8(0).u8(9).table({ product: 'warren-bench null server', capabilities: { publisher_confirms: true, 'basic.nack': true, consumer_cancel_notify: true } })
          .longstr('PLAIN AMQPLAIN').longstr('en_US')));
      chunk = chunk.subarray(8);
      if (chunk.length === 0) return;
    }
    try {
      splitter.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    flushConfirms();
    if (owed.deliveries > 0) for (const p of owed.pumps) p();
  });
}

/** `count` deliveries for one consumer, each stamped with its publish's send time. */
function deliveries(ch: number, consumer: Consumer, count: number, owed: Owed): Buffer {
  const body = Buffer.alloc(owed.bodySize);
  const head = headerFrame(ch, body.length, false);
  const bodyF = bodyFrame(ch, body);
  const method = methodFrame(ch, M.basicDeliver, (w) => w.shortstr(consumer.tag).u64(0).u8(0).shortstr('').shortstr('null'));
  const tagOffset = 7 + 4 + 1 + Buffer.byteLength(consumer.tag);
  const one = method.length + head.length + bodyF.length;
  const out = Buffer.allocUnsafe(one * count);
  const now = nowUs();
  for (let i = 0, pos = 0; i < count; i++, pos += one) {
    method.copy(out, pos);
    const tag = consumer.nextTag++;
    out.writeUInt32BE(Math.floor(tag / 0x100000000), pos + tagOffset);
    out.writeUInt32BE(tag >>> 0, pos + tagOffset + 4);
    head.copy(out, pos + method.length);
    bodyF.copy(out, pos + method.length + head.length);
    out.writeDoubleLE(owed.takeStamp(now), pos + method.length + head.length + 7);
  }
  return out;
}

// `node dist/bench/null-server.js [--port N] [--delay-us N]` prints one ready line.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const srv = await startNullServer({ port: arg('--port') ?? 0, delayUs: arg('--delay-us') ?? 0 });
  process.stdout.write(`null server listening on ${srv.url}\n`);
  process.on('SIGTERM', () => { void srv.close().then(() => process.exit(0)); });
}

