/**
 * The memory alarm (RabbitMQ's high watermark): a queue nobody reads is filled
 * until the broker holds more than the watermark; publishers then get
 * connection.blocked and are paused, memory stays bounded, and once a consumer
 * drains the queue they get connection.unblocked and go on.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, eventually, sleep, within } from '../helpers.js';
import { startBroker } from '../../dist/src/index.js';
import { watermarkBytes } from '../../dist/src/acceptor/resource-alarm.js';
import { PROTOCOL_HEADER, RawClient, fieldTable, frame, longstr, method, open, shortstr, tuneOk, u16, u32, u8 } from '../wire/raw-client.js';

const MiB = 1024 * 1024;
/** The alarm trips this far above what the process holds when the broker starts. */
const HEADROOM = 150 * MiB;
/**
 * Allowed over the watermark, which bounds what the broker holds, not the heap's
 * slack: garbage not yet collected (this process runs the client too), socket
 * buffers, the chunks read before the pause. Seen: 35-80 MiB.
 */
const MARGIN = 120 * MiB;
const BODY = Buffer.alloc(1000, 'x');

describe.each(MODES)('memory alarm, $name', ({ workers }) => {
  it('blocks publishers at the watermark, keeps memory bounded, and unblocks them once the queue is drained', { timeout: 60_000 }, async () => {
    const watermark = process.memoryUsage.rss() + HEADROOM;
    // Small messages only: small rings, so the headroom goes to the queue.
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers, memoryHighWatermark: watermark, maxMessageSize: MiB });
    try {
      const publisher = await connect(broker.url);
      const blocked = new Promise<string>((resolve) => publisher.once('blocked', resolve));
      let unblocked = false;
      publisher.on('unblocked', () => (unblocked = true));
      const ch = await channel(publisher);
      const queue = 'memory-fill';
      await ch.assertQueue(queue);

      // Publish numbered messages until told to stop; a paused socket makes sendToQueue wait for 'drain'.
      let sent = 0;
      let stop = false;
      const publishing = (async () => {
        while (!stop) {
          if (!ch.sendToQueue(queue, Buffer.concat([Buffer.from(`${sent++}:`), BODY]))) await new Promise((r) => ch.once('drain', r));
        }
      })();

      const reason = await within(blocked, 40_000, 'connection.blocked');
      expect(reason).toBe('low on memory');
      const atBlock = sent;
      await sleep(1000);
      const rss = process.memoryUsage.rss();
      const observer = await connect(broker.url);
      const observerCh = await channel(observer);
      const held = (await observerCh.checkQueue(queue)).messageCount;
      await sleep(500);
      expect((await observerCh.checkQueue(queue)).messageCount, 'publishing went on while blocked').toBe(held);
      console.log(
        `memory alarm (${workers} workers): blocked after ${atBlock} messages of ${BODY.length} B; ${held} queued; ` +
          `RSS ${(rss / MiB).toFixed(0)} MiB, watermark ${(watermark / MiB).toFixed(0)} MiB`,
      );
      expect(held).toBeGreaterThan(50_000); // it did fill up to the watermark first
      expect(rss).toBeLessThan(watermark + MARGIN);
      expect(unblocked).toBe(false);

      // A consumer drains the queue: every message arrives once, in order.
      const drainer = await channel(observer);
      let next = 0;
      let outOfOrder = 0;
      const drained = new Promise<void>((resolve) => {
        void drainer.consume(
          queue,
          (msg) => {
            if (msg === null) return;
            if (Number(msg.content.toString('latin1', 0, msg.content.indexOf(':'))) !== next) outOfOrder++;
            if (++next === held) resolve();
          },
          { noAck: true },
        );
      });
      await within(drained, 30_000, 'the drained queue');
      expect(outOfOrder).toBe(0);
      await eventually(() => expect(unblocked, 'connection.unblocked after the drain').toBe(true), 5000);

      // Publishing goes on: more numbered messages reach the consumer.
      await eventually(() => expect(next).toBeGreaterThan(held + 1000), 10_000);
      stop = true;
      await publishing;
      await eventually(() => expect(next).toBe(sent), 10_000);
      expect(outOfOrder).toBe(0);
      await publisher.close();
      await observer.close();
    } finally {
      await broker.close();
    }
  });

  // Raw frames, written as fast as the socket takes them, keep the shard's input ring full:
  // the alarm must leave room for what is still in flight when the publishers are paused.
  // A fanout makes each publish many entries for few ring bytes.
  it.each([
    { flood: 'into one queue', exchange: '', queues: 1 },
    { flood: 'through a fanout to 100 queues', exchange: 'amq.fanout', queues: 100 },
  ])('blocks on the shard heap alarm instead of running out of heap, with empty messages $flood from a publisher faster than the broker', { timeout: 60_000 }, async ({ exchange, queues }) => {
    await withSmallHeap(workers, async (port) => {
      const observer = await channel(await connect(`amqp://guest:guest@127.0.0.1:${port}`));
      const names = Array.from({ length: queues }, (_, i) => `tiny-${i}`);
      for (const name of names) {
        await observer.assertQueue(name);
        if (exchange !== '') await observer.bindQueue(name, exchange, '');
      }
      const countAll = async () => {
        const counts = await Promise.all(names.map(async (name) => (await observer.checkQueue(name)).messageCount));
        expect(new Set(counts).size, `each queue got every message: ${counts.join(' ')}`).toBe(1);
        return counts[0] * queues;
      };

      const publisher = await openPublisher(port);
      const stopFlood = await floodUntilBlocked(publisher, emptyPublishes(1, exchange, exchange === '' ? names[0] : '', 8192));
      await sleep(500);
      const queued = await countAll();
      console.log(`heap alarm (${workers} workers, 128 MiB heap, ${queues} queues): blocked at ${queued} queued entries`);
      expect(queued).toBeGreaterThan(100_000);
      await sleep(500);
      expect(await countAll(), 'publishing went on while blocked').toBe(queued);
      const unblocked = untilMethod(publisher, 10, 61);
      for (const name of names) await observer.purgeQueue(name);
      await within(unblocked, 5000, 'connection.unblocked');
      await stopFlood();
      publisher.socket.destroy();
    });
  });

  // Unacked messages stay in memory as ready ones do: a consumer that never acks
  // (no prefetch) takes everything, and the queue itself stays short.
  it('blocks on the heap alarm instead of running out of heap, with empty messages to a consumer that never acks', { timeout: 60_000 }, async () => {
    await withSmallHeap(workers, async (port) => {
      const url = `amqp://guest:guest@127.0.0.1:${port}`;
      const observer = await channel(await connect(url));
      const queue = 'never-acked';
      await observer.assertQueue(queue);
      const consumerConnection = await connect(url);
      let delivered = 0;
      await (await channel(consumerConnection)).consume(queue, () => delivered++, { noAck: false });

      const publisher = await openPublisher(port);
      const stopFlood = await floodUntilBlocked(publisher, emptyPublishes(1, '', queue, 8192));
      // What was on its way to the consumer arrives, then nothing more.
      const held = async () => delivered + (await observer.checkQueue(queue)).messageCount;
      let atBlock = -1;
      await eventually(async () => {
        const before = atBlock;
        atBlock = await held();
        await sleep(300);
        expect(atBlock).toBe(before);
      }, 10_000);
      console.log(`heap alarm (${workers} workers, 128 MiB heap): blocked with ${delivered} unacked, ${atBlock} in all`);
      expect(delivered).toBeGreaterThan(50_000);
      await sleep(500);
      expect(await held(), 'publishing went on while blocked').toBe(atBlock);
      // Closing the consumer puts every delivery back in the queue (as ready
      // ones they cost less, so the alarm may clear and the held publishes come in).
      await stopFlood();
      const unblocked = untilMethod(publisher, 10, 61);
      const unacked = delivered;
      await consumerConnection.close();
      await eventually(async () => expect((await observer.checkQueue(queue)).messageCount).toBeGreaterThanOrEqual(unacked), 10_000);
      await observer.purgeQueue(queue);
      await within(unblocked, 5000, 'connection.unblocked');
      publisher.socket.destroy();
    });
  });

  it('blocks on the heap alarm instead of running out of heap, with empty messages in a transaction never committed', { timeout: 60_000 }, async () => {
    await withSmallHeap(workers, async (port) => {
      const url = `amqp://guest:guest@127.0.0.1:${port}`;
      const observer = await channel(await connect(url));
      const queue = 'uncommitted';
      await observer.assertQueue(queue);

      // With heartbeats: they tell a blocked connection (not read) that its client has gone.
      const publisher = await openPublisher(port, 1);
      publisher.send(method(1, 90, 10));
      expect((await publisher.readFrame())!.methodId).toBe(11); // tx.select-ok
      const stopFlood = await floodUntilBlocked(publisher, emptyPublishes(1, '', queue, 8192));
      expect((await observer.checkQueue(queue)).messageCount, 'nothing committed').toBe(0);
      // The alarm holds every publisher while the transaction lasts; its connection's end drops it.
      await sleep(500);
      expect((await observer.checkQueue(queue)).messageCount).toBe(0);
      await stopFlood();
      publisher.socket.destroy();
      const other = await channel(await connect(url));
      other.sendToQueue(queue, Buffer.from('after'));
      await eventually(async () => expect((await observer.checkQueue(queue)).messageCount).toBe(1), 10_000);
    });
  });
});

