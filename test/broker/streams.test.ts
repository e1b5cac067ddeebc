/**
 * Stream queues (x-queue-type stream) as an AMQP 0-9-1 client sees them in
 * RabbitMQ 3.10.8: an append-only log that each consumer reads from its own
 * x-stream-offset, every delivery carrying its offset; acks free the prefetch
 * and take nothing out; retention by size and age drops whole segments; a
 * restart keeps the log, offsets and times. The refusals' codes and texts are
 * RabbitMQ 3.10.8's answers to the same amqplib calls. Every message is numbered.
 */
import fc from 'fast-check';
import type { Channel, ConsumeMessage } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, brokerProcess, channel, connect, eventually, expectServesNewClient, refused, sleep, uniq, useBroker, tempDirs, within } from '../helpers.js';
import { enc, managedBroker } from '../management/support.js';
import { policyApi } from './policy-support.js';

const STREAM = { 'x-queue-type': 'stream' };

/** A consumer of `queue` from `offset` (prefetch `prefetch`, acking each delivery unless told not to). */
async function reader(ch: Channel, queue: string, offset?: unknown, options: { prefetch?: number; ack?: boolean } = {}) {
  const got: ConsumeMessage[] = [];
  await ch.prefetch(options.prefetch ?? 100);
  const args = offset === undefined ? {} : { 'x-stream-offset': offset };
  const { consumerTag } = await ch.consume(queue, (m) => {
    if (m === null) return;
    got.push(m);
    if (options.ack !== false) ch.ack(m);
  }, { arguments: args });
  return {
    got,
    consumerTag,
    /** the bodies, once `count` came (and nothing more within a short wait) */
    async bodies(count: number): Promise<string[]> {
      await eventually(() => expect(got.length).toBeGreaterThanOrEqual(count), 5000);
      await sleep(50);
      return got.map((m) => m.content.toString());
    },
    offsets: () => got.map((m) => Number(m.properties.headers!['x-stream-offset'])),
  };
}

const numbers = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

