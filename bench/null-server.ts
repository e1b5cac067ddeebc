// A server that speaks just enough AMQP 0-9-1 to be benchmarked: it completes
// the handshake, answers every synchronous method, discards publishes (acking
// them in confirm mode) and streams canned deliveries to consumers. Measuring a
// client against it shows the client's own ceiling on this machine (`--ceiling`).
// With `delayUs` it burns CPU per publish: the "slow broker" of the gate's tests.
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { FrameSplitter, FRAME_METHOD, FRAME_HEADER, M, PROTOCOL_HEADER, Reader, methodFrame, headerFrame, bodyFrame } from './amqp/wire.js';
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
}

/** Deliveries one pump writes before yielding, so publishes on other sockets get their turn. */
const PUMP_BATCH = 256;
let cannedBodySize = 16;
/**
 * Deliveries owed: one per publish received, so consumers see the load shape
 * the publishers make (one delivery per publish, round-robin) and a consumer
 * flood cannot starve publishers sharing its thread.
 */
let credit = 0;
const pumps = new Set<() => void>();

export function startNullServer(opts: NullServerOptions = {}): Promise<NullServer> {
  const delayUs = opts.delayUs ?? 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    serveConnection(socket, delayUs);
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

function serveConnection(socket: net.Socket, delayUs: number): void {
  const channels = new Map<number, ChannelState>();
  let gotHeader = false;
  let pumping = false;
  let ctagSeq = 0;

  const send = (b: Buffer) => socket.write(b);

  const splitter = new FrameSplitter((type, ch, buf, start, end) => {
    if (type === FRAME_HEADER) {
      // Echo the size publishers use, so canned deliveries look like theirs.
      cannedBodySize = Math.max(16, Math.min(Number(buf.readBigUInt64BE(start + 4)), 1 << 20));
      return;
    }
    if (type !== FRAME_METHOD) return; // bodies and heartbeats are discarded
    const id = buf.readUInt32BE(start);
    const r = new Reader(buf, start + 4);
    const chan = channels.get(ch);
    switch (id) {
      case M.basicPublish:
        if (delayUs > 0) spinUs(delayUs);
        if (chan?.confirm) chan.published++;
        credit++;
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
        channels.set(ch, { confirm: false, published: 0, ackedUpTo: 0, prefetch: 0, consumers: [] });
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
          limit = Math.min(limit, credit);
          if (limit <= 0) continue;
          credit -= limit;
          socket.write(deliveries(ch, consumer, limit));
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

  pumps.add(pump);
  socket.on('close', () => pumps.delete(pump));
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
    if (credit > 0) for (const p of pumps) p();
  });
}

/** `count` deliveries for one consumer, each stamped with the current time. */
function deliveries(ch: number, consumer: Consumer, count: number): Buffer {
  const body = Buffer.alloc(cannedBodySize);
  const head = headerFrame(ch, body.length, false);
  const bodyF = bodyFrame(ch, body);
  const method = methodFrame(ch, M.basicDeliver, (w) => w.shortstr(consumer.tag).u64(0).u8(0).shortstr('').shortstr('null'));
  const tagOffset = 7 + 4 + 1 + Buffer.byteLength(consumer.tag);
  const one = method.length + head.length + bodyF.length;
  const out = Buffer.allocUnsafe(one * count);
  const stamp = nowUs();
  for (let i = 0, pos = 0; i < count; i++, pos += one) {
    method.copy(out, pos);
    const tag = consumer.nextTag++;
    out.writeUInt32BE(Math.floor(tag / 0x100000000), pos + tagOffset);
    out.writeUInt32BE(tag >>> 0, pos + tagOffset + 4);
    head.copy(out, pos + method.length);
    bodyF.copy(out, pos + method.length + head.length);
    out.writeDoubleLE(stamp, pos + method.length + head.length + 7);
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