/**
 * The CLI in a child with a 128 MiB heap limit (shard workers get the same),
 * the watermark out of reach: `body` gets its port; the broker must be alive
 * after it.
 */
async function withSmallHeap(workers: number, body: (port: number) => Promise<void>): Promise<void> {
  const main = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--max-old-space-size=128', main, '--port', '0', '--host', '127.0.0.1', '--workers', String(workers), '--memory-high-watermark', '100GB', '--in-memory']);
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const line = await within(new Promise<string>((resolve) => child.stdout.once('data', (chunk) => resolve(String(chunk)))), 10_000, 'ready line');
    await body(Number(/port (\d+)/.exec(line)![1]));
    expect(child.exitCode).toBeNull(); // alive all along
  } catch (e) {
    // The child's own words (a V8 out-of-memory report, say) are the diagnosis.
    await Promise.race([exited, sleep(2000)]);
    throw new Error(`${(e as Error).message}\nbroker exit code ${child.exitCode}, signal ${child.signalCode}; stderr:\n${stderr}`, { cause: e });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** A block-aware connection with channel 1 open. */
async function openPublisher(port: number, heartbeat = 0): Promise<RawClient> {
  const publisher = await openBlockAware(port, heartbeat);
  publisher.send(method(1, 20, 10, shortstr('')));
  expect((await publisher.readFrame())!.methodId).toBe(11); // channel.open-ok
  return publisher;
}

describe.each(MODES)('memory alarm at the first publish, $name', ({ workers }) => {
  it('a broker over its watermark blocks a connection at its first publish and routes none of it, in one write or in pieces (as RabbitMQ 3.10.8 in alarm)', async () => {
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers, memoryHighWatermark: 1_000_000 });
    const observer = await connect(broker.url);
    try {
      const ch = await channel(observer);
      await ch.assertQueue('first');
      const publish = method(1, 60, 40, u16(0), shortstr(''), shortstr('first'), u8(0));
      const header = frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(5), u16(0)]));
      const body = frame(3, 1, Buffer.from('first'));
      for (const pieces of [[Buffer.concat([publish, header, body])], [publish, header, body]]) {
        const client = await openBlockAware(broker.port);
        client.send(method(1, 20, 10, shortstr('')));
        for (let f = await client.readFrame(); f !== null && !(f.classId === 20 && f.methodId === 11); f = await client.readFrame());
        for (const piece of pieces) {
          client.send(piece);
          await sleep(100);
        }
        await within(untilMethod(client, 10, 60), 3000, 'connection.blocked');
        await sleep(200);
        expect((await ch.checkQueue('first')).messageCount).toBe(0);
        client.destroy();
      }
    } finally {
      await observer.close();
      await broker.close();
    }
  });
});

