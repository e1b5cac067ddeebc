/**
 * queue.declare's x-arguments are checked as RabbitMQ 3.10 checks them: each
 * bad value gets its 406 with RabbitMQ's text (taken from RabbitMQ 3.10.8 with
 * the same amqplib calls), the queue is not created, and the connection and
 * other channels go on. A headers binding with a bad x-match is refused too.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, channel, queueExists, refused, uniq, useBroker } from '../helpers.js';

/** [arguments, options, RabbitMQ's text with Q for the queue's name] */
const REFUSED: [Record<string, unknown>, { durable?: boolean; exclusive?: boolean; autoDelete?: boolean }, string][] = [
  [{ 'x-message-ttl': 'abc' }, {}, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  [{ 'x-message-ttl': -1 }, {}, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/': {value_negative,-1}`],
  [{ 'x-message-ttl': 1.5 }, {}, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/': "expected integer, got double"`],
  [{ 'x-message-ttl': true }, {}, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/': "expected integer, got bool"`],
  [{ 'x-expires': 0 }, {}, `invalid arg 'x-expires' for queue 'Q' in vhost '/': {value_zero,0}`],
  [{ 'x-expires': -5 }, {}, `invalid arg 'x-expires' for queue 'Q' in vhost '/': {value_negative,-5}`],
  // Ten years (315,360,000,000 ms) is the most either takes; found by bisecting RabbitMQ 3.10.8's answers.
  [{ 'x-expires': 315_360_000_001 }, {}, `invalid arg 'x-expires' for queue 'Q' in vhost '/': {value_too_large,315360000001}`],
  [{ 'x-message-ttl': 2 ** 40 }, {}, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/': {value_too_large,1099511627776}`],
  [{ 'x-expires': 'a' }, {}, `invalid arg 'x-expires' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  [{ 'x-max-length': -1 }, {}, `invalid arg 'x-max-length' for queue 'Q' in vhost '/': {value_negative,-1}`],
  [{ 'x-max-length': '10' }, {}, `invalid arg 'x-max-length' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  [{ 'x-max-length-bytes': -1 }, {}, `invalid arg 'x-max-length-bytes' for queue 'Q' in vhost '/': {value_negative,-1}`],
  [{ 'x-overflow': 'bogus' }, {}, `invalid arg 'x-overflow' for queue 'Q' in vhost '/': invalid_overflow`],
  [{ 'x-overflow': 1 }, {}, `invalid arg 'x-overflow' for queue 'Q' in vhost '/': {unacceptable_type,byte}`],
  [{ 'x-dead-letter-exchange': 1 }, {}, `invalid type 'byte' for arg 'x-dead-letter-exchange' in queue 'Q' in vhost '/'`],
  [{ 'x-dead-letter-routing-key': 'k' }, {}, `invalid arg 'x-dead-letter-routing-key' for queue 'Q' in vhost '/': routing_key_but_no_dlx_defined`],
  [{ 'x-dead-letter-exchange': 'x', 'x-dead-letter-routing-key': 5 }, {}, `invalid arg 'x-dead-letter-routing-key' for queue 'Q' in vhost '/': {unacceptable_type,byte}`],
  [{ 'x-max-priority': 256 }, {}, `invalid arg 'x-max-priority' for queue 'Q' in vhost '/': {max_value_exceeded,256}`],
  [{ 'x-max-priority': -1 }, {}, `invalid arg 'x-max-priority' for queue 'Q' in vhost '/': {value_negative,-1}`],
  [{ 'x-queue-type': 'bogus' }, {}, `invalid arg 'x-queue-type' for queue 'Q' in vhost '/': "unsupported queue type 'bogus'"`],
  [{ 'x-queue-type': 3 }, {}, `invalid arg 'x-queue-type' for queue 'Q' in vhost '/': {unacceptable_type,byte}`],
  [{ 'x-single-active-consumer': 1 }, {}, `invalid arg 'x-single-active-consumer' for queue 'Q' in vhost '/': {unacceptable_type,byte}`],
  [{ 'x-single-active-consumer': 'true' }, {}, `invalid arg 'x-single-active-consumer' for queue 'Q' in vhost '/': {unacceptable_type,longstr}`],
  [{ 'x-queue-mode': 'bogus' }, {}, `invalid arg 'x-queue-mode' for queue 'Q' in vhost '/': "unsupported queue mode 'bogus'"`],
  // the first failing argument in RabbitMQ's order is the one reported
  [{ 'x-max-length': -1, 'x-message-ttl': -1 }, {}, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/': {value_negative,-1}`],
  [{ 'x-dead-letter-exchange': 3, 'x-message-ttl': 'a' }, {}, `invalid type 'byte' for arg 'x-dead-letter-exchange' in queue 'Q' in vhost '/'`],
  // arguments of another queue type
  [{ 'x-delivery-limit': 'a' }, {}, `invalid arg 'x-delivery-limit' for queue 'Q' in vhost '/' of queue type rabbit_classic_queue`],
  [{ 'x-max-age': '1D' }, {}, `invalid arg 'x-max-age' for queue 'Q' in vhost '/' of queue type rabbit_classic_queue`],
  [{ 'x-queue-type': 'quorum', 'x-max-priority': 5 }, { durable: true }, `invalid arg 'x-max-priority' for queue 'Q' in vhost '/' of queue type rabbit_quorum_queue`],
  [{ 'x-queue-type': 'quorum', 'x-queue-mode': 'lazy' }, { durable: true }, `invalid arg 'x-queue-mode' for queue 'Q' in vhost '/' of queue type rabbit_quorum_queue`],
  [{ 'x-queue-type': 'stream', 'x-max-length': 5 }, { durable: true }, `invalid arg 'x-max-length' for queue 'Q' in vhost '/' of queue type rabbit_stream_queue`],
  // quorum (and stream) queues must be durable, not exclusive, not auto-delete
  [{ 'x-queue-type': 'quorum' }, { durable: false }, `invalid property 'non-durable' for queue 'Q' in vhost '/'`],
  [{ 'x-queue-type': 'quorum' }, { durable: true, exclusive: true }, `invalid property 'exclusive-owner' for queue 'Q' in vhost '/'`],
  [{ 'x-queue-type': 'quorum' }, { durable: true, autoDelete: true }, `invalid property 'auto-delete' for queue 'Q' in vhost '/'`],
  [{ 'x-queue-type': 'quorum', 'x-message-ttl': -1 }, { durable: false }, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/': {value_negative,-1}`],
  // A value names the type it was sent as (amqplib's { '!': type } sends any): 10.0 as a double is no integer.
  [{ 'x-max-length': { '!': 'double', value: 10 } }, {}, `invalid arg 'x-max-length' for queue 'Q' in vhost '/': "expected integer, got double"`],
  [{ 'x-message-ttl': { '!': 'double', value: 60000 } }, {}, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/': "expected integer, got double"`],
  [{ 'x-expires': { '!': 'float', value: 5000 } }, {}, `invalid arg 'x-expires' for queue 'Q' in vhost '/': "expected integer, got float"`],
  [{ 'x-max-priority': { '!': 'double', value: 5 } }, {}, `invalid arg 'x-max-priority' for queue 'Q' in vhost '/': "expected integer, got double"`],
  [{ 'x-max-length-bytes': { '!': 'double', value: 1000 } }, {}, `invalid arg 'x-max-length-bytes' for queue 'Q' in vhost '/': "expected integer, got double"`],
  [{ 'x-max-length': { '!': 'timestamp', value: 1577836800 } }, {}, `invalid arg 'x-max-length' for queue 'Q' in vhost '/': "expected integer, got timestamp"`],
  [{ 'x-overflow': { '!': 'int', value: 5 } }, {}, `invalid arg 'x-overflow' for queue 'Q' in vhost '/': {unacceptable_type,signedint}`],
  [{ 'x-overflow': { '!': 'long', value: 5 } }, {}, `invalid arg 'x-overflow' for queue 'Q' in vhost '/': {unacceptable_type,long}`],
  [{ 'x-overflow': { '!': 'short', value: 5 } }, {}, `invalid arg 'x-overflow' for queue 'Q' in vhost '/': {unacceptable_type,short}`],
  [{ 'x-overflow': { '!': 'double', value: 5 } }, {}, `invalid arg 'x-overflow' for queue 'Q' in vhost '/': {unacceptable_type,double}`],
  [{ 'x-single-active-consumer': { '!': 'double', value: 1 } }, {}, `invalid arg 'x-single-active-consumer' for queue 'Q' in vhost '/': {unacceptable_type,double}`],
  [{ 'x-dead-letter-exchange': { '!': 'double', value: 2 } }, {}, `invalid type 'double' for arg 'x-dead-letter-exchange' in queue 'Q' in vhost '/'`],
  // found beside RabbitMQ 3.10.8 two arguments at a time: the queue type first, then the value checks of
  // rabbit_amqqueue, then whether the type takes each argument, then the checks of the type's own arguments
  [{ 'x-queue-version': 3 }, {}, `invalid arg 'x-queue-version' for queue 'Q' in vhost '/': "unsupported queue version '3'"`],
  [{ 'x-queue-version': 0 }, {}, `invalid arg 'x-queue-version' for queue 'Q' in vhost '/': "unsupported queue version '0'"`],
  [{ 'x-queue-version': -1 }, {}, `invalid arg 'x-queue-version' for queue 'Q' in vhost '/': {value_negative,-1}`],
  [{ 'x-queue-version': 'a' }, {}, `invalid arg 'x-queue-version' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  [{ 'x-queue-version': 3, 'x-queue-mode': 'eager' }, {}, `invalid arg 'x-queue-mode' for queue 'Q' in vhost '/': "unsupported queue mode 'eager'"`],
  [{ 'x-queue-version': 3, 'x-single-active-consumer': 'a' }, {}, `invalid arg 'x-queue-version' for queue 'Q' in vhost '/': "unsupported queue version '3'"`],
  [{ 'x-queue-version': 3, 'x-overflow': 'x' }, {}, `invalid arg 'x-overflow' for queue 'Q' in vhost '/': invalid_overflow`],
  [{ 'x-single-active-consumer': 'a', 'x-queue-type': 'nope' }, {}, `invalid arg 'x-queue-type' for queue 'Q' in vhost '/': "unsupported queue type 'nope'"`],
  [{ 'x-message-ttl': 'a', 'x-queue-type': 'nope' }, {}, `invalid arg 'x-queue-type' for queue 'Q' in vhost '/': "unsupported queue type 'nope'"`],
  [{ 'x-quorum-initial-group-size': 3, 'x-message-ttl': 'a' }, {}, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  [{ 'x-quorum-initial-group-size': 'a' }, {}, `invalid arg 'x-quorum-initial-group-size' for queue 'Q' in vhost '/' of queue type rabbit_classic_queue`],
  [{ 'x-queue-type': 'quorum', 'x-queue-mode': 'eager' }, { durable: true }, `invalid arg 'x-queue-mode' for queue 'Q' in vhost '/' of queue type rabbit_quorum_queue`],
  [{ 'x-queue-type': 'quorum', 'x-queue-version': 2 }, { durable: true }, `invalid arg 'x-queue-version' for queue 'Q' in vhost '/' of queue type rabbit_quorum_queue`],
  [{ 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': 0 }, { durable: true }, `invalid arg 'x-quorum-initial-group-size' for queue 'Q' in vhost '/': {value_zero,0}`],
  [{ 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': -2 }, { durable: true }, `invalid arg 'x-quorum-initial-group-size' for queue 'Q' in vhost '/': {value_negative,-2}`],
  [{ 'x-queue-type': 'quorum', 'x-queue-leader-locator': 1, 'x-quorum-initial-group-size': 'a' }, { durable: true },
    `invalid arg 'x-quorum-initial-group-size' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  [{ 'x-queue-type': 'quorum', 'x-queue-leader-locator': 1 }, { durable: true }, `invalid arg 'x-queue-leader-locator' for queue 'Q' in vhost '/': {unacceptable_type,byte}`],
  [{ 'x-queue-leader-locator': 'balanced' }, {}, `invalid arg 'x-queue-leader-locator' for queue 'Q' in vhost '/' of queue type rabbit_classic_queue`],
  [{ 'x-max-in-memory-length': 1 }, {}, `invalid arg 'x-max-in-memory-length' for queue 'Q' in vhost '/' of queue type rabbit_classic_queue`],
  [{ 'x-max-in-memory-bytes': 1 }, {}, `invalid arg 'x-max-in-memory-bytes' for queue 'Q' in vhost '/' of queue type rabbit_classic_queue`],
  // a stream's, as RabbitMQ 3.10.8 answered them
  [{ 'x-queue-type': 'stream' }, {}, `invalid property 'non-durable' for queue 'Q' in vhost '/'`],
  [{ 'x-queue-type': 'stream' }, { durable: true, exclusive: true }, `invalid property 'exclusive-owner' for queue 'Q' in vhost '/'`],
  [{ 'x-queue-type': 'stream' }, { durable: true, autoDelete: true }, `invalid property 'auto-delete' for queue 'Q' in vhost '/'`],
  [{ 'x-queue-type': 'stream', 'x-message-ttl': 5 }, { durable: true }, `invalid arg 'x-message-ttl' for queue 'Q' in vhost '/' of queue type rabbit_stream_queue`],
  [{ 'x-queue-type': 'stream', 'x-single-active-consumer': true }, { durable: true }, `invalid arg 'x-single-active-consumer' for queue 'Q' in vhost '/' of queue type rabbit_stream_queue`],
  [{ 'x-queue-type': 'stream', 'x-max-age': 5 }, { durable: true }, `invalid arg 'x-max-age' for queue 'Q' in vhost '/': {unacceptable_type,byte}`],
  [{ 'x-queue-type': 'stream', 'x-max-age': '0s' }, { durable: true }, `invalid arg 'x-max-age' for queue 'Q' in vhost '/': invalid_max_age`],
  [{ 'x-queue-type': 'stream', 'x-max-age': '10ms' }, { durable: true }, `invalid arg 'x-max-age' for queue 'Q' in vhost '/': invalid_max_age`],
  [{ 'x-queue-type': 'stream', 'x-stream-max-segment-size-bytes': 'x' }, { durable: true },
    `invalid arg 'x-stream-max-segment-size-bytes' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  [{ 'x-queue-type': 'stream', 'x-stream-max-segment-size-bytes': -1 }, { durable: true }, `invalid arg 'x-stream-max-segment-size-bytes' for queue 'Q' in vhost '/': {value_negative,-1}`],
  [{ 'x-queue-type': 'stream', 'x-max-length-bytes': 'x' }, { durable: true }, `invalid arg 'x-max-length-bytes' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  [{ 'x-queue-type': 'stream', 'x-initial-cluster-size': 'x' }, { durable: true }, `invalid arg 'x-initial-cluster-size' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  // a stream's own values are checked before the arguments it does not take and its properties, but after the common ones
  [{ 'x-queue-type': 'stream', 'x-max-length': 5, 'x-max-age': '0s' }, { durable: true }, `invalid arg 'x-max-age' for queue 'Q' in vhost '/': invalid_max_age`],
  [{ 'x-queue-type': 'stream', 'x-max-age': '5' }, {}, `invalid arg 'x-max-age' for queue 'Q' in vhost '/': invalid_max_age`],
  [{ 'x-queue-type': 'stream', 'x-max-age': '5constructor' }, { durable: true }, `invalid arg 'x-max-age' for queue 'Q' in vhost '/': invalid_max_age`],
  [{ 'x-queue-type': 'stream', 'x-max-age': '1__proto__' }, { durable: true }, `invalid arg 'x-max-age' for queue 'Q' in vhost '/': invalid_max_age`],
  [{ 'x-queue-type': 'stream', 'x-max-age': '0s', 'x-max-length-bytes': 'x' }, { durable: true }, `invalid arg 'x-max-length-bytes' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  [{ 'x-queue-type': 'stream', 'x-queue-leader-locator': 1, 'x-stream-max-segment-size-bytes': 'x' }, { durable: true },
    `invalid arg 'x-stream-max-segment-size-bytes' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
  // elsewhere the type refuses them first
  [{ 'x-max-age': 'bogus' }, { durable: true }, `invalid arg 'x-max-age' for queue 'Q' in vhost '/' of queue type rabbit_classic_queue`],
  [{ 'x-stream-max-segment-size-bytes': 'x' }, { durable: true }, `invalid arg 'x-stream-max-segment-size-bytes' for queue 'Q' in vhost '/' of queue type rabbit_classic_queue`],
];

const ACCEPTED: Record<string, unknown>[] = [
  { 'x-message-ttl': 0 },
  { 'x-message-ttl': 4294967296 },
  { 'x-expires': 1 },
  { 'x-expires': 315_360_000_000 },
  { 'x-message-ttl': 315_360_000_000 },
  { 'x-max-length': 0 },
  { 'x-max-length-bytes': 0 },
  { 'x-overflow': 'drop-head' },
  { 'x-overflow': 'reject-publish' },
  { 'x-overflow': 'reject-publish-dlx' },
  { 'x-dead-letter-exchange': 'amq.not-there' },
  { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'k' },
  { 'x-max-priority': 0 },
  { 'x-max-priority': 255 },
  { 'x-single-active-consumer': true },
  { 'x-queue-type': 'classic' },
  { 'x-queue-mode': 'lazy' },
  { 'x-queue-version': 1 },
  { 'x-queue-version': { '!': 'long', value: 2 } },
  { 'x-queue-master-locator': 'min-masters' },
  { 'x-foo': 'anything' },
  // any integer type
  { 'x-max-length': { '!': 'int', value: 10 } },
  { 'x-max-length': { '!': 'long', value: 10 } },
  { 'x-message-ttl': { '!': 'short', value: 10 } },
  { 'x-expires': { '!': 'long', value: 10_000 } },
];

describe.each(MODES)('queue arguments: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('refuses each bad argument with RabbitMQ 3.10 reply text, creates nothing, and the connection goes on', async () => {
    const conn = await server.connect();
    const other = await channel(conn);
    for (const [args, options, text] of REFUSED) {
      const ch = await channel(conn);
      const name = uniq('bad-arg');
      const reply = await refused(ch.assertQueue(name, { durable: false, ...options, arguments: args }));
      expect(reply, JSON.stringify(args)).toEqual({ code: 406, text: `PRECONDITION_FAILED - ${text.replace('Q', name)}` });
      expect(await queueExists(conn, name)).toBe(false);
    }
    // the channel that did nothing wrong still works
    const { queue } = await other.assertQueue('', { exclusive: true });
    expect(queue).toMatch(/^amq\.gen-/);
  });

  it('a server-named queue is a classic one: asked for a quorum or stream queue, RabbitMQ refuses before any other check', async () => {
    const conn = await server.connect();
    const other = await channel(conn);
    // RabbitMQ 3.10.8's answers to the same amqplib calls; the bad x-dead-letter-exchange, the
    // exclusive and auto-delete properties and the quorum-only argument are never reached.
    const cases: [Record<string, unknown>, { durable?: boolean; exclusive?: boolean; autoDelete?: boolean }, string][] = [
      [{ 'x-queue-type': 'quorum' }, { durable: true }, 'rabbit_quorum_queue'],
      [{ 'x-queue-type': 'stream' }, { durable: true }, 'rabbit_stream_queue'],
      [{ 'x-queue-type': 'quorum', 'x-dead-letter-exchange': 5 }, { durable: false, exclusive: true, autoDelete: true }, 'rabbit_quorum_queue'],
      [{ 'x-queue-type': 'quorum', 'x-max-priority': 5 }, { durable: true }, 'rabbit_quorum_queue'],
    ];
    for (const [args, options, type] of cases) {
      const ch = await channel(conn);
      const reply = await refused(ch.assertQueue('', { ...options, arguments: args }));
      expect(reply, JSON.stringify(args)).toEqual({ code: 406, text: `PRECONDITION_FAILED - Cannot declare a server-named queue for type ${type}` });
    }
    // A named quorum queue and a server-named classic one are still fine.
    const ch = await channel(conn);
    const quorum = uniq('quorum-named');
    await ch.assertQueue(quorum, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.deleteQueue(quorum);
    expect((await ch.assertQueue('', { exclusive: true, arguments: { 'x-queue-type': 'classic' } })).queue).toMatch(/^amq\.gen-/);
    // the channel that did nothing wrong still works
    expect((await other.assertQueue('', { exclusive: true })).queue).toMatch(/^amq\.gen-/);
  });

  it('accepts the values RabbitMQ accepts', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    for (const args of ACCEPTED) {
      const name = uniq('ok-arg');
      await ch.assertQueue(name, { durable: false, arguments: args });
      await ch.deleteQueue(name);
    }
    const quorum = uniq('quorum');
    await ch.assertQueue(quorum, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 3, 'x-message-ttl': 5 } });
    await ch.deleteQueue(quorum);
  });

  it('integer arguments: any non-negative integer is accepted, any negative one refused with its value', async () => {
    const conn = await server.connect();
    const keys = ['x-message-ttl', 'x-max-length', 'x-max-length-bytes'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...keys), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), async (key, value) => {
        const ch = await channel(conn); // a refusal closes it
        const name = uniq('int-arg');
        const declared = ch.assertQueue(name, { durable: false, arguments: { [key]: value } });
        if (value >= 0) {
          await declared;
          await ch.deleteQueue(name);
          await ch.close();
          return;
        }
        const reply = await refused(declared);
        expect(reply.text).toBe(`PRECONDITION_FAILED - invalid arg '${key}' for queue '${name}' in vhost '/': {value_negative,${value}}`);
      }),
      { numRuns: 30 },
    );
  });

  it('a redeclare compares the arguments as before (no new checks on an existing queue)', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const name = uniq('redeclare');
    await ch.assertQueue(name, { durable: false, arguments: { 'x-message-ttl': 100 } });
    await ch.assertQueue(name, { durable: false, arguments: { 'x-message-ttl': 100 } });
    const reply = await refused(ch.assertQueue(name, { durable: false, arguments: { 'x-message-ttl': 200 } }));
    expect(reply).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '${name}' in vhost '/': received '200' but current is '100'`,
    });
    // With one side missing, RabbitMQ names the other's type as it was sent.
    const typed = uniq('redeclare-typed');
    await (await channel(conn)).assertQueue(typed, { durable: false, arguments: { 'x-max-length': { '!': 'long', value: 10 } } });
    expect((await refused((await channel(conn)).assertQueue(typed, { durable: false }))).text).toBe(
      `PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '${typed}' in vhost '/': received none but current is the value '10' of type 'long'`,
    );
    const bare = uniq('redeclare-bare');
    await (await channel(conn)).assertQueue(bare, { durable: false });
    expect((await refused((await channel(conn)).assertQueue(bare, { durable: false, arguments: { 'x-max-length': { '!': 'int', value: 10 } } }))).text).toBe(
      `PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '${bare}' in vhost '/': received the value '10' of type 'signedint' but current is none`,
    );
  });

  it("a redeclare compares the arguments its queue's type takes, in RabbitMQ 3.10.8's order", async () => {
    const conn = await server.connect();
    const quorum = (args: Record<string, unknown>) => ({ 'x-queue-type': 'quorum', ...args });
    const cases: [Record<string, unknown>, Record<string, unknown>, string][] = [
      [{ 'x-queue-version': 1 }, { 'x-queue-version': 2 }, "inequivalent arg 'x-queue-version' for queue 'Q' in vhost '/': received '2' but current is '1'"],
      [{ 'x-queue-version': 1 }, {}, "inequivalent arg 'x-queue-version' for queue 'Q' in vhost '/': received none but current is the value '1' of type 'byte'"],
      [{ 'x-single-active-consumer': true }, { 'x-queue-type': 'quorum' }, "inequivalent arg 'x-single-active-consumer' for queue 'Q' in vhost '/': received none but current is the value 'true' of type 'bool'"],
      [{ 'x-queue-version': 1 }, { 'x-queue-version': 2, 'x-single-active-consumer': true }, "inequivalent arg 'x-queue-version' for queue 'Q' in vhost '/': received '2' but current is '1'"],
      [quorum({ 'x-max-in-memory-length': 1 }), quorum({ 'x-max-in-memory-length': 2 }), "inequivalent arg 'x-max-in-memory-length' for queue 'Q' in vhost '/': received '2' but current is '1'"],
      [quorum({ 'x-quorum-initial-group-size': 1 }), quorum({ 'x-quorum-initial-group-size': 3, 'x-queue-leader-locator': 'balanced' }),
        "inequivalent arg 'x-quorum-initial-group-size' for queue 'Q' in vhost '/': received '3' but current is '1'"],
      [quorum({ 'x-queue-leader-locator': 'client-local' }), quorum({ 'x-queue-leader-locator': 'balanced' }),
        "inequivalent arg 'x-queue-leader-locator' for queue 'Q' in vhost '/': received 'balanced' but current is 'client-local'"],
      [quorum({ 'x-delivery-limit': 1 }), quorum({ 'x-delivery-limit': 3 }), "inequivalent arg 'x-delivery-limit' for queue 'Q' in vhost '/': received '3' but current is '1'"],
    ];
    for (const [first, second, refusal] of cases) {
      const name = uniq('compared');
      const ch = await channel(conn);
      await ch.assertQueue(name, { durable: true, arguments: first });
      const reply = await refused((await channel(conn)).assertQueue(name, { durable: true, arguments: second }));
      expect(reply, JSON.stringify([first, second])).toEqual({ code: 406, text: `PRECONDITION_FAILED - ${refusal.replace('Q', name)}` });
      await ch.deleteQueue(name);
    }
  });

  it('basic.consume: x-priority an integer, x-cancel-on-ha-failover a bool, x-stream-offset only on a stream (RabbitMQ 3.10.8)', async () => {
    const conn = await server.connect();
    const classic = uniq('consume-args');
    const quorum = uniq('consume-args-qq');
    const setup = await channel(conn);
    await setup.assertQueue(classic, { durable: false });
    await setup.assertQueue(quorum, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const cases: [string, Record<string, unknown>, string | null][] = [
      [classic, { 'x-priority': 'a', 'x-stream-offset': 'first' }, `invalid arg 'x-priority' for queue 'Q' in vhost '/': "expected integer, got longstr"`],
      [classic, { 'x-priority': { '!': 'double', value: 5 } }, `invalid arg 'x-priority' for queue 'Q' in vhost '/': "expected integer, got double"`],
      [classic, { 'x-cancel-on-ha-failover': 'a', 'x-stream-offset': 1 }, `invalid arg 'x-cancel-on-ha-failover' for queue 'Q' in vhost '/': {unacceptable_type,longstr}`],
      [classic, { 'x-stream-offset': 'first' }, `invalid arg 'x-stream-offset' for queue 'Q' in vhost '/' of queue type rabbit_classic_queue`],
      [quorum, { 'x-stream-offset': 5 }, `invalid arg 'x-stream-offset' for queue 'Q' in vhost '/' of queue type rabbit_quorum_queue`],
      [classic, { 'x-cancel-on-ha-failover': true, 'x-priority': { '!': 'long', value: 3 } }, null],
    ];
    for (const [queue, args, refusal] of cases) {
      const ch = await channel(conn);
      const consumed = ch.consume(queue, () => {}, { arguments: args });
      if (refusal === null) expect((await consumed).consumerTag).toMatch(/^amq\.ctag-/);
      else expect(await refused(consumed), JSON.stringify(args)).toEqual({ code: 406, text: `PRECONDITION_FAILED - ${refusal.replace('Q', queue)}` });
    }
    // The arguments are checked before exclusive use, as RabbitMQ 3.10.8 checks them: 406, not 403.
    const owned = uniq('consume-args-owned');
    await setup.assertQueue(owned, { durable: false });
    await (await channel(conn)).consume(owned, () => {}, { exclusive: true });
    for (const args of [{ 'x-priority': 'a' }, { 'x-stream-offset': 'first' }]) {
      const ch = await channel(conn);
      expect((await refused(ch.consume(owned, () => {}, { exclusive: true, arguments: args }))).code, JSON.stringify(args)).toBe(406);
    }
    const ch = await channel(conn);
    expect((await refused(ch.consume(owned, () => {}))).code).toBe(403);
    await setup.deleteQueue(quorum);
  });

  it("x-queue-type: a classic queue's may be given or left out on a redeclare; a quorum queue's may not (RabbitMQ 3.10.8)", async () => {
    const conn = await server.connect();
    const cases: [Record<string, string>, Record<string, string>, string | null][] = [
      [{}, { 'x-queue-type': 'classic' }, null],
      [{ 'x-queue-type': 'classic' }, {}, null],
      [{ 'x-queue-type': 'quorum' }, {}, "received none but current is the value 'quorum' of type 'longstr'"],
      [{}, { 'x-queue-type': 'quorum' }, "received the value 'quorum' of type 'longstr' but current is none"],
      [{ 'x-queue-type': 'classic' }, { 'x-queue-type': 'quorum' }, "received 'quorum' but current is 'classic'"],
    ];
    for (const [first, second, refusal] of cases) {
      const name = uniq('queue-type');
      const ch = await channel(conn);
      await ch.assertQueue(name, { durable: true, arguments: first });
      const again = (await channel(conn)).assertQueue(name, { durable: true, arguments: second });
      if (refusal === null) expect((await again).queue).toBe(name);
      else expect((await refused(again)).text).toBe(`PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue '${name}' in vhost '/': ${refusal}`);
      await ch.deleteQueue(name);
    }
  });

  it('a headers binding takes x-match all, any, all-with-x, any-with-x; anything else is a 406 as in RabbitMQ', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (const mode of ['all', 'any', 'all-with-x', 'any-with-x']) await ch.bindQueue(queue, 'amq.headers', '', { 'x-match': mode, a: 1 });
    expect(await refused((await channel(conn)).bindQueue(queue, 'amq.headers', '', { 'x-match': 'bogus' }))).toEqual({
      code: 406,
      text: 'PRECONDITION_FAILED - Invalid x-match field value <<"bogus">>; expected all, any, all-with-x, or any-with-x',
    });
    expect(await refused((await channel(conn)).bindQueue(queue, 'amq.headers', '', { 'x-match': 1 }))).toEqual({
      code: 406,
      text: 'PRECONDITION_FAILED - Invalid x-match field type byte (value 1); expected longstr',
    });
    expect(await refused((await channel(conn)).bindQueue(queue, 'amq.headers', '', { 'x-match': { '!': 'long', value: 1 } }))).toEqual({
      code: 406,
      text: 'PRECONDITION_FAILED - Invalid x-match field type long (value 1); expected longstr',
    });
    // exchange-to-exchange too
    const ch2 = await channel(conn);
    const x = uniq('hx');
    await ch2.assertExchange(x, 'fanout', { autoDelete: true });
    expect((await refused(ch2.bindExchange(x, 'amq.match', '', { 'x-match': 'none' }))).code).toBe(406);
    // other exchange types do not look at x-match
    const ch3 = await channel(conn);
    await ch3.bindQueue(queue, 'amq.direct', 'k', { 'x-match': 'bogus' });
  });
});
