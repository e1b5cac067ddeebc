/** basic.get: get-ok fields and counts, get-empty, acks and requeues of polled messages. */
import { describe, expect, it } from 'vitest';
import { MODES, channel, closedWith, confirmChannel, sleep, uniq, useBroker } from '../helpers.js';

describe.each(MODES)('basic.get: $name', ({ workers }) => {
  const server = useBroker(workers);

  async function setup(count: number) {
    const conn = await server.connect();
    const ch = await channel(conn);
    const pub = await confirmChannel(conn);
    const queue = uniq('get');
    await ch.assertQueue(queue, { autoDelete: false });
    const key = uniq('get-key');
    await ch.bindQueue(queue, 'amq.direct', key);
    for (let i = 1; i <= count; i++) pub.publish('amq.direct', key, Buffer.from(`m${i}`), { messageId: `id-${i}` });
    await pub.waitForConfirms();
    return { conn, ch, queue, key };
  }

  it('get-ok carries the message, its routing and the count left behind', async () => {
    const { ch, queue, key } = await setup(3);
    const first = await ch.get(queue, { noAck: true });
    expect(first).not.toBe(false);
    if (first === false) return;
    expect(first.content.toString()).toBe('m1');
    expect(first.properties.messageId).toBe('id-1');
    expect(first.fields).toEqual({ deliveryTag: 1, redelivered: false, exchange: 'amq.direct', routingKey: key, messageCount: 2 });
    const second = await ch.get(queue, { noAck: true });
    const third = await ch.get(queue, { noAck: true });
    expect([second && second.fields.messageCount, third && third.fields.messageCount]).toEqual([1, 0]);
    expect([second && second.fields.deliveryTag, third && third.fields.deliveryTag]).toEqual([2, 3]);
  });

  it('get-empty on an empty queue', async () => {
    const { ch, queue } = await setup(0);
    expect(await ch.get(queue)).toBe(false);
    expect(await ch.get(queue, { noAck: true })).toBe(false);
  });

  it('an acked get is gone; an unacked one returns redelivered when the channel closes', async () => {
    const { conn, ch, queue } = await setup(2);
    const poller = await channel(conn);
    const m1 = await poller.get(queue, { noAck: false });
    const m2 = await poller.get(queue, { noAck: false });
    expect(m1 && m2 && [m1.content.toString(), m2.content.toString()]).toEqual(['m1', 'm2']);
    poller.ack(m1 as any);
    await poller.close();
    await sleep(50);
    const back = await ch.get(queue, { noAck: true });
    expect(back && [back.content.toString(), back.fields.redelivered, back.fields.messageCount]).toEqual(['m2', true, 0]);
    expect(await ch.get(queue, { noAck: true })).toBe(false);
  });

  it('a rejected get with requeue comes back redelivered; without requeue it is gone', async () => {
    const { ch, queue } = await setup(2);
    const m1 = await ch.get(queue, { noAck: false });
    ch.reject(m1 as any, true);
    const again = await ch.get(queue, { noAck: false });
    expect(again && [again.content.toString(), again.fields.redelivered, again.fields.messageCount]).toEqual(['m1', true, 1]);
    ch.reject(again as any, false);
    const m2 = await ch.get(queue, { noAck: false });
    expect(m2 && [m2.content.toString(), m2.fields.redelivered]).toEqual(['m2', false]);
    ch.ack(m2 as any);
    expect(await ch.get(queue)).toBe(false);
  });

  it('get and consume share the queue', async () => {
    const { ch, queue } = await setup(2);
    const m1 = await ch.get(queue, { noAck: true });
    expect(m1 && m1.content.toString()).toBe('m1');
    const got: string[] = [];
    await ch.consume(queue, (msg) => msg && got.push(msg.content.toString()), { noAck: true });
    await sleep(100);
    expect(got).toEqual(['m2']);
    expect(await ch.get(queue)).toBe(false);
  });

  it('get from a missing queue is 404', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('get-missing');
    // amqplib's get rejects without the reason; the channel's error event has it.
    const close = closedWith(ch);
    await expect(ch.get(queue)).rejects.toBeDefined();
    expect(await close).toEqual({ code: 404, text: `NOT_FOUND - no queue '${queue}' in vhost '/'` });
  });
});