/** A raw connection whose client properties ask for connection.blocked, opened up to open-ok. */
async function openBlockAware(port: number, heartbeat = 0): Promise<RawClient> {
  const properties = fieldTable(shortstr('capabilities'), Buffer.from('F'), fieldTable(shortstr('connection.blocked'), Buffer.from('t'), u8(1)));
  const client = await RawClient.open(port);
  client.send(PROTOCOL_HEADER);
  await client.expectMethod(10, 10);
  client.send(method(0, 10, 11, properties, shortstr('PLAIN'), longstr('\0guest\0guest'), shortstr('en_US')));
  await client.expectMethod(10, 30);
  client.send(tuneOk(131072, heartbeat), open('/'));
  await client.expectMethod(10, 41);
  return client;
}

/** `count` basic.publish + content header frames (empty bodies). */
function emptyPublishes(ch: number, exchange: string, routingKey: string, count: number): Buffer {
  const publish = method(ch, 60, 40, u16(0), shortstr(exchange), shortstr(routingKey), u8(0));
  const header = frame(2, ch, Buffer.concat([u16(60), u16(0), u32(0), u32(0), u16(0)]));
  return Buffer.concat(Array<Buffer>(count).fill(Buffer.concat([publish, header])));
}

/** Writes `batch` whenever the socket has drained, until `stopped()`. */
async function flood(client: RawClient, batch: Buffer, stopped: () => boolean): Promise<void> {
  while (!stopped() && !client.ended) {
    if (client.socket.writableNeedDrain) await Promise.race([new Promise((r) => client.socket.once('drain', r)), sleep(200)]);
    else client.socket.write(batch);
  }
}

