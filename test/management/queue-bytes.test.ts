/**
 * The management API's per-queue byte and memory counts, exactly: numbered
 * messages of varying body sizes, persistent and transient, into a durable
 * queue of a broker with a data dir; got (unacked), acked, requeued, rejected,
 * got with no-ack, purged, and requeued by a channel close; after each step
 * /api/queues/{vhost}/{name} must show what a model of the queue says
 * (RabbitMQ's names: message_bytes* count bodies only). A queue longer than
 * its in-memory window shows paged-out counts that add up with the ram ones,
 * before and after a restart. Also idle_since and consumer_capacity (a moving average).
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Channel, ConfirmChannel, ConsumeMessage, GetMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { PAGE_WINDOW_BYTES, PAGE_WINDOW_MESSAGES } from '../../dist/src/shard/paged-backlog.js';
import { EMPTY_QUEUE_BYTES, ENTRY_OVERHEAD } from '../../dist/src/shard/queue.js';
import { queueDir } from '../../dist/src/store/queue-dir.js';
import { MODES, connect, eventually, runWarren, uniq, tempDirs } from '../helpers.js';
import { basic, enc } from './support.js';

const newDataDir = tempDirs('warren-queue-bytes-');


async function startManaged(workers: number, dataDir: string): Promise<RunningBroker> {
  return startBroker({ port: 0, host: '127.0.0.1', workers, dataDir, managementPort: 0 });
}

async function queueJson(broker: RunningBroker, queue: string): Promise<Record<string, any>> {
  const res = await fetch(`http://127.0.0.1:${broker.managementPort}/api/queues/%2F/${enc(queue)}`, { headers: { authorization: basic('guest', 'guest') } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>;
}

/** "m 17 " padded with multi-byte characters' bytes to `size` bytes (at least the number). */
function body(n: number, size: number): Buffer {
  const head = Buffer.from(`m ${n} `);
  const pad = Buffer.from('é'.repeat(Math.ceil(size / 2)));
  return Buffer.concat([head, pad]).subarray(0, Math.max(size, head.length));
}
const numberOf = (content: Buffer): number => Number(/^m (\d+) /.exec(content.toString('latin1', 0, 24))![1]);

interface Message {
  size: number;
  persistent: boolean;
  state: 'ready' | 'unacked' | 'gone';
}

/** What the API must show for the model's messages (none paged out: they are few). */
function expected(messages: Message[]) {
  const sum = (state: Message['state'], persistentOnly = false) =>
    messages.filter((m) => m.state === state && (!persistentOnly || m.persistent)).reduce((s, m) => s + m.size, 0);
  const count = (state: Message['state']) => messages.filter((m) => m.state === state).length;
  const live = messages.filter((m) => m.state !== 'gone');
  const [ready, unacked] = [count('ready'), count('unacked')];
  const bytes = sum('ready') + sum('unacked');
  return {
    messages: ready + unacked,
    messages_ready: ready,
    messages_unacknowledged: unacked,
    message_bytes: bytes,
    message_bytes_ready: sum('ready'),
    message_bytes_unacknowledged: sum('unacked'),
    messages_persistent: live.filter((m) => m.persistent).length,
    message_bytes_persistent: sum('ready', true) + sum('unacked', true),
    messages_ram: ready + unacked,
    messages_ready_ram: ready,
    messages_unacknowledged_ram: unacked,
    message_bytes_ram: bytes,
    messages_paged_out: 0,
    message_bytes_paged_out: 0,
    // an estimate of the shard's heap: the queue, each message's measured overhead, the bodies
    memory: EMPTY_QUEUE_BYTES + (ready + unacked) * ENTRY_OVERHEAD + bytes,
  };
}

async function shows(broker: RunningBroker, queue: string, messages: Message[], step: string): Promise<void> {
  const want = expected(messages);
  await eventually(async () => {
    const json = await queueJson(broker, queue);
    const got = Object.fromEntries(Object.keys(want).map((k) => [k, json[k]]));
    expect(got, step).toEqual(want);
  });
}

