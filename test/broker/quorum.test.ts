/**
 * Quorum queues (x-queue-type quorum) as far as a client can tell, as RabbitMQ
 * 3.10: each delivery carries x-delivery-count (how often the message came
 * back), and x-delivery-limit dead-letters (reason delivery_limit) or drops a
 * message that came back more often than that. The expected headers were
 * taken from RabbitMQ 3.10.8 with the same calls. Every message is numbered.
 */
import type { GetMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, channel, confirmChannel, sleep, subscribe, uniq, useBroker } from '../helpers.js';

describe.each(MODES)('quorum queues: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('x-delivery-count counts the returns, by nack, reject and a closed channel; headers are kept', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const queue = uniq('quorum');
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let i = 0; i < 5; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`), { headers: { n: i } });
    await ch.waitForConfirms();
    const counts = async () => {
      const seen: string[] = [];
      const got: GetMessage[] = [];
      for (let i = 0; i < 5; i++) got.push((await ch.get(queue, { noAck: false })) as GetMessage);
      for (const m of got) seen.push(`${m.content} n=${m.properties.headers!.n} count=${m.properties.headers!['x-delivery-count']} ${m.fields.redelivered}`);
      return { got, seen };
    };
    let { got, seen } = await counts();
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `m${i} n=${i} count=0 false`));
    got.forEach((m, i) => (i % 2 === 0 ? ch.nack(m, false, true) : ch.reject(m, true)));
    ({ got, seen } = await counts());
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `m${i} n=${i} count=1 true`));
    // a consumer whose channel closes returns its unacked deliveries too
    ch.nackAll(true);
    const other = await channel(conn);
    const inbox = await subscribe(other, queue, { noAck: false });
    const first = await inbox.waitFor(5);
    expect(first.map((m) => m.properties.headers!['x-delivery-count'])).toEqual([2, 2, 2, 2, 2]);
    await other.close();
    const last = (await ch.get(queue, { noAck: true })) as GetMessage;
    expect([last.content.toString(), last.properties.headers!['x-delivery-count']]).toEqual(['m0', 3]);
    await ch.deleteQueue(queue);
  });

  it('a first delivery to a consumer carries no x-delivery-count, a basic.get one of 0 (RabbitMQ 3.10.8)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const queue = uniq('quorum-first');
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let i = 0; i < 3; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`), { headers: { n: i } });
    await ch.waitForConfirms();
    const got = (await ch.get(queue, { noAck: true })) as GetMessage;
    expect(got.properties.headers).toEqual({ n: 0, 'x-delivery-count': 0 });
    const consumer = await channel(conn);
    const inbox = await subscribe(consumer, queue, { noAck: false });
    const first = await inbox.waitFor(2);
    expect(first.map((m) => m.properties.headers)).toEqual([{ n: 1 }, { n: 2 }]);
    await consumer.close(); // both come back
    const again = await subscribe(await channel(conn), queue, { noAck: true });
    expect((await again.waitFor(2)).map((m) => m.properties.headers)).toEqual([{ n: 1, 'x-delivery-count': 1 }, { n: 2, 'x-delivery-count': 1 }]);
    await ch.deleteQueue(queue);
  });

  it("x-overflow on a quorum queue, as rabbit_fifo: reject-publish takes the publish that goes over, then refuses until the queue is at 80%; reject-publish-dlx drops the head", async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const confirmed = async (queue: string, body: string): Promise<boolean> =>
      new Promise((resolve) => ch.sendToQueue(queue, Buffer.from(body), {}, (err) => resolve(err === null || err === undefined)));
    const queue = uniq('quorum-reject');
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-max-length': 5, 'x-overflow': 'reject-publish' } });
    const taken: boolean[] = [];
    for (let i = 0; i < 8; i++) taken.push(await confirmed(queue, `m${i}`));
    expect(taken).toEqual([true, true, true, true, true, true, false, false]); // six in: the sixth went over
    await ch.get(queue, { noAck: true }); // 5 left: over 80% of 5, still refused
    expect(await confirmed(queue, 'm8')).toBe(false);
    await ch.get(queue, { noAck: true }); // 4 left: at 80%, taken again
    expect(await confirmed(queue, 'm9')).toBe(true);
    expect((await ch.checkQueue(queue)).messageCount).toBe(5);
    await ch.deleteQueue(queue);

    const dlq = uniq('quorum-dlx-dead');
    const dropping = uniq('quorum-dlx');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(dropping, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    expect([await confirmed(dropping, 'm1'), await confirmed(dropping, 'm2')]).toEqual([true, true]);
    const head = (await ch.get(dropping, { noAck: true })) as GetMessage;
    expect(head.content.toString()).toBe('m2');
    const dead = (await ch.get(dlq, { noAck: true })) as GetMessage;
    expect([dead.content.toString(), dead.properties.headers!['x-first-death-reason']]).toEqual(['m1', 'maxlen']);
    await ch.deleteQueue(dropping);
  });

  it('x-delivery-limit: a message returned more often is dead-lettered with reason delivery_limit (or dropped)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const queue = uniq('quorum-limit');
    const dead = uniq('quorum-dead');
    await ch.assertQueue(dead, { exclusive: true });
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 2, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
    ch.sendToQueue(queue, Buffer.from('m0'), { headers: { h: 1 } });
    ch.sendToQueue(queue, Buffer.from('m1'));
    await ch.waitForConfirms();
    const deliveries: string[] = [];
    for (;;) {
      const m = await ch.get(queue, { noAck: false });
      if (m === false) break;
      deliveries.push(`${m.content}:${m.properties.headers!['x-delivery-count']}`);
      if (m.content.toString() === 'm1') ch.ack(m);
      else ch.nack(m, false, true);
      await sleep(20);
    }
    expect(deliveries).toEqual(['m0:0', 'm0:1', 'm0:2', 'm1:0']); // a returned message comes first, as in RabbitMQ
    await sleep(100);
    const m = (await ch.get(dead, { noAck: true })) as GetMessage;
    expect(m.content.toString()).toBe('m0');
    const { 'x-death': deaths, ...rest } = m.properties.headers as any;
    expect(rest).toEqual({ h: 1, 'x-first-death-exchange': '', 'x-first-death-queue': queue, 'x-first-death-reason': 'delivery_limit' });
    expect(deaths[0]).toMatchObject({ count: 1, reason: 'delivery_limit', queue, exchange: '', 'routing-keys': [queue] });

    // limit 0 and no dead-letter exchange: the first return drops it
    const strict = uniq('quorum-strict');
    await ch.assertQueue(strict, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 0 } });
    ch.sendToQueue(strict, Buffer.from('once'));
    await ch.waitForConfirms();
    ch.nack((await ch.get(strict, { noAck: false })) as GetMessage, false, true);
    await sleep(50);
    expect(await ch.get(strict, { noAck: true })).toBe(false);
    await ch.deleteQueue(queue);
    await ch.deleteQueue(strict);
  });

  it('a classic queue leaves messages as published', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('plain'));
    await ch.waitForConfirms();
    const m = (await ch.get(queue, { noAck: false })) as GetMessage;
    ch.nack(m, false, true);
    const again = (await ch.get(queue, { noAck: true })) as GetMessage;
    expect(again.properties.headers).toEqual({});
  });
});