/** Writes `batch` until connection.blocked comes; returns what ends the flood. */
async function floodUntilBlocked(publisher: RawClient, batch: Buffer): Promise<() => Promise<void>> {
  const blocked = untilMethod(publisher, 10, 60);
  let stopped = false;
  const flooding = flood(publisher, batch, () => stopped);
  await within(blocked, 45_000, 'connection.blocked');
  return async () => {
    stopped = true;
    await flooding;
  };
}

/** Resolves when the server sends class.method on channel 0 (frames before it are skipped). */
async function untilMethod(client: RawClient, classId: number, methodId: number): Promise<void> {
  for (;;) {
    const f = await client.readFrame(60_000);
    if (f === null) throw new Error(`the broker closed the connection before method ${classId}.${methodId}`);
    if (f.channel === 0 && f.classId === classId && f.methodId === methodId) return;
  }
}

describe('--memory-high-watermark', () => {
  it('reads a fraction of the memory available, bytes, or bytes with a unit', () => {
    const available = 8 * 2 ** 30;
    expect(watermarkBytes(0.4, available)).toBe(Math.floor(0.4 * available));
    expect(watermarkBytes('0.5', available)).toBe(4 * 2 ** 30);
    expect(watermarkBytes(1_000_000, available)).toBe(1_000_000);
    expect(watermarkBytes('2GB', available)).toBe(2e9);
    expect(watermarkBytes('512MiB', available)).toBe(512 * 2 ** 20);
    expect(watermarkBytes('1.5 gib', available)).toBe(1.5 * 2 ** 30);
    for (const bad of ['', 'lots', '-1', '2XB', '0.5B']) expect(() => watermarkBytes(bad, available), bad).toThrow(/memory high watermark/);
    // 0, as in RabbitMQ: the alarm at once
    expect(watermarkBytes(0, available)).toBe(0);
    expect(watermarkBytes('0', available)).toBe(0);
    expect(() => watermarkBytes(-1, available)).toThrow(/0 or more/);
  });

  it('refuses a bad value when the broker starts', async () => {
    await expect(startBroker({ port: 0, host: '127.0.0.1', workers: 0, memoryHighWatermark: 'plenty' })).rejects.toThrow(/memory high watermark 'plenty'/);
  });
});