/** basic.get of the next message, which must be the lowest-numbered ready one. */
async function getNext(ch: Channel, queue: string, messages: Message[], noAck: boolean): Promise<GetMessage> {
  const msg = await ch.get(queue, { noAck });
  expect(msg).not.toBe(false);
  const n = numberOf((msg as GetMessage).content);
  expect(n).toBe(messages.findIndex((m) => m.state === 'ready'));
  expect((msg as GetMessage).content.length).toBe(messages[n].size);
  messages[n].state = noAck ? 'gone' : 'unacked';
  return msg as GetMessage;
}

/** rabbitmq_prometheus' per-queue byte gauges on /metrics/per-object and the API's fields they show. */
const GAUGES: Record<string, string> = {
  rabbitmq_queue_messages_bytes: 'message_bytes',
  rabbitmq_queue_messages_ready_bytes: 'message_bytes_ready',
  rabbitmq_queue_messages_unacked_bytes: 'message_bytes_unacknowledged',
  rabbitmq_queue_messages_persistent: 'messages_persistent',
  rabbitmq_queue_messages_persistent_bytes: 'message_bytes_persistent',
  rabbitmq_queue_messages_paged_out: 'messages_paged_out',
  rabbitmq_queue_messages_paged_out_bytes: 'message_bytes_paged_out',
  rabbitmq_queue_messages_ram: 'messages_ram',
  rabbitmq_queue_messages_ready_ram: 'messages_ready_ram',
  rabbitmq_queue_messages_unacked_ram: 'messages_unacknowledged_ram',
  rabbitmq_queue_messages_ram_bytes: 'message_bytes_ram',
  rabbitmq_queue_process_memory_bytes: 'memory',
};

/** /metrics/per-object shows the same numbers as the API, for a queue nothing changes meanwhile. */
async function metricsAgree(broker: RunningBroker, queue: string): Promise<void> {
  const json = await queueJson(broker, queue);
  const text = await (await fetch(`http://127.0.0.1:${broker.managementPort}/metrics/per-object`)).text();
  for (const [metric, field] of Object.entries(GAUGES)) {
    const match = new RegExp(`^${metric}\\{vhost="/",queue="${queue}"\\} (\\S+)$`, 'm').exec(text);
    expect([metric, Number(match?.[1])]).toEqual([metric, json[field]]);
  }
}

const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/;

