/**
 * Length limits, as RabbitMQ 3.10's classic queues: x-max-length counts ready
 * messages, x-max-length-bytes their body bytes; x-overflow drop-head (the
 * default) drops the oldest, reject-publish refuses the newest (basic.nack in
 * confirm mode), reject-publish-dlx also dead-letters it. Every message is
 * numbered and each one's fate (kept, dropped, nacked) is checked.
 */
import type { ConfirmChannel } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, confirmChannel, drain, eventually, subscribe, uniq, useBroker } from '../helpers.js';

const numbered = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);

/** Publishes each body and waits for every confirm; returns the nacked bodies. */
async function publishAll(ch: ConfirmChannel, queue: string, messages: string[]): Promise<string[]> {
  const nacked: string[] = [];
  await Promise.all(
    messages.map(
      (body) =>
        new Promise<void>((resolve) =>
          ch.sendToQueue(queue, Buffer.from(body), {}, (err) => {
            if (err) nacked.push(body);
            resolve();
          }),
        ),
    ),
  );
  return nacked;
}

describe.each(MODES)('length limits: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('x-max-length with drop-head keeps the newest, for any limit and count', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 60 }), async (limit, count) => {
        const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length': limit } });
        const messages = numbered(count);
        expect(await publishAll(ch, queue, messages)).toEqual([]);
        expect((await ch.checkQueue(queue)).messageCount).toBe(Math.min(limit, count));
        expect(await drain(ch, queue)).toEqual(messages.slice(Math.max(0, count - limit)));
        await ch.deleteQueue(queue);
      }),
      { numRuns: 15 },
    );
  });

  it('drop-head applies publish by publish: a basic.get, count or purge right behind the publishes on one channel sees only the newest', async () => {
    const conn = await server.connect();
    const ch = await conn.createChannel();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 300 }), fc.constantFrom('get', 'count', 'purge'), async (limit, count, read) => {
        const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length': limit } });
        // Nothing awaited in between: the read comes in the same batch as the publishes.
        for (const body of numbered(count)) ch.sendToQueue(queue, Buffer.from(body));
        const kept = numbered(count).slice(Math.max(0, count - limit));
        if (read === 'get') {
          const got = await ch.get(queue, { noAck: true });
          expect(got === false ? null : got.content.toString()).toBe(kept[0] ?? null);
          expect(await drain(ch, queue)).toEqual(kept.slice(1));
        } else if (read === 'count') {
          expect((await ch.checkQueue(queue)).messageCount).toBe(kept.length);
        } else {
          expect((await ch.purgeQueue(queue)).messageCount).toBe(kept.length);
        }
        await ch.deleteQueue(queue);
      }),
      { numRuns: 30 },
    );
  });

  it('x-max-length-bytes counts body bytes only', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length-bytes': 10 } });
    await publishAll(ch, queue, ['aaaa', 'bbbb', 'cccc', 'dd']); // 14 bytes: the first goes
    expect(await drain(ch, queue)).toEqual(['bbbb', 'cccc', 'dd']);
    // a body larger than the limit on its own does not stay
    await publishAll(ch, queue, ['x'.repeat(11)]);
    expect(await drain(ch, queue)).toEqual([]);
    // properties and headers are not body bytes
    ch.sendToQueue(queue, Buffer.from('0123456789'), { headers: { big: 'h'.repeat(1000) }, messageId: 'id' });
    await ch.waitForConfirms();
    expect(await drain(ch, queue)).toEqual(['0123456789']);
  });

  it('unacked messages do not count; the limit applies to what is ready', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length': 2 } });
    await publishAll(ch, queue, ['a', 'b']);
    const held = [await ch.get(queue), await ch.get(queue)];
    await publishAll(ch, queue, ['c', 'd', 'e']);
    expect((await ch.checkQueue(queue)).messageCount).toBe(2);
    for (const m of held) ch.ack(m as any);
    expect(await drain(ch, queue)).toEqual(['d', 'e']);
  });

  it('requeued past a drop-head limit, the head goes (dead-lettered as maxlen) before any delivery; reject-publish keeps them all', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom('drop-head', 'reject-publish'), fc.constantFrom('nack', 'recover', 'close'),
        async (limit, held, overflow, requeueBy) => {
          const { queue: dead } = await ch.assertQueue('', { exclusive: true });
          const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length': limit, 'x-overflow': overflow, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
          // `held` messages taken unacked (in rounds within the limit), then the queue filled to its limit behind them
          const first = numbered(held);
          const taker = await confirmChannel(conn);
          for (let i = 0; i < held; i += limit) {
            expect(await publishAll(ch, queue, first.slice(i, i + limit))).toEqual([]);
            for (let j = i; j < Math.min(held, i + limit); j++) expect(await taker.get(queue, { noAck: false })).not.toBe(false);
          }
          const rest = numbered(limit).map((b) => `r${b}`);
          expect(await publishAll(ch, queue, rest)).toEqual([]);
          if (requeueBy === 'nack') taker.nackAll(true);
          else if (requeueBy === 'recover') await taker.recover();
          await taker.close(); // requeues what the other two left unacked (nothing)
          // They come back ahead of `rest` (their first places); over a drop-head limit the oldest go.
          const all = [...first, ...rest];
          const kept = overflow === 'drop-head' ? all.slice(all.length - limit) : all;
          expect(await drain(ch, queue)).toEqual(kept);
          const died = overflow === 'drop-head' ? all.slice(0, all.length - limit) : [];
          await eventually(async () => expect((await ch.checkQueue(dead)).messageCount).toBe(died.length), 2000);
          expect(await drain(ch, dead)).toEqual(died);
          await ch.deleteQueue(queue);
          await ch.deleteQueue(dead);
        }),
      { numRuns: 20 },
    );
  });

  it('a consumer that nacks its one message back into a full drop-head queue gets the next one, not it again (RabbitMQ 3.10)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue: dead } = await ch.assertQueue('', { exclusive: true });
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length': 1, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
    await publishAll(ch, queue, ['m0']);
    const consumer = await confirmChannel(conn);
    await consumer.prefetch(1);
    const inbox = await subscribe(consumer, queue, { noAck: false });
    const [m0] = await inbox.waitFor(1);
    await publishAll(ch, queue, ['m1']);
    consumer.nack(m0!, false, true);
    const got = await inbox.waitFor(2);
    expect(got.map((m) => `${m.content}${m.fields.redelivered ? ' redelivered' : ''}`)).toEqual(['m0', 'm1']);
    await eventually(async () => expect(await drain(ch, dead)).toEqual(['m0']), 2000);
  });

  it('reject-publish: the publishes over the limit are nacked and dropped, the rest acked and kept', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length': 5, 'x-overflow': 'reject-publish' } });
    const messages = numbered(12);
    expect(await publishAll(ch, queue, messages)).toEqual(messages.slice(5));
    expect(await drain(ch, queue)).toEqual(messages.slice(0, 5));
    // room again: accepted again
    expect(await publishAll(ch, queue, ['again'])).toEqual([]);
    // a consumer taking messages keeps the queue below the limit: nothing refused
    const inbox = await subscribe(ch, queue, { noAck: true });
    const more = numbered(200).map((b) => `c${b}`);
    await inbox.waitFor(1);
    const nacked = await publishAll(ch, queue, more);
    const got = await inbox.waitFor(1 + more.length - nacked.length);
    expect(got.map((m) => m.content.toString())).toEqual(['again', ...more.filter((b) => !nacked.includes(b))]);
  });

  it('a consumer with room takes each publish as it comes: a limit counts only what waits, so none of a burst is refused or dropped (RabbitMQ 3.10.8)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    for (const overflow of ['reject-publish', 'reject-publish-dlx', 'drop-head']) {
      const consumer = await confirmChannel(conn);
      await consumer.prefetch(1000);
      const { queue } = await consumer.assertQueue('', { exclusive: true, arguments: { 'x-max-length': 1, 'x-overflow': overflow } });
      const inbox = await subscribe(consumer, queue, { noAck: false });
      const messages = numbered(200);
      expect(await publishAll(ch, queue, messages), overflow).toEqual([]);
      expect((await inbox.waitFor(200)).map((m) => m.content.toString()), overflow).toEqual(messages);
      await consumer.close();
    }
  });

  it('reject-publish with bytes: a publish is refused when its body would pass the limit', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length-bytes': 8, 'x-overflow': 'reject-publish' } });
    expect(await publishAll(ch, queue, ['aaaa', 'bbbb', 'c'])).toEqual(['c']);
    expect(await drain(ch, queue)).toEqual(['aaaa', 'bbbb']);
  });

  it('a publish to several queues is nacked when one of them refuses it, and kept by the others', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const x = uniq('limit-fanout');
    await ch.assertExchange(x, 'fanout', { autoDelete: true });
    const { queue: full } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    const { queue: open } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(full, x, '');
    await ch.bindQueue(open, x, '');
    const nacked: string[] = [];
    for (const body of numbered(3)) ch.publish(x, '', Buffer.from(body), {}, (err) => err && nacked.push(body));
    await ch.waitForConfirms().catch(() => {});
    expect(nacked).toEqual(['m1', 'm2']);
    expect(await drain(ch, full)).toEqual(['m0']);
    expect(await drain(ch, open)).toEqual(numbered(3));
  });
});