describe.each(MODES)('streams: $name', ({ workers }) => {
  const server = useBroker(workers);

  async function stream(ch: Channel, args: Record<string, unknown> = {}): Promise<string> {
    const queue = uniq('stream');
    await ch.assertQueue(queue, { durable: true, arguments: { ...STREAM, ...args } });
    return queue;
  }

  async function publish(queue: string, from: number, to: number, options: object = {}): Promise<void> {
    const conn = await server.connect();
    const ch = await conn.createConfirmChannel();
    for (let i = from; i < to; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`), options);
    await ch.waitForConfirms();
    await conn.close();
  }

  it('each consumer reads the whole log from its own offset, with x-stream-offset on each delivery; acks take nothing out', async () => {
    const conn = await server.connect();
    const queue = await stream(await channel(conn));
    await publish(queue, 0, 500, { headers: { zz: 1, aa: 'x' } });
    const first = await reader(await channel(conn), queue, 'first', { prefetch: 7 });
    const middle = await reader(await channel(conn), queue, 250);
    const next = await reader(await channel(conn), queue);
    expect(await first.bodies(500)).toEqual(numbers(0, 500));
    expect(first.offsets()).toEqual([...Array(500).keys()]);
    expect(await middle.bodies(250)).toEqual(numbers(250, 500));
    expect(middle.offsets()[0]).toBe(250);
    // headers kept, sorted as RabbitMQ sorts them, the offset a long among them
    expect(first.got[3].properties.headers).toEqual({ aa: 'x', 'x-stream-offset': 3, zz: 1 });
    expect(first.got.every((m) => !m.fields.redelivered)).toBe(true);
    expect(next.got).toEqual([]);
    await publish(queue, 500, 600);
    expect(await next.bodies(100)).toEqual(numbers(500, 600));
    expect(await first.bodies(600)).toEqual(numbers(0, 600));
    // everything was acked, and everything is still there
    const ch = await channel(conn);
    expect((await ch.checkQueue(queue)).messageCount).toBe(600);
    expect(await (await reader(ch, queue, 'first')).bodies(600)).toEqual(numbers(0, 600));
  });

  it('x-stream-offset: first, last chunk, next, a number (none below the first; past the end, what comes from it), a timestamp, an interval', async () => {
    const conn = await server.connect();
    const queue = await stream(await channel(conn));
    await publish(queue, 0, 10);
    await sleep(1100);
    const beforeSecond = Date.now();
    await publish(queue, 10, 20);
    await sleep(20);
    await publish(queue, 20, 21); // a chunk of its own: the last one
    const read = async (offset: unknown, count: number) => (await reader(await channel(conn), queue, offset)).bodies(count);
    expect(await read('first', 21)).toEqual(numbers(0, 21));
    expect(await read('last', 1)).toEqual(['m20']);
    expect(await read('next', 0)).toEqual([]);
    expect(await read(5, 16)).toEqual(numbers(5, 21));
    expect(await read(-1, 21)).toEqual(numbers(0, 21));
    expect(await read(2 ** 40, 0)).toEqual([]);
    expect(await read({ '!': 'long', value: 19 }, 2)).toEqual(['m19', 'm20']);
    // a timestamp (seconds): the first chunk appended at or after it
    expect(await read({ '!': 'timestamp', value: Math.floor(beforeSecond / 1000) }, 11)).toEqual(numbers(10, 21));
    expect(await read({ '!': 'timestamp', value: Math.floor(Date.now() / 1000) + 100 }, 0)).toEqual([]);
    expect(await read('1h', 21)).toEqual(numbers(0, 21));
    expect(await read('1D', 21)).toEqual(numbers(0, 21));
    // past the end: it waits for its offset, and what comes before it is skipped
    const ahead = await reader(await channel(conn), queue, 25);
    await publish(queue, 21, 30);
    expect(await ahead.bodies(5)).toEqual(numbers(25, 30));
  });

  it('a consumer gets as far as its prefetch lets it start a chunk; acks let it go on, to the end', async () => {
    const conn = await server.connect();
    const queue = await stream(await channel(conn));
    for (let i = 0; i < 40; i++) {
      await publish(queue, i, i + 1);
      await sleep(2); // a chunk each, more or less
    }
    const ch = await channel(conn);
    const slow = await reader(ch, queue, 'first', { prefetch: 3, ack: false });
    await eventually(() => expect(slow.got.length).toBeGreaterThanOrEqual(3));
    await sleep(200);
    expect(slow.got.length).toBeLessThan(40);
    ch.ackAll();
    let acked = slow.got.length;
    await eventually(() => {
      if (slow.got.length > acked) {
        ch.ackAll();
        acked = slow.got.length;
      }
      expect(slow.got.length).toBe(40);
    }, 5000);
    expect(slow.got.map((m) => m.content.toString())).toEqual(numbers(0, 40));
  });

  it('a consumer that retention moves into the middle of a chunk while its prefetch is full waits for an ack there too', async () => {
    const conn = await server.connect();
    const queue = await stream(await channel(conn), { 'x-stream-max-segment-size-bytes': 1000, 'x-max-length-bytes': 3000 });
    await publish(queue, 0, 1);
    const ch = await channel(conn);
    const stalled = await reader(ch, queue, 'first', { prefetch: 1, ack: false });
    await eventually(() => expect(stalled.got.length).toBe(1));
    // a few chunks at once: retention drops m0 and cuts one of them
    await publish(queue, 1, 400);
    await sleep(300);
    expect(stalled.offsets()).toEqual([0]);
    // acked, it reads on from the first offset kept, to the end
    let acked = 0;
    await eventually(() => {
      if (stalled.got.length > acked) {
        ch.ackAll();
        acked = stalled.got.length;
      }
      expect(stalled.got[stalled.got.length - 1]?.content.toString()).toBe('m399');
    }, 5000);
    const offsets = stalled.offsets();
    expect(offsets.slice(2)).toEqual(offsets.slice(1, -1).map((o) => o + 1));
    expect(stalled.got.slice(1).map((m) => m.content.toString())).toEqual(numbers(offsets[1], 400));
  });

  it('cancels, closed channels and a deleted stream lose nothing for the others', async () => {
    const conn = await server.connect();
    const queue = await stream(await channel(conn));
    await publish(queue, 0, 300);
    const ch = await channel(conn);
    const cancelled = await reader(ch, queue, 'first', { prefetch: 10, ack: false });
    await eventually(() => expect(cancelled.got.length).toBeGreaterThanOrEqual(10));
    await ch.cancel(cancelled.consumerTag);
    ch.ackAll(); // its deliveries stay ackable after the cancel
    const closing = await channel(conn);
    await reader(closing, queue, 'first', { prefetch: 50, ack: false });
    await closing.close();
    const whole = await reader(await channel(conn), queue, 'first');
    expect(await whole.bodies(300)).toEqual(numbers(0, 300));
    // delete: its consumer hears basic.cancel; RabbitMQ's delete-ok says 0
    const watcher = await channel(conn);
    await watcher.prefetch(5);
    const cancelledByDelete = new Promise<void>((resolve) => void watcher.consume(queue, (m) => (m === null ? resolve() : watcher.ack(m)), { arguments: { 'x-stream-offset': 'first' } }));
    expect(await (await channel(conn)).deleteQueue(queue)).toEqual({ messageCount: 0 });
    await within(cancelledByDelete, 2000, 'basic.cancel');
  });

  it('refuses what RabbitMQ 3.10.8 refuses on a stream, with its codes and texts, and goes on serving', async () => {
    const setup = await channel(await server.connect());
    const queue = await stream(setup);
    await publish(queue, 0, 5);
    const where = `queue '${queue}' in vhost '/'`;
    const cases: [string, (ch: Channel) => Promise<unknown>, number, string][] = [
      ['basic.get', (ch) => ch.get(queue), 540, `NOT_IMPLEMENTED - basic.get not supported by stream queues ${where}`],
      ['no prefetch', (ch) => ch.consume(queue, () => {}), 406, `PRECONDITION_FAILED - consumer prefetch count is not set for '${where}'`],
      ['only a global prefetch', async (ch) => { await ch.prefetch(5, true); return ch.consume(queue, () => {}); }, 406, `PRECONDITION_FAILED - consumer prefetch count is not set for '${where}'`],
      ['no-ack', async (ch) => { await ch.prefetch(5); return ch.consume(queue, () => {}, { noAck: true }); }, 540, `NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues ${where}`],
      ['global and own prefetch', async (ch) => { await ch.prefetch(5); await ch.prefetch(10, true); return ch.consume(queue, () => {}); }, 540, `NOT_IMPLEMENTED - ${where} does not support global qos`],
      ['x-priority', async (ch) => { await ch.prefetch(5); return ch.consume(queue, () => {}, { arguments: { 'x-priority': 3 } }); }, 406, `PRECONDITION_FAILED - invalid arg 'x-priority' for ${where} of queue type rabbit_stream_queue`],
      ['offset "5"', async (ch) => { await ch.prefetch(5); return ch.consume(queue, () => {}, { arguments: { 'x-stream-offset': '5' } }); }, 406, `PRECONDITION_FAILED - invalid arg 'x-stream-offset' for ${where}: {invalid_stream_offset_arg,{longstr,<<"5">>}}`],
      ['offset "0s"', async (ch) => { await ch.prefetch(5); return ch.consume(queue, () => {}, { arguments: { 'x-stream-offset': '0s' } }); }, 406, `PRECONDITION_FAILED - invalid arg 'x-stream-offset' for ${where}: {invalid_stream_offset_arg,{longstr,<<"0s">>}}`],
      ['offset "bogus"', async (ch) => { await ch.prefetch(5); return ch.consume(queue, () => {}, { arguments: { 'x-stream-offset': 'bogus' } }); }, 541, 'INTERNAL_ERROR'],
      ['offset true', async (ch) => { await ch.prefetch(5); return ch.consume(queue, () => {}, { arguments: { 'x-stream-offset': true } }); }, 541, 'INTERNAL_ERROR'],
      ['offset 1.5', async (ch) => { await ch.prefetch(5); return ch.consume(queue, () => {}, { arguments: { 'x-stream-offset': 1.5 } }); }, 541, 'INTERNAL_ERROR'],
      ['purge', (ch) => ch.purgeQueue(queue), 540, `NOT_IMPLEMENTED - queue.purge not supported by stream queues ${where}`],
      ['x-max-age "bogus"', (ch) => ch.assertQueue(uniq('bad-age'), { durable: true, arguments: { ...STREAM, 'x-max-age': 'bogus' } }), 541, 'INTERNAL_ERROR'],
      ['nack', (ch) => takeOne(ch, (m) => ch.nack(m, false, true)), 540, `NOT_IMPLEMENTED - basic.nack and basic.reject not supported by stream queues ${where}`],
      ['reject', (ch) => takeOne(ch, (m) => ch.reject(m, false)), 540, `NOT_IMPLEMENTED - basic.nack and basic.reject not supported by stream queues ${where}`],
      ['recover', (ch) => takeOne(ch, () => void ch.recover().catch(() => {})), 541, 'INTERNAL_ERROR'],
    ];
    /** Consumes one delivery and does `act` with it. */
    async function takeOne(ch: Channel, act: (m: ConsumeMessage) => void): Promise<unknown> {
      await ch.prefetch(1);
      return ch.consume(queue, (m) => m !== null && act(m), { arguments: { 'x-stream-offset': 'first' } });
    }
    for (const [label, act, code, text] of cases) {
      const conn = await connect(server.url);
      const ch = await channel(conn);
      // a connection close (5xx) comes as the connection's error; the channel's call only ends
      const connectionClosed = new Promise((_, reject) => conn.once('error', reject));
      const call = act(ch);
      call.catch(() => {});
      expect(await refused(code >= 500 ? connectionClosed : call), label).toEqual({ code, text });
      await conn.close().catch(() => {});
    }
    expect((await setup.checkQueue(queue)).messageCount).toBe(5);
    await expectServesNewClient(server.url);
  });

  it('retention: whole segments go, by size and by age, when a segment fills', async () => {
    const ch = await channel(await server.connect());
    // 100-byte bodies, segments of 1000 bytes, at most 3000 bytes
    const sized = await stream(ch, { 'x-stream-max-segment-size-bytes': 1000, 'x-max-length-bytes': 3000 });
    const conn = await server.connect();
    const pub = await conn.createConfirmChannel();
    for (let i = 0; i < 100; i++) pub.sendToQueue(sized, Buffer.from(`m${i}`.padEnd(100, '.')));
    await pub.waitForConfirms();
    const { messageCount } = await ch.checkQueue(sized);
    expect(messageCount).toBeGreaterThan(10);
    expect(messageCount).toBeLessThan(40);
    const tail = await reader(await channel(conn), sized, 'first');
    await tail.bodies(messageCount);
    expect(tail.offsets()).toEqual(Array.from({ length: messageCount }, (_, i) => 100 - messageCount + i));
    // each message over a segment: every full one goes, nothing is left (as RabbitMQ)
    const tiny = await stream(ch, { 'x-stream-max-segment-size-bytes': 500, 'x-max-length-bytes': 100 });
    for (let i = 0; i < 5; i++) pub.sendToQueue(tiny, Buffer.alloc(1000));
    await pub.waitForConfirms();
    expect((await ch.checkQueue(tiny)).messageCount).toBe(0);
    // by age: nothing goes until a segment fills, then those older than x-max-age do
    const aged = await stream(ch, { 'x-stream-max-segment-size-bytes': 200, 'x-max-age': '1s' });
    for (let i = 0; i < 10; i++) pub.sendToQueue(aged, Buffer.alloc(100));
    await pub.waitForConfirms();
    await sleep(1200);
    expect((await ch.checkQueue(aged)).messageCount).toBe(10);
    for (let i = 10; i < 13; i++) {
      pub.sendToQueue(aged, Buffer.from(`m${i}`.padEnd(100, '.')));
      await pub.waitForConfirms();
    }
    const young = await reader(await channel(conn), aged, 'first');
    await young.bodies(3);
    expect(young.offsets()).toEqual([10, 11, 12]);
  });

  it('fast-check: any publishes and consumers at any numeric offset, first or next: each gets exactly its range, in order', async () => {
    const conn = await server.connect();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.oneof(fc.constantFrom<unknown>('first', 'next'), fc.integer({ min: -5, max: 250 })), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 20 }),
        async (batches, offsets, prefetch) => {
          const queue = await stream(await channel(conn));
          const total = batches.reduce((a, b) => a + b, 0);
          let published = 0;
          const readers = [];
          for (const [i, batch] of batches.entries()) {
            await publish(queue, published, published + batch);
            published += batch;
            // consumers join between the batches
            const offset = offsets[i % offsets.length];
            const start = offset === 'first' ? 0 : offset === 'next' ? published : Math.max(offset as number, 0);
            readers.push({ start, r: await reader(await channel(conn), queue, offset, { prefetch }) });
          }
          // past the end, a consumer waits for its offset: what comes before it is skipped, as in RabbitMQ
          for (const { start, r } of readers) expect(await r.bodies(Math.max(total - start, 0))).toEqual(numbers(Math.min(start, total), total));
          await (await channel(conn)).deleteQueue(queue);
        },
      ),
      { numRuns: Number(process.env.WARREN_FUZZ_RUNS ?? 15) },
    );
  });
});

describe.each(MODES)('streams across a restart: $name', ({ workers }) => {
  const newDataDir = tempDirs('warren-stream-');
  const brokers: RunningBroker[] = [];
  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });
  const startOn = async (dataDir: string) => {
    const b = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    brokers.push(b);
    return b;
  };

  it('keeps the log, its offsets and times, and retention; new messages follow on', async () => {
    const dataDir = newDataDir();
    const queue = uniq('kept-stream');
    let broker = await startOn(dataDir);
    let conn = await connect(broker.url);
    let pub = await conn.createConfirmChannel();
    await pub.assertQueue(queue, { durable: true, arguments: { ...STREAM, 'x-stream-max-segment-size-bytes': 2000, 'x-max-length-bytes': 6000 } });
    // transient and persistent alike: a stream keeps every message
    for (let i = 0; i < 200; i++) pub.sendToQueue(queue, Buffer.from(`m${i}`.padEnd(50, '.')), { persistent: i % 2 === 0 });
    await pub.waitForConfirms();
    await sleep(1100);
    const beforeLast = Date.now();
    for (let i = 200; i < 210; i++) pub.sendToQueue(queue, Buffer.from(`m${i}`.padEnd(50, '.')));
    await pub.waitForConfirms();
    const before = await reader(await channel(conn), queue, 'first');
    const count = (await pub.checkQueue(queue)).messageCount;
    expect(count).toBeLessThan(210);
    await before.bodies(count);
    await conn.close();
    await broker.close();
    brokers.length = 0;

    broker = await startOn(dataDir);
    conn = await connect(broker.url);
    pub = await conn.createConfirmChannel();
    expect((await pub.assertQueue(queue, { durable: true, arguments: { ...STREAM, 'x-stream-max-segment-size-bytes': 2000, 'x-max-length-bytes': 6000 } })).messageCount).toBe(count);
    const after = await reader(await channel(conn), queue, 'first');
    await after.bodies(count);
    expect(after.offsets()).toEqual(before.offsets());
    expect(after.got.map((m) => m.content.toString())).toEqual(before.got.map((m) => m.content.toString()));
    // the append times came back: a timestamp offset still finds the last batch
    const timed = await reader(await channel(conn), queue, { '!': 'timestamp', value: Math.floor(beforeLast / 1000) });
    expect(await timed.bodies(10)).toEqual(numbers(200, 210).map((b) => b.padEnd(50, '.')));
    pub.sendToQueue(queue, Buffer.from('after'));
    await pub.waitForConfirms();
    const next = await reader(await channel(conn), queue, 'last');
    await next.bodies(1);
    expect(next.offsets()).toEqual([210]);
    await conn.close();
  });

  it('a log past the memory window lives on disk: consumers at any offset read it back from there, before and after a restart', async () => {
    const dataDir = newDataDir();
    const queue = uniq('big-stream');
    const start = async () => {
      const b = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir, managementPort: 0 });
      brokers.push(b);
      return b;
    };
    const api = async (b: RunningBroker) => {
      const res = await fetch(`http://127.0.0.1:${b.managementPort}/api/queues/%2F/${enc(queue)}`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
      return (await res.json()) as Record<string, number>;
    };
    const body = (i: number) => `m${i}`.padEnd(2048, '.');
    const total = 12_000; // 24 MiB: three store segments of 8 MiB, a window of 4 MiB
    let broker = await start();
    let conn = await connect(broker.url);
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue(queue, { durable: true, arguments: STREAM });
    for (let i = 0; i < 8000; i++) pub.sendToQueue(queue, Buffer.from(body(i)));
    await pub.waitForConfirms();
    await sleep(1100);
    const beforeLast = Date.now();
    for (let i = 8000; i < total; i++) pub.sendToQueue(queue, Buffer.from(body(i)));
    await pub.waitForConfirms();
    const shown = await api(broker);
    expect(shown).toMatchObject({ messages: total, messages_ready: total });
    // at least the first store segment left memory (the last one being written stays)
    expect(shown.messages_paged_out).toBeGreaterThan(3000);
    expect(shown.messages_paged_out).toBeLessThan(total);
    expect(shown.message_bytes_paged_out).toBe(shown.messages_paged_out * 2048);
    const readAll = async (c: typeof conn, offset: unknown, from: number) => {
      const r = await reader(await channel(c), queue, offset, { prefetch: 1000 });
      await eventually(() => expect(r.got.length).toBe(total - from), 20_000);
      expect(r.offsets()).toEqual([...Array(total - from).keys()].map((i) => from + i));
      expect(r.got.every((m, i) => m.content.toString() === body(from + i))).toBe(true);
    };
    await readAll(conn, 'first', 0);
    await readAll(conn, 5000, 5000);
    await readAll(conn, { '!': 'timestamp', value: Math.floor(beforeLast / 1000) }, 8000);
    await conn.close();
    await broker.close();
    brokers.length = 0;

    broker = await start();
    conn = await connect(broker.url);
    expect((await (await channel(conn)).assertQueue(queue, { durable: true, arguments: STREAM })).messageCount).toBe(total);
    // all of it on disk after a restart, none read into memory
    expect(await api(broker)).toMatchObject({ messages: total, messages_paged_out: total, message_bytes_paged_out: total * 2048 });
    await readAll(conn, 'first', 0);
    await readAll(conn, 11_990, 11_990);
    await readAll(conn, { '!': 'timestamp', value: Math.floor(beforeLast / 1000) }, 8000);
    await conn.close();
  });

  it('a thousand consumers of a log on disk, past what a shard lets them read ahead together: each reads every message in order as it acks', async () => {
    const broker = await startOn(newDataDir());
    const conn = await connect(broker.url);
    const queue = uniq('crowded');
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue(queue, { durable: true, arguments: STREAM });
    const body = (i: number) => `m${i}`.padEnd(1024, '.');
    // 20 MiB in chunks of about ten: the oldest store segments leave memory
    for (let i = 0; i < 20_000; i++) {
      pub.sendToQueue(queue, Buffer.from(body(i)));
      if (i % 10 === 9) await pub.waitForConfirms();
    }
    // 1,000 reading 64 KiB ahead each hold twice the shard's 32 MiB: the least recent put theirs back
    const ch = await channel(conn);
    await ch.prefetch(1);
    const offsets: number[][] = [];
    const wrong: string[] = [];
    for (let c = 0; c < 1000; c++) {
      const mine: number[] = [];
      offsets.push(mine);
      await ch.consume(queue, (m) => {
        if (m === null) return;
        const offset = Number(m.properties.headers!['x-stream-offset']);
        if (m.content.toString() !== body(offset)) wrong.push(`consumer ${c} offset ${offset}`);
        mine.push(offset);
      }, { arguments: { 'x-stream-offset': 'first' } });
    }
    // rounds: each got more, then all is acked
    let had = offsets.map(() => 0);
    for (let round = 0; round < 4; round++) {
      await eventually(() => expect(offsets.every((mine, c) => mine.length > had[c])).toBe(true), 20_000);
      had = offsets.map((mine) => mine.length);
      ch.ackAll();
    }
    await sleep(100);
    expect(wrong).toEqual([]);
    for (const mine of offsets) expect(mine).toEqual([...mine.keys()]);
    await conn.close();
  });

  it('messages larger than a store segment and than a read, on disk: each read back whole, from any offset', async () => {
    const dataDir = newDataDir();
    const queue = uniq('large-stream');
    const MiB = 1024 * 1024;
    const sizes = [10 * MiB, 1024, 9 * MiB + 7, 100, 3 * MiB, 0, 12 * MiB + 3, 5];
    const body = (i: number) => {
      const b = Buffer.alloc(sizes[i], 0x61 + i);
      b.write(`m${i}:`.slice(0, sizes[i]));
      return b;
    };
    const broker = await startOn(dataDir);
    const conn = await connect(broker.url);
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue(queue, { durable: true, arguments: STREAM });
    for (let i = 0; i < sizes.length; i++) pub.sendToQueue(queue, body(i));
    await pub.waitForConfirms();
    for (const from of [0, 2, 6]) {
      const r = await reader(await channel(conn), queue, from, { prefetch: 2 });
      await eventually(() => expect(r.got.length).toBe(sizes.length - from), 20_000);
      expect(r.offsets()).toEqual(sizes.slice(from).map((_, i) => from + i));
      r.got.forEach((m, i) => expect(m.content.equals(body(from + i)), `offset ${from + i}`).toBe(true));
    }
    await conn.close();
  });

  it('fast-check: streams named anything a queue name may be (up to 255 bytes of UTF-8) keep their logs apart across a restart', async () => {
    const name = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 255 })
      .map((s) => Buffer.from(s).subarray(0, 255).toString())
      .filter((s) => s.length > 0 && !s.startsWith('amq.') && !s.includes('\uFFFD') && Buffer.byteLength(s) <= 255);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(name, fc.integer({ min: 1, max: 30 })), { minLength: 1, maxLength: 12, selector: ([n]) => n }), async (streams) => {
        const dataDir = newDataDir();
        let broker = await startOn(dataDir);
        let conn = await connect(broker.url);
        const pub = await conn.createConfirmChannel();
        for (const [queue, count] of streams) {
          await pub.assertQueue(queue, { durable: true, arguments: STREAM });
          for (let i = 0; i < count; i++) pub.sendToQueue(queue, Buffer.from(`${queue}/${i}`));
        }
        await pub.waitForConfirms();
        await conn.close();
        await broker.close();
        brokers.length = 0;
        broker = await startOn(dataDir);
        conn = await connect(broker.url);
        for (const [queue, count] of streams) {
          const ch = await channel(conn);
          expect((await ch.assertQueue(queue, { durable: true, arguments: STREAM })).messageCount).toBe(count);
          const r = await reader(ch, queue, 'first');
          expect(await r.bodies(count)).toEqual(Array.from({ length: count }, (_, i) => `${queue}/${i}`));
        }
        await conn.close();
        await broker.close();
        brokers.length = 0;
      }),
      { numRuns: 4 },
    );
  });

  it('a confirm means on disk: SIGKILL after the 2,000th loses none of the confirmed, transient ones too; offsets follow on', async () => {
    const dataDir = newDataDir();
    const queue = uniq('killed-stream');
    const { child, exited, port: listening } = brokerProcess(dataDir, workers);
    const sent = 8000;
    let confirmed = -1;
    try {
      const conn = await connect(`amqp://guest:guest@127.0.0.1:${await listening}`);
      const ch = await conn.createConfirmChannel();
      ch.on('error', () => {});
      await ch.assertQueue(queue, { durable: true, arguments: STREAM });
      const killed = new Promise<void>((resolve) => {
        for (let i = 0; i < sent; i++) {
          ch.sendToQueue(queue, Buffer.from(`m${i}`), { persistent: false }, (err: unknown) => {
            if (err !== null && err !== undefined) return;
            confirmed = Math.max(confirmed, i);
            if (confirmed >= 2000 && child.exitCode === null) {
              child.kill('SIGKILL');
              resolve();
            }
          });
        }
      });
      await within(killed, 20_000, '2,000 confirms');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const broker = await startOn(dataDir);
    const conn = await connect(broker.url);
    const ch = await channel(conn);
    const { messageCount } = await ch.assertQueue(queue, { durable: true, arguments: STREAM });
    expect(messageCount).toBeGreaterThan(confirmed);
    const all = await reader(ch, queue, 'first', { prefetch: 1000 });
    // every confirmed one, in order, at its offset; of the others a run with no gap
    expect(await all.bodies(messageCount)).toEqual(numbers(0, messageCount));
    expect(all.offsets()).toEqual([...Array(messageCount).keys()]);
    const pub = await conn.createConfirmChannel();
    pub.sendToQueue(queue, Buffer.from('after'));
    await pub.waitForConfirms();
    await eventually(() => expect(all.got.at(-1)!.properties.headers!['x-stream-offset']).toBe(messageCount));
    await conn.close();
  });
});

