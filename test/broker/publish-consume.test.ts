/**
 * basic.publish and basic.consume: mandatory returns, properties, large bodies, consumer tags,
 * exclusive consumers, cancel, round-robin, publisher confirms.
 *
 * The immediate flag is not tested: amqplib 0.10 always sends immediate=false
 * (lib/api_args.js: "RabbitMQ doesn't implement this any more").
 */
import type { Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, bodies, channel, closedWith, confirmChannel, eventually, nextEvent, refused, sleep, subscribe, uniq, useBroker } from '../helpers.js';

describe.each(MODES)('publish and consume: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('returns an unroutable mandatory message with 312 NO_ROUTE', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const ex = uniq('pc-unroutable');
    await ch.assertExchange(ex, 'direct', { autoDelete: false, durable: false });
    const returned = nextEvent<Message>(ch, 'return');
    ch.publish(ex, 'nowhere', Buffer.from('bounce'), { mandatory: true, messageId: 'm-1', headers: { h: 'v' } });
    const msg = await returned;
    expect(msg.fields).toMatchObject({ replyCode: 312, replyText: 'NO_ROUTE', exchange: ex, routingKey: 'nowhere' });
    expect(msg.content.toString()).toBe('bounce');
    expect(msg.properties).toMatchObject({ messageId: 'm-1', headers: { h: 'v' } });
    await ch.deleteExchange(ex);
  });

  it('returns a mandatory message to a missing queue via the default exchange', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('pc-no-queue');
    const returned = nextEvent<Message>(ch, 'return');
    ch.sendToQueue(queue, Buffer.from('lost'), { mandatory: true });
    const msg = await returned;
    expect(msg.fields).toMatchObject({ replyCode: 312, replyText: 'NO_ROUTE', exchange: '', routingKey: queue });
  });

  it('does not return routable mandatory messages, nor unroutable plain ones', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const returns: Message[] = [];
    ch.on('return', (msg) => returns.push(msg));
    ch.sendToQueue(queue, Buffer.from('routed'), { mandatory: true });
    ch.sendToQueue(uniq('pc-nobody'), Buffer.from('dropped'), { mandatory: false });
    const inbox = await subscribe(ch, queue);
    expect(bodies(await inbox.waitFor(1))).toEqual(['routed']);
    // A round trip after both publishes: any return would have come by now.
    await ch.checkQueue(queue);
    await sleep(50);
    expect(returns).toEqual([]);
  });

  it('delivers properties and headers unchanged', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const timestamp = 1_700_000_000;
    const headers = { str: 'text', int: 42, neg: -7, float: 1.5, bool: true, nested: { k: 'v' }, list: [1, 'two'] };
    const properties = {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      priority: 5,
      correlationId: 'corr-1',
      replyTo: 'reply-queue',
      messageId: 'msg-1',
      timestamp,
      type: 'example.type',
      userId: 'guest',
      appId: 'warren-tests',
    };
    ch.sendToQueue(queue, Buffer.from('{"a":1}'), { ...properties, headers });
    const inbox = await subscribe(ch, queue);
    const [msg] = await inbox.waitFor(1);
    expect(msg.content.toString()).toBe('{"a":1}');
    expect(msg.properties).toMatchObject(properties);
    expect(msg.properties.headers).toEqual(headers);
  });

  it("refuses a user-id property that is not the connection's user (406)", async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const close = closedWith(ch);
    ch.sendToQueue(queue, Buffer.from('spoofed'), { userId: 'someone-else' });
    expect(await close).toEqual({
      code: 406,
      text: "PRECONDITION_FAILED - user_id property set to 'someone-else' but authenticated user was 'guest'",
    });
  });

  it('carries empty bodies and bodies larger than a frame', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const big = Buffer.alloc(400_000); // about three frames of 131072 bytes
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    ch.sendToQueue(queue, Buffer.alloc(0));
    ch.sendToQueue(queue, big);
    ch.sendToQueue(queue, Buffer.from('after'));
    const inbox = await subscribe(ch, queue);
    const [empty, large, after] = await inbox.waitFor(3);
    expect(empty.content.length).toBe(0);
    expect(large.content.equals(big)).toBe(true);
    expect(after.content.toString()).toBe('after');
  });

  it('delivers in publish order with delivery tags counting from 1 per channel', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const { queue: other } = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < 50; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    const inbox = await subscribe(ch, queue, { noAck: false });
    const got = await inbox.waitFor(50);
    expect(bodies(got)).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    expect(got.map((m) => m.fields.deliveryTag)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // A second consumer on the same channel continues the same sequence.
    ch.sendToQueue(other, Buffer.from('other'));
    const second = await subscribe(ch, other, { noAck: false });
    const [msg] = await second.waitFor(1);
    expect(msg.fields.deliveryTag).toBe(51);
    ch.ackAll();
  });

  it('generates amq.ctag-... consumer tags and uses client-chosen ones', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const generated = await subscribe(ch, queue);
    const chosen = await subscribe(ch, queue, { noAck: true, consumerTag: 'my-tag' });
    expect(generated.consumerTag).toMatch(/^amq\.ctag-[A-Za-z0-9_-]{22}$/);
    expect(chosen.consumerTag).toBe('my-tag');
    ch.sendToQueue(queue, Buffer.from('1'));
    ch.sendToQueue(queue, Buffer.from('2'));
    await eventually(() => expect(generated.messages.length + chosen.messages.length).toBe(2));
    expect(generated.messages.map((m) => m.fields.consumerTag)).toEqual([generated.consumerTag]);
    expect(chosen.messages.map((m) => m.fields.consumerTag)).toEqual(['my-tag']);
  });

  it('a no-ack consumer gets messages that are gone once delivered', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('pc-noack');
    await ch.assertQueue(queue);
    const consumerCh = await channel(conn);
    const inbox = await subscribe(consumerCh, queue, { noAck: true });
    for (const body of ['a', 'b', 'c']) ch.sendToQueue(queue, Buffer.from(body));
    expect(bodies(await inbox.waitFor(3))).toEqual(['a', 'b', 'c']);
    expect(inbox.messages.every((m) => !m.fields.redelivered)).toBe(true);
    // Closing the consumer's channel puts nothing back.
    await consumerCh.close();
    await sleep(50);
    expect(await ch.checkQueue(queue)).toEqual({ queue, messageCount: 0, consumerCount: 0 });
    await ch.deleteQueue(queue);
  });

  it('an exclusive consumer shuts out other consumers (403)', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('pc-exclusive-consumer');
    await ch.assertQueue(queue);
    const inbox = await subscribe(ch, queue, { noAck: true, exclusive: true });
    const text = `ACCESS_REFUSED - queue '${queue}' in vhost '/' in exclusive use`;
    expect(await refused((await channel(conn)).consume(queue, () => {}))).toEqual({ code: 403, text });
    expect(await refused((await channel(conn)).consume(queue, () => {}, { exclusive: true }))).toEqual({ code: 403, text });
    // After it cancels, others may consume.
    await ch.cancel(inbox.consumerTag);
    const other = await subscribe(await channel(conn), queue);
    // And an exclusive consume is refused while another consumer exists.
    expect(await refused((await channel(conn)).consume(queue, () => {}, { exclusive: true }))).toEqual({ code: 403, text });
    ch.sendToQueue(queue, Buffer.from('to the other'));
    expect(bodies(await other.waitFor(1))).toEqual(['to the other']);
    await ch.deleteQueue(queue);
  });

  it('after basic.cancel a consumer gets nothing more; messages wait in the queue', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const inbox = await subscribe(ch, queue);
    ch.sendToQueue(queue, Buffer.from('before'));
    await inbox.waitFor(1);
    await ch.cancel(inbox.consumerTag);
    ch.sendToQueue(queue, Buffer.from('after'));
    await eventually(async () => expect(await ch.checkQueue(queue)).toEqual({ queue, messageCount: 1, consumerCount: 0 }));
    expect(bodies(inbox.messages)).toEqual(['before']);
  });

  it('cancelling an unknown consumer tag is answered with cancel-ok', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    await ch.cancel('no-such-consumer');
    // The channel is still open.
    const { queue } = await ch.assertQueue('', { exclusive: true });
    expect(queue).toMatch(/^amq\.gen-/);
  });

  it('round-robins a queue between two consumers', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const a = await subscribe(await channel(conn), queue);
    const b = await subscribe(await channel(conn), queue);
    for (let i = 0; i < 6; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    await eventually(() => expect(a.messages.length + b.messages.length).toBe(6));
    const [first, second] = bodies(a.messages)[0] === '0' ? [a, b] : [b, a];
    expect(bodies(first.messages)).toEqual(['0', '2', '4']);
    expect(bodies(second.messages)).toEqual(['1', '3', '5']);
  });

  it('publisher confirms: every publish is acked, routed or not', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const acked: number[] = [];
    const returned: string[] = [];
    ch.on('return', (msg) => returned.push(msg.content.toString()));
    for (let i = 0; i < 10; i++) {
      ch.sendToQueue(queue, Buffer.from(String(i)), {}, (err) => {
        expect(err).toBeNull();
        acked.push(i);
      });
    }
    // An unroutable mandatory message is returned, then acked.
    ch.publish('amq.direct', uniq('pc-nowhere'), Buffer.from('returned'), { mandatory: true }, (err) => {
      expect(err).toBeNull();
      acked.push(10);
    });
    await ch.waitForConfirms();
    // RabbitMQ may ack the unroutable one first: only the set is fixed.
    expect(acked.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(returned).toEqual(['returned']);
    expect((await ch.checkQueue(queue)).messageCount).toBe(10);
  });
});
