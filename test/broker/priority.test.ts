/**
 * Priority queues (x-max-priority), as RabbitMQ's classic ones: higher
 * priorities first, publish order within a priority, priorities above the
 * maximum count as the maximum, absent as 0; requeued messages go back to
 * their place. Every message is numbered.
 */
import type { GetMessage } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, bodies, confirmChannel, drain, eventually, subscribe, useBroker } from '../helpers.js';

/** The order RabbitMQ hands them out: by capped priority, highest first, then publish order. */
function expectedOrder(priorities: (number | undefined)[], max: number): string[] {
  return priorities
    .map((p, i) => ({ body: `m${i}`, p: Math.min(p ?? 0, max), i }))
    .sort((a, b) => b.p - a.p || a.i - b.i)
    .map((m) => m.body);
}

describe.each(MODES)('priority queues: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('hands out higher priorities first, in publish order within one, capped at x-max-priority', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 10 }),
        fc.array(fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }), { maxLength: 40 }),
        async (max, priorities) => {
          const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-priority': max } });
          priorities.forEach((priority, i) => ch.sendToQueue(queue, Buffer.from(`m${i}`), priority === undefined ? {} : { priority }));
          await ch.waitForConfirms();
          expect(await drain(ch, queue)).toEqual(expectedOrder(priorities, max));
          await ch.deleteQueue(queue);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('requeued messages go back to their place in their priority', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-priority': 5 } });
    const priorities = [1, 5, 1, 3, 5, 0, 3];
    priorities.forEach((priority, i) => ch.sendToQueue(queue, Buffer.from(`m${i}`), { priority }));
    await ch.waitForConfirms();
    const order = expectedOrder(priorities, 5);
    const taken: GetMessage[] = [];
    for (let i = 0; i < 4; i++) taken.push((await ch.get(queue, { noAck: false })) as GetMessage);
    expect(bodies(taken)).toEqual(order.slice(0, 4));
    ch.nackAll(true);
    const again: GetMessage[] = [];
    for (let i = 0; i < priorities.length; i++) again.push((await ch.get(queue, { noAck: true })) as GetMessage);
    expect(bodies(again)).toEqual(order);
    expect(again.map((m) => m.fields.redelivered)).toEqual(order.map((_, i) => i < 4));
  });

  it('a busy consumer gets the highest waiting priority next', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-priority': 9 } });
    await ch.prefetch(1);
    const inbox = await subscribe(ch, queue, { noAck: false });
    ch.sendToQueue(queue, Buffer.from('first'), { priority: 0 });
    await inbox.waitFor(1);
    for (let p = 0; p <= 9; p++) ch.sendToQueue(queue, Buffer.from(`p${p}`), { priority: p });
    await ch.waitForConfirms();
    for (let n = 1; n <= 11; n++) {
      const got = await inbox.waitFor(n);
      ch.ack(got[n - 1]);
    }
    expect(bodies(inbox.messages)).toEqual(['first', 'p9', 'p8', 'p7', 'p6', 'p5', 'p4', 'p3', 'p2', 'p1', 'p0']);
  });

  it('a consumer with room takes a burst in publish order: priority orders only what waits (RabbitMQ 3.10)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 2, maxLength: 40 }), fc.constantFrom(0, 1, 3), async (priorities, prefetch) => {
        const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-priority': 9 } });
        const consumer = await confirmChannel(conn);
        await consumer.prefetch(prefetch);
        const inbox = await subscribe(consumer, queue, { noAck: false });
        // One burst, nothing awaited in between: it may reach the queue in one batch.
        priorities.forEach((p, i) => ch.sendToQueue(queue, Buffer.from(`m${i}`), { priority: p }));
        await ch.waitForConfirms();
        // Unlimited room: all in publish order. Else the first `prefetch` as they came, then the rest by priority as acks free room.
        const room = prefetch === 0 ? priorities.length : Math.min(prefetch, priorities.length);
        const waiting = priorities.map((p, i) => ({ p, i })).slice(room).sort((a, b) => b.p - a.p || a.i - b.i);
        const expected = [...priorities.slice(0, room).map((_, i) => `m${i}`), ...waiting.map(({ i }) => `m${i}`)];
        // Each ack frees room for the highest waiting priority.
        for (let n = 1; n <= priorities.length; n++) consumer.ack((await inbox.waitFor(n))[n - 1]);
        expect(bodies(inbox.messages)).toEqual(expected);
        await consumer.close();
        await ch.deleteQueue(queue);
      }),
      { numRuns: 15 },
    );
  });

  it('with a TTL of 0 and no consumer, messages die as they arrive: dead-lettered in publish order, not by priority (RabbitMQ 3.10.8)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue: deadLetters } = await ch.assertQueue('', { exclusive: true });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }), { minLength: 2, maxLength: 40 }), async (priorities) => {
        const { queue } = await ch.assertQueue('', {
          exclusive: true,
          arguments: { 'x-max-priority': 9, 'x-message-ttl': 0, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetters },
        });
        // Written together, so that the broker takes them in one batch.
        priorities.forEach((priority, i) => ch.sendToQueue(queue, Buffer.from(`m${i}`), priority === undefined ? {} : { priority }));
        await ch.waitForConfirms();
        await eventually(async () => expect((await ch.checkQueue(deadLetters)).messageCount).toBe(priorities.length));
        expect(await drain(ch, deadLetters)).toEqual(priorities.map((_, i) => `m${i}`));
        expect((await ch.checkQueue(queue)).messageCount).toBe(0);
        await ch.deleteQueue(queue);
      }),
      { numRuns: 25 },
    );
  });

  it('messages with a TTL of 0 among living ones: one that arrives at the head dies, one behind others of its priority or above waits for the head (fast-check against a model)', async () => {
    const MAX = 2;
    /** Lanes by priority; the heads from the highest lane down lose their expired messages, after each publish and each get. */
    function model(messages: { priority?: number; dies: boolean }[]): { afterPublish: number; gets: string[] } {
      const lanes: { body: string; dies: boolean }[][] = [[], [], []];
      const total = () => lanes.reduce((n, lane) => n + lane.length, 0);
      const dropExpiredHeads = () => {
        for (let p = MAX; p >= 0; p--) {
          while (lanes[p]!.length > 0 && lanes[p]![0]!.dies) lanes[p]!.shift();
          if (lanes[p]!.length > 0) break;
        }
      };
      messages.forEach((m, i) => {
        lanes[Math.min(m.priority ?? 0, MAX)]!.push({ body: `m${i}`, dies: m.dies });
        dropExpiredHeads();
      });
      const afterPublish = total();
      const gets: string[] = [];
      for (let lane = lanes.findLast((l) => l.length > 0); lane !== undefined; lane = lanes.findLast((l) => l.length > 0)) {
        const m = lane.shift()!;
        dropExpiredHeads();
        gets.push(`${m.body} ${total()}`);
      }
      return { afterPublish, gets };
    }
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ priority: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }), dies: fc.boolean() }), { maxLength: 12 }), async (messages) => {
        const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-priority': MAX } });
        messages.forEach((m, i) => ch.sendToQueue(queue, Buffer.from(`m${i}`), { ...(m.priority === undefined ? {} : { priority: m.priority }), ...(m.dies ? { expiration: '0' } : {}) }));
        await ch.waitForConfirms();
        const afterPublish = (await ch.checkQueue(queue)).messageCount;
        const gets: string[] = [];
        for (let m = await ch.get(queue, { noAck: true }); m !== false; m = await ch.get(queue, { noAck: true })) gets.push(`${m.content} ${m.fields.messageCount}`);
        expect({ afterPublish, gets }).toEqual(model(messages));
        await ch.deleteQueue(queue);
      }),
      { numRuns: 40 },
    );
  });

  it('a multiple nack without requeue dead-letters the highest priority first, delivery order within one (RabbitMQ 3.10.8)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue: deadLetters } = await ch.assertQueue('', { exclusive: true });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 9 }),
        fc.array(fc.record({ priority: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }), ackedFirst: fc.boolean() }), { minLength: 1, maxLength: 30 }),
        fc.nat(),
        async (max, messages, upTo) => {
          const { queue } = await ch.assertQueue('', {
            exclusive: true,
            arguments: { 'x-max-priority': max, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetters },
          });
          const consumer = await confirmChannel(conn);
          const inbox = await subscribe(consumer, queue, { noAck: false });
          // With room for all, the consumer takes them in publish order.
          messages.forEach(({ priority }, i) => ch.sendToQueue(queue, Buffer.from(`m${i}`), priority === undefined ? {} : { priority }));
          await ch.waitForConfirms();
          const delivered = await inbox.waitFor(messages.length);
          const last = upTo % messages.length;
          messages.forEach(({ ackedFirst }, i) => ackedFirst && i !== last && consumer.ack(delivered[i]));
          consumer.nack(delivered[last], true, false);
          const rejected = messages
            .map(({ priority, ackedFirst }, i) => ({ p: Math.min(priority ?? 0, max), i, ackedFirst }))
            .filter(({ i, ackedFirst }) => i <= last && (i === last || !ackedFirst))
            .sort((a, b) => b.p - a.p || a.i - b.i)
            .map(({ i }) => `m${i}`);
          await eventually(async () => expect((await ch.checkQueue(deadLetters)).messageCount).toBe(rejected.length));
          expect(await drain(ch, deadLetters)).toEqual(rejected);
          await consumer.close();
          await ch.deleteQueue(queue);
        },
      ),
      { numRuns: 25 },
    );
  });
});
