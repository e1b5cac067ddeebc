/**
 * Which consumer gets a message, as RabbitMQ 3.10: consumer priorities
 * (x-priority on basic.consume: the highest-priority consumers with room,
 * round-robin among them, lower ones only when those are full) and single
 * active consumer queues (x-single-active-consumer: only the active
 * consumer gets messages; the first to subscribe, then, when it goes, the
 * waiting one of highest priority). Every message is numbered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, bodies, channel, confirmChannel, refused, sleep, subscribe, uniq, useBroker } from '../helpers.js';

const numbered = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe.each(MODES)('consumer priorities and single active consumer: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('x-priority: the highest consumers with room first, round-robin among them; lower ones take the overflow', async () => {
    const conn = await server.connect();
    const pub = await confirmChannel(conn);
    const { queue } = await pub.assertQueue('', { exclusive: true });
    const consumer = async (priority: number | undefined) => {
      const ch = await channel(conn);
      await ch.prefetch(2);
      return { ch, inbox: await subscribe(ch, queue, { noAck: false, ...(priority === undefined ? {} : { arguments: { 'x-priority': priority } }) }) };
    };
    const low = await consumer(undefined);
    const high = await consumer(5);
    const high2 = await consumer(5);
    const negative = await consumer(-3);
    for (const body of numbered(10)) pub.sendToQueue(queue, Buffer.from(body));
    await pub.waitForConfirms();
    await sleep(200);
    expect(bodies(high.inbox.messages)).toEqual(['m0', 'm2']);
    expect(bodies(high2.inbox.messages)).toEqual(['m1', 'm3']);
    expect(bodies(low.inbox.messages)).toEqual(['m4', 'm5']);
    expect(bodies(negative.inbox.messages)).toEqual(['m6', 'm7']);
    // an ack makes room at the top: the next message goes there
    high2.ch.ack(high2.inbox.messages[0]);
    await high2.inbox.waitFor(3);
    expect(bodies(high2.inbox.messages)).toEqual(['m1', 'm3', 'm8']);
    expect((await pub.checkQueue(queue)).messageCount).toBe(1);
  });

  it('x-priority must be an integer: 406 with RabbitMQ 3.10 text', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (const [value, type] of [['abc', 'longstr'], [1.5, 'double'], [true, 'bool']] as const) {
      const c = await channel(conn);
      expect(await refused(c.consume(queue, () => {}, { arguments: { 'x-priority': value } }))).toEqual({
        code: 406,
        text: `PRECONDITION_FAILED - invalid arg 'x-priority' for queue '${queue}' in vhost '/': "expected integer, got ${type}"`,
      });
    }
    await ch.consume(queue, () => {}, { arguments: { 'x-priority': 2 ** 40 } });
  });

  it('x-single-active-consumer: only the earliest consumer gets messages, the next takes over when it goes', async () => {
    const conn = await server.connect();
    const pub = await confirmChannel(conn);
    const queue = uniq('sac');
    await pub.assertQueue(queue, { exclusive: true, arguments: { 'x-single-active-consumer': true } });
    const [ch1, ch2, ch3] = [await channel(conn), await channel(conn), await channel(conn)];
    const first = await subscribe(ch1, queue, { noAck: false });
    const second = await subscribe(ch2, queue, { noAck: true, arguments: { 'x-priority': 10 } }); // 3.10: priority does not pick the active one
    const third = await subscribe(ch3, queue, { noAck: true });
    for (const body of numbered(20, 'a')) pub.sendToQueue(queue, Buffer.from(body));
    await pub.waitForConfirms();
    const got = await first.waitFor(20);
    expect(bodies(got)).toEqual(numbered(20, 'a'));
    for (const m of got.slice(0, 15)) ch1.ack(m);
    expect((await pub.checkQueue(queue)).consumerCount).toBe(3);
    // a waiting consumer leaving changes nothing
    await ch2.cancel(second.consumerTag);
    for (const body of numbered(3, 'b')) pub.sendToQueue(queue, Buffer.from(body));
    await pub.waitForConfirms();
    expect(bodies(await first.waitFor(23))).toEqual([...numbered(20, 'a'), ...numbered(3, 'b')]);
    // the active one goes (its unacked messages back to the queue): the next in subscription order takes over
    await ch1.close();
    for (const body of numbered(3, 'c')) pub.sendToQueue(queue, Buffer.from(body));
    await pub.waitForConfirms();
    const taken = await third.waitFor(11);
    expect(bodies(taken)).toEqual([...numbered(20, 'a').slice(15), ...numbered(3, 'b'), ...numbered(3, 'c')]);
    expect(taken.map((m) => m.fields.redelivered)).toEqual([...Array(8).fill(true), false, false, false]);
    await sleep(100);
    expect(second.messages).toHaveLength(0);
    expect(third.messages).toHaveLength(11);
  });

  it('x-single-active-consumer: when the active one goes, the waiting consumer of highest x-priority takes over, the earliest of those', async () => {
    // RabbitMQ 3.10 (checked with a script beside it): priority does not unseat the active consumer, it picks the next one
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: -2, max: 2 }), { minLength: 2, maxLength: 5 }), fc.constantFrom('cancel', 'close'), async (priorities, how) => {
        const conn = await server.connect();
        const pub = await confirmChannel(conn);
        const queue = uniq('sac-next');
        await pub.assertQueue(queue, { exclusive: true, arguments: { 'x-single-active-consumer': true } });
        const consumers = [];
        for (const priority of priorities) {
          const ch = await channel(conn);
          consumers.push({ ch, priority, inbox: await subscribe(ch, queue, { noAck: true, arguments: { 'x-priority': priority } }) });
        }
        // each active one in turn goes after taking a message: the expected order of takers
        const waiting = consumers.map((c, i) => ({ ...c, i }));
        let active = waiting.shift()!;
        for (let round = 0; round < priorities.length; round++) {
          pub.sendToQueue(queue, Buffer.from(`m${round}`));
          await pub.waitForConfirms();
          expect(bodies(await active.inbox.waitFor(1)), `round ${round}: consumer ${active.i} of ${JSON.stringify(priorities)}`).toEqual([`m${round}`]);
          if (how === 'cancel') await active.ch.cancel(active.inbox.consumerTag);
          else await active.ch.close();
          if (waiting.length === 0) break;
          const top = Math.max(...waiting.map((c) => c.priority));
          active = waiting.splice(waiting.findIndex((c) => c.priority === top), 1)[0]!;
        }
        await sleep(50);
        expect(consumers.map((c) => c.inbox.messages.length)).toEqual(priorities.map(() => 1));
        await conn.close();
      }),
      { numRuns: 15 },
    );
  });

  it('x-single-active-consumer: an exclusive consume is refused (403), with consumers or without, as RabbitMQ 3.10', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('sac-exclusive');
    await ch.assertQueue(queue, { exclusive: true, arguments: { 'x-single-active-consumer': true } });
    const inUse = { code: 403, text: `ACCESS_REFUSED - queue '${queue}' in vhost '/' in exclusive use` };
    expect(await refused((await channel(conn)).consume(queue, () => {}, { exclusive: true }))).toEqual(inUse);
    await ch.consume(queue, () => {});
    expect(await refused((await channel(conn)).consume(queue, () => {}, { exclusive: true }))).toEqual(inUse);
    // a queue without the argument still takes an exclusive consumer when it has none
    const { queue: plain } = await ch.assertQueue('', { exclusive: true });
    await ch.consume(plain, () => {}, { exclusive: true });
  });
});
