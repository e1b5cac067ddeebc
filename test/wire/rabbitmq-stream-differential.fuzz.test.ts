/**
 * A stream on warren and on a real RabbitMQ, driven the same way: a random
 * sequence of publishes (numbered, with random headers and properties, each
 * confirmed), consumers that join at any x-stream-offset (first, last, next,
 * a number) with a random prefetch, acking each delivery or none, acks of
 * everything held, cancels. What each consumer got (body, x-stream-offset,
 * redelivered, headers, properties) must match.
 * Skipped unless RABBITMQ_URL names a RabbitMQ (tools/rabbitmq-crosscheck.sh starts one).
 *
 * Kept deterministic: each publish waits for its confirm and a pause, so it is
 * a chunk of its own on both brokers (a chunk is a write batch in RabbitMQ, a
 * shard batch in warren: what "last" names, and how far a prefetch reaches);
 * every step waits for the deliveries it causes. RabbitMQ's default segment
 * (500 MB) is never filled, so its offsets are one per message, as warren's.
 * Warren runs with a data dir: its streams are stored, as RabbitMQ's are.
 */
import fc from 'fast-check';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, tempDirs } from '../helpers.js';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';

const RABBITMQ_URL = process.env.RABBITMQ_URL;
const RUNS = Number(process.env.WARREN_FUZZ_RUNS) || 50;
/** How long a step waits for the deliveries it causes (RabbitMQ's stream readers poll their log). */
const SETTLE_MS = 60;
const P = `sdiff${process.pid}`;

type Step =
  | { op: 'publish'; headers: Record<string, unknown>; props: Record<string, unknown> }
  | { op: 'consume'; offset: unknown; prefetch: number; ack: boolean }
  | { op: 'ackAll'; consumer: number }
  | { op: 'cancel'; consumer: number };

const headerValue = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -1000, max: 1000 }), fc.boolean(), fc.constant(null));
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    op: fc.constant('publish' as const),
    headers: fc.dictionary(fc.constantFrom('a', 'zz', 'x-stream-offset', 'x-custom', 'M'), headerValue, { maxKeys: 3 }),
    props: fc.record({ contentType: fc.constantFrom('text/plain', 'application/json'), priority: fc.integer({ min: 0, max: 9 }), messageId: fc.string({ maxLength: 5 }), persistent: fc.boolean() }, { requiredKeys: [] }),
  }) },
  { weight: 2, arbitrary: fc.record({
    op: fc.constant('consume' as const),
    offset: fc.oneof(fc.constantFrom<unknown>('first', 'last', 'next', undefined), fc.integer({ min: -2, max: 14 })),
    prefetch: fc.integer({ min: 1, max: 4 }),
    ack: fc.boolean(),
  }) },
  fc.record({ op: fc.constant('ackAll' as const), consumer: fc.nat(3) }),
  fc.record({ op: fc.constant('cancel' as const), consumer: fc.nat(3) }),
);

interface Reader {
  ch: Channel;
  tag: string;
  got: string[];
}

/** Runs the steps on the broker at `url`; returns what each consumer got. (Not the count: RabbitMQ's lags behind its stream.) */
async function run(url: string, queue: string, steps: Step[]): Promise<string[][]> {
  const conn: ChannelModel = await amqp.connect(url);
  conn.on('error', () => {});
  try {
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const readers: Reader[] = [];
    let n = 0;
    for (const s of steps) {
      if (s.op === 'publish') {
        pub.sendToQueue(queue, Buffer.from(`m${n++}`), { ...s.props, headers: s.headers });
        await pub.waitForConfirms();
        await sleep(5);
      } else if (s.op === 'consume') {
        const ch = await conn.createChannel();
        await ch.prefetch(s.prefetch);
        const got: string[] = [];
        const args = s.offset === undefined ? {} : { 'x-stream-offset': s.offset };
        const { consumerTag } = await ch.consume(queue, (m: ConsumeMessage | null) => {
          if (m === null) return;
          const { headers, deliveryMode, priority, contentType, messageId } = m.properties;
          got.push(JSON.stringify([m.content.toString(), m.fields.redelivered, headers, deliveryMode, priority, contentType, messageId]));
          if (s.ack) ch.ack(m);
        }, { arguments: args });
        readers.push({ ch, tag: consumerTag, got });
      } else {
        const reader = readers[s.consumer];
        if (reader === undefined) continue;
        if (s.op === 'ackAll') reader.ch.ackAll();
        else await reader.ch.cancel(reader.tag);
      }
      await sleep(SETTLE_MS);
    }
    await pub.deleteQueue(queue);
    return readers.map((r) => r.got);
  } finally {
    await conn.close().catch(() => {});
  }
}

describe.skipIf(!RABBITMQ_URL)('a stream on warren and on RabbitMQ', () => {
  let broker: RunningBroker;
  const newDataDir = tempDirs('warren-sdiff-');
  beforeAll(async () => {
    broker = await startBroker({ port: 0, host: '127.0.0.1', workers: Number(process.env.WARREN_WORKERS ?? 0), dataDir: newDataDir() });
  });
  afterAll(() => broker?.close());

  it('gives each consumer the same messages, offsets, headers and properties', async () => {
    let runNo = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        const queue = `${P}.s${runNo++}`;
        const warren = await run(broker.url, queue, steps);
        const rabbit = await run(RABBITMQ_URL!, queue, steps);
        expect(warren, JSON.stringify(steps)).toEqual(rabbit);
      }),
      { numRuns: RUNS },
    );
  }, 900_000);
});