describe.each(MODES)('streams in the management API: $name', ({ workers }) => {
  const m = managedBroker(workers);

  it('shows a stream as one (type, its log as ready messages), exports it so, and a policy sets its retention', async () => {
    const conn = await connect(m.broker.url);
    try {
      const ch = await channel(conn);
      const queue = uniq('shown-stream');
      const policies = policyApi(m);
      await policies.set(`${queue}-p`, { pattern: `^${queue}$`, 'apply-to': 'queues', definition: { 'max-length-bytes': 3000, 'stream-max-segment-size-bytes': 1000 } });
      await ch.assertQueue(queue, { durable: true, arguments: STREAM });
      const pub = await conn.createConfirmChannel();
      for (let i = 0; i < 100; i++) pub.sendToQueue(queue, Buffer.alloc(100));
      await pub.waitForConfirms();
      const { messageCount } = await ch.checkQueue(queue);
      // the policy's limit, not the 100 published
      expect(messageCount).toBeGreaterThan(10);
      expect(messageCount).toBeLessThan(40);
      const reading = await reader(await channel(conn), queue, 'first', { prefetch: 5, ack: false });
      await eventually(() => expect(reading.got.length).toBeGreaterThanOrEqual(5));
      await eventually(async () => {
        const { body } = await m.api('GET', `/api/queues/%2F/${enc(queue)}`);
        expect(body).toMatchObject({ type: 'stream', messages: messageCount, messages_ready: messageCount, messages_unacknowledged: 0, consumers: 1 });
      });
      const consumers = (await m.api('GET', '/api/consumers')).body.filter((c: any) => c.queue.name === queue);
      expect(consumers).toEqual([expect.objectContaining({ arguments: { 'x-stream-offset': 'first' }, prefetch_count: 5, ack_required: true })]);
      const { body: defs } = await m.api('GET', '/api/definitions');
      expect(defs.queues.filter((q: any) => q.name === queue)).toEqual([{ name: queue, vhost: '/', type: 'stream', durable: true, auto_delete: false, arguments: STREAM }]);
      // what RabbitMQ 3.10.8's API answers for a stream's get and purge, and an age it cannot parse
      expect(await m.api('POST', `/api/queues/%2F/${enc(queue)}/get`, { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto' })).toMatchObject({
        status: 400, body: { error: 'bad_request', reason: `540 basic.get not supported by stream queues queue '${queue}' in vhost '/'` },
      });
      expect(await m.api('DELETE', `/api/queues/%2F/${enc(queue)}/contents`)).toMatchObject({
        status: 400, body: { error: 'bad_request', reason: `queue.purge not supported by stream queues queue '${queue}' in vhost '/'` },
      });
      expect((await m.api('PUT', `/api/queues/%2F/${enc(uniq('bad-age'))}`, { durable: true, arguments: { ...STREAM, 'x-max-age': 'bogus' } })).status).toBe(400);
      expect((await ch.checkQueue(queue)).messageCount).toBe(messageCount);
      await policies.clear(`${queue}-p`);
    } finally {
      await conn.close();
    }
  });
});
