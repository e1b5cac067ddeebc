/**
 * Well-formed methods in random orders with random arguments, after a good
 * handshake: unlike fuzz.test.ts, whose frames mostly fail to decode, these
 * reach the channel, topology, queue and store code. Names, keys, flags,
 * argument tables and delivery tags come from small pools, so declares,
 * binds, consumes, acks and deletes run into each other, into amq.*, and into
 * another connection's exclusive queue.
 *
 * What must hold: every close the broker sends carries one of the spec's reply
 * codes and never the 541 of a caught bug ("internal error"); the broker and
 * its shards stay up; a bystander's exclusive queue, which the fuzzed clients
 * try to consume, purge and delete, keeps every numbered message in order; a
 * new client can still do everything.
 *
 * WARREN_FUZZ_RUNS=N runs N sequences per mode instead of the default (soak runs).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, collect, connect, expectServesNewClient, tempDirs } from '../helpers.js';
import { defs, id } from './amqplib-codec.js';
import { FRAME_METHOD, RawClient, frame } from './raw-client.js';

const BASIC_CLASS = 60;
const FRAME_MAX = 4096;

/** Reply codes of AMQP 0-9-1 that a channel or connection close may carry. */
const REPLY_CODES = new Set([200, 311, 312, 313, 320, 402, 403, 404, 405, 406, 501, 502, 503, 504, 505, 506, 530, 540, 541]);