describe.each(MODES)('management API queue byte counts ($name)', ({ workers }) => {
  it('counts body bytes, persistent and in-memory messages exactly through get, ack, requeue, reject, purge and close', async () => {
    const broker = await startManaged(workers, newDataDir());
    try {
      const publisher = await connect(broker.url);
      const pub: ConfirmChannel = await publisher.createConfirmChannel();
      await fc.assert(
        fc.asyncProperty(fc.array(fc.record({ size: fc.integer({ min: 0, max: 3000 }), persistent: fc.boolean() }), { minLength: 8, maxLength: 24 }), async (specs) => {
          const queue = uniq('bytes');
          await pub.assertQueue(queue, { durable: true });
          const messages: Message[] = specs.map((s, n) => {
            const size = body(n, s.size).length;
            return { size, persistent: s.persistent, state: 'ready' };
          });
          await shows(broker, queue, messages.map((m) => ({ ...m, state: 'gone' })), 'empty');
          messages.forEach((m, n) => pub.sendToQueue(queue, body(n, m.size), { persistent: m.persistent }));
          await pub.waitForConfirms();
          await shows(broker, queue, messages, 'published');

          const consumerConn = await connect(broker.url);
          const ch = await consumerConn.createChannel();
          const got: GetMessage[] = [];
          for (let i = 0; i < 5; i++) got.push(await getNext(ch, queue, messages, false));
          await shows(broker, queue, messages, 'five got, unacked');

          ch.ack(got[0]);
          messages[numberOf(got[0].content)].state = 'gone';
          await shows(broker, queue, messages, 'first acked');

          ch.nack(got[1], false, true); // requeued: ready again, at its place
          messages[numberOf(got[1].content)].state = 'ready';
          await shows(broker, queue, messages, 'second requeued');

          ch.reject(got[2], false); // dropped
          messages[numberOf(got[2].content)].state = 'gone';
          await shows(broker, queue, messages, 'third rejected');

          await getNext(ch, queue, messages, true); // the requeued one, again, with no-ack: gone
          await shows(broker, queue, messages, 'one got with no-ack');

          await pub.purgeQueue(queue); // ready ones only
          for (const m of messages) if (m.state === 'ready') m.state = 'gone';
          await shows(broker, queue, messages, 'purged');

          await consumerConn.close(); // the unacked ones come back
          for (const m of messages) if (m.state === 'unacked') m.state = 'ready';
          await shows(broker, queue, messages, 'requeued by the close');

          await pub.deleteQueue(queue);
        }),
        { numRuns: 3 },
      );
      await publisher.close();
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('shows a queue past its in-memory window as paged out, consistent with its totals, before and after a restart', async () => {
    const dataDir = newDataDir();
    let broker = await startManaged(workers, dataDir);
    const queue = uniq('paged');
    const count = Math.ceil((3 * PAGE_WINDOW_BYTES) / 1024);
    const SIZE = 1024;
    // Every 10th is transient: it waits in memory past the window, never on disk.
    const transient = (n: number) => n % 10 === 0;
    const persistentCount = Array.from({ length: count }, (_, n) => n).filter((n) => !transient(n)).length;
    const consistent = async (want: { messages: number; persistent: number }) =>
      eventually(async () => {
        const q = await queueJson(broker, queue);
        expect(q.messages).toBe(want.messages);
        expect(q.message_bytes).toBe(want.messages * SIZE);
        expect(q.messages_persistent).toBe(want.persistent);
        expect(q.message_bytes_persistent).toBe(want.persistent * SIZE);
        expect(q.messages_paged_out).toBeGreaterThan(0);
        expect(q.messages_paged_out).toBeLessThanOrEqual(want.persistent);
        expect(q.message_bytes_paged_out).toBe(q.messages_paged_out * SIZE);
        expect(q.messages_ram + q.messages_paged_out).toBe(q.messages);
        expect(q.messages_ready_ram + q.messages_paged_out).toBe(q.messages_ready);
        expect(q.message_bytes_ram + q.message_bytes_paged_out).toBe(q.message_bytes);
        return q;
      }, 10_000);
    try {
      const conn = await connect(broker.url);
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue(queue, { durable: true });
      for (let n = 0; n < count; n++) {
        ch.sendToQueue(queue, body(n, SIZE), { persistent: !transient(n) });
        if (n % 2000 === 0) await ch.waitForConfirms();
      }
      await ch.waitForConfirms();
      const before = await consistent({ messages: count, persistent: persistentCount });
      expect(before.messages_paged_out).toBeGreaterThan(count / 2); // two windows' worth at least
      await metricsAgree(broker, queue);
      await conn.close();
      await broker.close();

      // Recovery reads a window back and leaves the rest on disk, counted with its bytes; transients are gone.
      broker = await startManaged(workers, dataDir);
      await consistent({ messages: persistentCount, persistent: persistentCount });

      // Drained with acks, in order, every one once: nothing is left anywhere.
      const conn2 = await connect(broker.url);
      const ch2 = await conn2.createChannel();
      await ch2.prefetch(500);
      const seen: number[] = [];
      await new Promise<void>((resolve) => {
        void ch2.consume(queue, (msg) => {
          seen.push(numberOf(msg!.content));
          ch2.ack(msg!);
          if (seen.length === persistentCount) resolve();
        });
      });
      expect(seen).toEqual(Array.from({ length: count }, (_, n) => n).filter((n) => !transient(n)));
      await eventually(async () => {
        const q = await queueJson(broker, queue);
        expect([q.messages, q.message_bytes, q.messages_persistent, q.message_bytes_persistent, q.messages_paged_out, q.message_bytes_paged_out, q.messages_ram, q.message_bytes_ram]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
      });
      await conn2.close();
    } finally {
      await broker.close();
    }
  }, 120_000);

  it('x-max-length-bytes counts the paged-out messages too: a long durable queue takes exactly its limit', async () => {
    const broker = await startManaged(workers, newDataDir());
    try {
      const conn = await connect(broker.url);
      const ch = await conn.createConfirmChannel();
      const queue = uniq('limit-paged');
      const SIZE = 1024;
      const limit = Math.ceil((1.5 * PAGE_WINDOW_BYTES) / SIZE); // past the window: a part of them is paged out
      await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-length-bytes': limit * SIZE, 'x-overflow': 'reject-publish' } });
      const outcome: ('ack' | 'nack')[] = [];
      for (let n = 0; n < 2 * limit; n++) {
        ch.sendToQueue(queue, body(n, SIZE), { persistent: true }, (err) => (outcome[n] = err === null || err === undefined ? 'ack' : 'nack'));
        // In runs, so that the store syncs and pages out between them.
        if (n % 500 === 499) await ch.waitForConfirms().catch(() => {});
      }
      await ch.waitForConfirms().catch(() => {});
      expect(outcome.filter((o) => o === 'ack').length).toBe(limit);
      expect(outcome.slice(0, limit).every((o) => o === 'ack')).toBe(true);
      const q = await eventually(async () => {
        const json = await queueJson(broker, queue);
        expect(json.messages_paged_out).toBeGreaterThan(0);
        return json;
      }, 10_000);
      expect([q.messages, q.message_bytes]).toEqual([limit, limit * SIZE]);
      await conn.close();
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('paged-out messages that cannot be read back leave the counts with the queue', async () => {
    const dataDir = newDataDir();
    const broker = await startManaged(workers, dataDir);
    try {
      const conn = await connect(broker.url);
      const pub = await conn.createConfirmChannel();
      const queue = uniq('cut');
      await pub.assertQueue(queue, { durable: true });
      const count = PAGE_WINDOW_MESSAGES + 2000;
      for (let n = 0; n < count; n++) pub.sendToQueue(queue, body(n, 20), { persistent: true });
      await pub.waitForConfirms();
      const paged = await eventually(async () => {
        const q = await queueJson(broker, queue);
        expect(q.messages_paged_out).toBeGreaterThan(0);
        return q;
      }, 10_000);
      expect([paged.messages, paged.message_bytes, paged.messages_persistent]).toEqual([count, count * 20, count]);
      // The paged-out messages' segments are cut to nothing under the shard.
      const dir = queueDir(dataDir, '/', queue);
      for (const f of fs.readdirSync(dir).filter((name) => name.endsWith('.seg'))) fs.truncateSync(join(dir, f), 0);
      const ch = await conn.createChannel();
      const got: number[] = [];
      await ch.consume(queue, (msg) => got.push(numberOf(msg!.content)), { noAck: true });
      await eventually(async () => {
        const q = await queueJson(broker, queue);
        expect([q.messages, q.message_bytes, q.messages_persistent, q.message_bytes_persistent, q.messages_paged_out, q.message_bytes_paged_out]).toEqual([0, 0, 0, 0, 0, 0]);
      }, 10_000);
      expect(got.length).toBeLessThan(count); // some were lost: the counts went with them
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i));
      await conn.close();
    } finally {
      await broker.close();
    }
  }, 60_000);

  it("warren ctl list_queues prints rabbitmqctl's byte and memory info items", async () => {
    const broker = await startManaged(workers, newDataDir());
    try {
      const conn = await connect(broker.url);
      const ch = await conn.createConfirmChannel();
      const queue = uniq('ctl-bytes');
      await ch.assertQueue(queue, { durable: true });
      const sizes = [100, 2000, 37]; // the first two persistent
      sizes.forEach((size, n) => ch.sendToQueue(queue, body(n, size), { persistent: n < 2 }));
      await ch.waitForConfirms();
      const got = await getNext(ch, queue, sizes.map((size, n) => ({ size, persistent: n < 2, state: 'ready' })), false); // 100 bytes, unacked
      expect(got.content.length).toBe(100);
      const items = ['name', 'messages', 'message_bytes', 'message_bytes_ready', 'message_bytes_unacknowledged', 'messages_persistent', 'message_bytes_persistent', 'messages_ram', 'messages_ready_ram', 'messages_unacknowledged_ram', 'message_bytes_ram', 'consumer_capacity', 'memory'];
      await eventually(async () => {
        const out = await runWarren(['ctl', '--url', `http://guest:guest@127.0.0.1:${broker.managementPort}`, '-q', 'list_queues', ...items]);
        expect(out.code, out.stderr).toBe(0);
        expect(out.stdout.split('\n').filter((l) => l !== '')).toEqual([items.join('\t'), [queue, 3, 2137, 2037, 100, 2, 2100, 3, 2, 1, 2137, 0, EMPTY_QUEUE_BYTES + 3 * ENTRY_OVERHEAD + 2137].join('\t')]);
      }, 10_000);
      await conn.close();
    } finally {
      await broker.close();
    }
  }, 30_000);

  it('shows idle_since only while nothing moves, and consumer_capacity as the share of time a consumer had room', async () => {
    const broker = await startManaged(workers, newDataDir());
    try {
      const conn = await connect(broker.url);
      const ch = await conn.createConfirmChannel();
      const queue = uniq('idle');
      await ch.assertQueue(queue, { durable: false });
      const declared = Date.now();
      const first = await queueJson(broker, queue);
      expect(first.idle_since).toMatch(iso); // nothing ever moved: idle since its declare
      expect(Date.parse(first.idle_since)).toBeGreaterThanOrEqual(declared - 1000);
      expect([first.consumer_capacity, first.consumer_utilisation]).toEqual([0, 0]); // no consumers

      ch.sendToQueue(queue, body(0, 10));
      await ch.waitForConfirms();
      const published = Date.now();
      // The first look after the publish sees it move: not idle.
      await eventually(async () => expect((await queueJson(broker, queue)).idle_since).toBeUndefined());
      // The next look sees nothing new: idle since the look that saw it move.
      const idle = await eventually(async () => {
        const q = await queueJson(broker, queue);
        expect(q.idle_since).toMatch(iso);
        return q;
      });
      expect(Date.parse(idle.idle_since)).toBeGreaterThanOrEqual(published - 5);
      expect(Date.parse(idle.idle_since)).toBeLessThanOrEqual(Date.now());

      // A consumer with prefetch 1 holds the one message; a second finds it full: the queue is
      // blocked, and its capacity (RabbitMQ's moving average, half-life 1 s) falls from 1.
      const consumer = await conn.createChannel();
      await consumer.prefetch(1);
      const held: ConsumeMessage[] = [];
      await consumer.consume(queue, (msg) => held.push(msg!));
      await eventually(async () => expect(held).toHaveLength(1));
      ch.sendToQueue(queue, body(1, 10));
      await ch.waitForConfirms();
      const blocked = await eventually(async () => {
        const q = await queueJson(broker, queue);
        expect([q.consumers, q.messages_ready, q.messages_unacknowledged]).toEqual([1, 1, 1]);
        expect(q.consumer_capacity).toBeLessThan(0.4); // after 1.5 s blocked: 0.35
        return q;
      }, 10_000);
      expect(blocked.consumer_utilisation).toBe(blocked.consumer_capacity);
      // Acked, the consumer takes the second and has room again: the average climbs back.
      consumer.ack(held[0]);
      await eventually(async () => {
        const q = await queueJson(broker, queue);
        expect([q.messages_ready, q.messages_unacknowledged]).toEqual([0, 1]);
        expect(q.consumer_capacity).toBeGreaterThan(0.6); // 1 s after: about 0.68
        expect(q.consumer_utilisation).toBe(q.consumer_capacity);
      }, 10_000);
      expect(held.map((m) => numberOf(m.content))).toEqual([0, 1]);
      await conn.close();
    } finally {
      await broker.close();
    }
  }, 30_000);
});