const bystanderQueue = 'fz.bystander';
const queueName = fc.constantFrom('', 'fz.a', 'fz.b', 'fz.durable', 'amq.fz', 'fz.ü€', 'q'.repeat(255), bystanderQueue, 'amq.rabbitmq.reply-to');
const exchangeName = fc.constantFrom('', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match', 'amq.rabbitmq.log', 'fz.x', 'fz.y', 'fz.ae', 'x'.repeat(255));
// Not the bystander's queue: publishing to another connection's exclusive queue is allowed.
const routingKey = fc.constantFrom('', 'fz.a', 'fz.b', '#', '*', 'a.*.c', 'a.#', 'k'.repeat(255), 'amq.rabbitmq.reply-to');
const consumerTag = fc.constantFrom('', 'c1', 'c2', 'amq.ctag-x', 't'.repeat(255));
const exchangeType = fc.constantFrom('direct', 'fanout', 'topic', 'headers', '', 'x-unknown', 'x-consistent-hash');

/** Field values as a client might send them: right, wrong-typed, out of range. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, 1, -1, 5, 255, 256, 1000, 65_536, 2 ** 31 - 1, -(2 ** 31), 2 ** 40, 0.5, -3.25),
  fc.constantFrom('', '10', '-1', 'fz.x', 'fz.a', 'drop-head', 'reject-publish', 'reject-publish-dlx', 'classic', 'quorum', 'stream', 'lazy', 'all', 'any', 'x'.repeat(300)),
  fc.constantFrom('stream', 'first', 'last', 'next', '1h', '0s', '7D', 'bogus'),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom<unknown>({ '!': 'byte', value: -1 }, { '!': 'unsignedint', value: 4_000_000_000 }, { '!': 'float', value: 1.5 }, { '!': 'timestamp', value: 1 }, { '!': 'decimal', value: { places: 2, digits: 100 } }),
  fc.constantFrom<unknown>([], ['a', 1], { nested: { x: 1 } }, Buffer.from([1, 2, 3])),
);
const argumentKey = fc.constantFrom(
  'x-message-ttl', 'x-expires', 'x-max-length', 'x-max-length-bytes', 'x-overflow', 'x-dead-letter-exchange',
  'x-dead-letter-routing-key', 'x-max-priority', 'x-queue-type', 'x-queue-mode', 'x-single-active-consumer',
  'alternate-exchange', 'x-match', 'x-priority', 'x-cancel-on-ha-failover', 'x-consumer-timeout', 'x-delivery-limit', 'other',
  'x-stream-offset', 'x-max-age', 'x-stream-max-segment-size-bytes', 'x-initial-cluster-size',
);
const argumentTable = fc.dictionary(argumentKey, fieldValue, { maxKeys: 4 });

const deliveryTag = fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constantFrom(2 ** 32, Number.MAX_SAFE_INTEGER));
const count = fc.constantFrom(0, 1, 2, 10, 65_535);

/** A basic.publish, its header and body frames, cut at the negotiated frame size. */
const publish = (ch: number) =>
  fc
    .record({
      exchange: exchangeName,
      routingKey,
      mandatory: fc.boolean(),
      immediate: fc.boolean(),
      size: fc.constantFrom(0, 1, 16, FRAME_MAX, 10_000),
      props: fc.record(
        {
          deliveryMode: fc.constantFrom(1, 2, 0, 7),
          priority: fc.constantFrom(0, 1, 9, 255),
          expiration: fc.constantFrom('0', '1', '60000', '-1', 'soon', ''),
          replyTo: fc.constantFrom('fz.a', '', 'fz.a', 'amq.rabbitmq.reply-to'),
          userId: fc.constantFrom('guest', 'guest', 'guest', 'nobody'),
          headers: fc.dictionary(fc.constantFrom('CC', 'BCC', 'x-match', 'x-death', 'x-delay', 'h'), fc.oneof(fieldValue, fc.constant(['fz.a', 'fz.b']))),
          messageId: fc.constantFrom('m', 'm'.repeat(255)),
        },
        { requiredKeys: [] },
      ),
    })
    .map(({ exchange, routingKey, mandatory, immediate, size, props }) => {
      const body = Buffer.alloc(size, 0x61);
      const parts = [
        defs.encodeMethod(id('BasicPublish'), ch, { exchange, routingKey, mandatory, immediate }),
        defs.encodeProperties(BASIC_CLASS, ch, size, props),
      ];
      for (let at = 0; at < size; at += FRAME_MAX - 8) parts.push(frame(3, ch, body.subarray(at, at + FRAME_MAX - 8)));
      return Buffer.concat(parts);
    });

const on = (ch: number, name: string, fields: fc.Arbitrary<Record<string, unknown>>) =>
  fields.map((f) => defs.encodeMethod(id(name), ch, f));

const often = <T>(arbitrary: fc.Arbitrary<T>) => ({ arbitrary, weight: 8 });

/**
 * One client method (or a publish with its content) on a channel. The methods
 * that end the connection (504 and 540 in the spec's rules) are rarer, so that
 * most sequences run to their end.
 */
const step = fc.integer({ min: 1, max: 3 }).chain((ch) =>
  fc.oneof(
    on(ch, 'ChannelOpen', fc.constant({})),
    on(ch, 'ChannelClose', fc.record({ replyCode: fc.constantFrom(200, 406), replyText: fc.constant('bye'), classId: fc.constant(0), methodId: fc.constant(0) })),
    on(ch, 'ChannelCloseOk', fc.constant({})),
    on(ch, 'ChannelOpenOk', fc.constant({})),
    on(ch, 'BasicDeliver', fc.record({ consumerTag, deliveryTag, exchange: exchangeName, routingKey })),
    on(ch, 'BasicRecover', fc.record({ requeue: fc.boolean() })),
    on(ch, 'ChannelFlow', fc.record({ active: fc.constant(false) })),
    often(on(ch, 'ChannelFlow', fc.record({ active: fc.constant(true) }))),
    often(on(ch, 'ExchangeDeclare', fc.record({ exchange: exchangeName, type: exchangeType, passive: fc.boolean(), durable: fc.boolean(), autoDelete: fc.boolean(), internal: fc.boolean(), nowait: fc.boolean(), arguments: argumentTable }))),
    often(on(ch, 'ExchangeDelete', fc.record({ exchange: exchangeName, ifUnused: fc.boolean(), nowait: fc.boolean() }))),
    often(on(ch, 'ExchangeBind', fc.record({ destination: exchangeName, source: exchangeName, routingKey, nowait: fc.boolean(), arguments: argumentTable }))),
    often(on(ch, 'ExchangeUnbind', fc.record({ destination: exchangeName, source: exchangeName, routingKey, nowait: fc.boolean(), arguments: argumentTable }))),
    often(on(ch, 'QueueDeclare', fc.record({ queue: queueName, passive: fc.boolean(), durable: fc.boolean(), exclusive: fc.boolean(), autoDelete: fc.boolean(), nowait: fc.boolean(), arguments: argumentTable }))),
    often(on(ch, 'QueueDeclare', fc.record({ queue: queueName, durable: fc.boolean(), arguments: argumentTable }))),
    often(on(ch, 'QueueBind', fc.record({ queue: queueName, exchange: exchangeName, routingKey, nowait: fc.boolean(), arguments: argumentTable }))),
    often(on(ch, 'QueueUnbind', fc.record({ queue: queueName, exchange: exchangeName, routingKey, arguments: argumentTable }))),
    often(on(ch, 'QueuePurge', fc.record({ queue: queueName, nowait: fc.boolean() }))),
    often(on(ch, 'QueueDelete', fc.record({ queue: queueName, ifUnused: fc.boolean(), ifEmpty: fc.boolean(), nowait: fc.boolean() }))),
    often(on(ch, 'BasicQos', fc.record({ prefetchSize: fc.constantFrom(0, 0, 0, 1), prefetchCount: count, global: fc.boolean() }))),
    often(on(ch, 'BasicConsume', fc.record({ queue: queueName, consumerTag, noLocal: fc.boolean(), noAck: fc.boolean(), exclusive: fc.boolean(), nowait: fc.boolean(), arguments: argumentTable }))),
    often(on(ch, 'BasicCancel', fc.record({ consumerTag, nowait: fc.boolean() }))),
    { arbitrary: publish(ch), weight: 30 },
    often(on(ch, 'BasicGet', fc.record({ queue: queueName, noAck: fc.boolean() }))),
    often(on(ch, 'BasicAck', fc.record({ deliveryTag, multiple: fc.boolean() }))),
    often(on(ch, 'BasicReject', fc.record({ deliveryTag, requeue: fc.boolean() }))),
    often(on(ch, 'BasicNack', fc.record({ deliveryTag, multiple: fc.boolean(), requeue: fc.boolean() }))),
    often(on(ch, 'BasicRecoverAsync', fc.record({ requeue: fc.constant(true) }))),
    often(on(ch, 'TxSelect', fc.constant({}))),
    often(on(ch, 'TxCommit', fc.constant({}))),
    often(on(ch, 'TxRollback', fc.constant({}))),
    often(on(ch, 'ConfirmSelect', fc.record({ nowait: fc.boolean() }))),
  ),
);

/**
 * Writes of one to six steps each. They are cut at frame boundaries only: the
 * client answers the broker's channel closes between writes.
 */
const sequence = fc.array(fc.array(step, { minLength: 1, maxLength: 6 }).map((steps) => Buffer.concat(steps)), { minLength: 1, maxLength: 8 });

interface Close {
  channel: number;
  code: number;
  text: string;
}

/**
 * Reads what the server sends until it has been quiet for `quietMs` or closed
 * the socket. A closed channel is answered and opened again, so that the
 * following steps reach channel code; a connection.close is answered.
 */
async function answer(client: RawClient, quietMs: number, closes: Close[]): Promise<boolean> {
  for (;;) {
    let f;
    try {
      f = await client.readFrame(quietMs);
    } catch {
      return true; // quiet
    }
    if (f === null) return false;
    if (f.type !== FRAME_METHOD) continue;
    if (f.classId === 20 && f.methodId === 41) {
      client.send(defs.encodeMethod(id('ChannelOpen'), f.channel, {}));
      continue;
    }
    const connectionClose = f.classId === 10 && f.methodId === 50;
    const channelClose = f.classId === 20 && f.methodId === 40;
    if (!connectionClose && !channelClose) continue;
    closes.push({ channel: f.channel, code: f.payload.readUInt16BE(4), text: f.payload.subarray(7, 7 + f.payload[6]).toString() });
    if (connectionClose) {
      client.send(defs.encodeMethod(id('ConnectionCloseOk'), 0, {}));
      return false;
    }
    client.send(defs.encodeMethod(id('ChannelCloseOk'), f.channel, {}), defs.encodeMethod(id('ChannelOpen'), f.channel, {}));
  }
}

const RUNS = Number(process.env.WARREN_FUZZ_RUNS) || 60;

describe.each(MODES)('well-formed methods in random orders, $name', ({ workers }) => {
  const dataDir = tempDirs('warren-fuzz-');
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir: dataDir() });
  });
  afterAll(() => broker.close());

  it('answers with the spec reply codes, never an internal error, and loses none of a bystander\'s messages', async () => {
    const bystander = await connect(broker.url);
    const ch = await channel(bystander);
    await ch.assertQueue(bystanderQueue, { exclusive: true });
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(sequence, async (writes) => {
        ch.sendToQueue(bystanderQueue, Buffer.from(`m${sent++}`));
        const client = await RawClient.open(broker.port);
        await client.handshake(0, FRAME_MAX);
        client.send(...[1, 2, 3].map((n) => defs.encodeMethod(id('ChannelOpen'), n, {})));
        const closes: Close[] = [];
        for (const w of writes) {
          client.send(w);
          if (!(await answer(client, 5, closes))) break;
        }
        await answer(client, 20, closes);
        client.destroy();
        await client.closed;
        for (const c of closes) {
          expect(REPLY_CODES.has(c.code), `reply code ${c.code} '${c.text}' on channel ${c.channel}`).toBe(true);
          expect(c.text, `a caught bug on channel ${c.channel}`).not.toMatch(/internal error|shard \d+ stopped/i);
        }
      }),
      { numRuns: RUNS },
    );
    const got = await collect(ch, bystanderQueue, sent);
    expect(got.map((m) => m.content.toString())).toEqual(Array.from({ length: sent }, (_, i) => `m${i}`));
    await expectServesNewClient(broker.url);
    await bystander.close();
  }, 600_000);
});
