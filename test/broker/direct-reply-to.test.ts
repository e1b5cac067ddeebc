/**
 * Direct reply-to (RabbitMQ's amq.rabbitmq.reply-to): RPC round trips from
 * several client connections to a server on another connection, numbered and
 * each answered once to the right requester; RabbitMQ's refusals and texts
 * (checked against RabbitMQ 3.x); replies to a requester that is gone are
 * unroutable; every other property of a request passes through unchanged.
 */
import type { Channel, ConsumeMessage, Message, Options } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, channel, closedWith, confirmChannel, refused, sleep, uniq, useBroker, within } from '../helpers.js';
import { nameOnShard } from './on-shard.js';

const RT = 'amq.rabbitmq.reply-to';

describe.each(MODES)('direct reply-to: $name', ({ workers }) => {
  const server = useBroker(workers);

  /** An RPC server on its own connection: answers "reply:<body>" to each request's reply-to. */
  async function rpcServer(queue: string): Promise<{ replyTos: Set<string>; requests: ConsumeMessage[] }> {
    const ch = await channel(await server.connect());
    await ch.assertQueue(queue, { autoDelete: true });
    const replyTos = new Set<string>();
    const requests: ConsumeMessage[] = [];
    await ch.consume(
      queue,
      (msg) => {
        if (msg === null) return;
        requests.push(msg);
        replyTos.add(msg.properties.replyTo);
        ch.publish('', msg.properties.replyTo, Buffer.from(`reply:${msg.content}`), { correlationId: msg.properties.correlationId });
        ch.ack(msg);
      },
      { noAck: false },
    );
    return { replyTos, requests };
  }

  it('RPC round trips from several connections: every numbered request is answered once, to its own requester', async () => {
    const queue = nameOnShard('rpc', 1, workers);
    const rpc = await rpcServer(queue);
    const CLIENTS = 3;
    const N = 100;
    const replies = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const ch = await channel(await server.connect());
        const got: ConsumeMessage[] = [];
        let done!: () => void;
        const all = new Promise<void>((resolve) => (done = resolve));
        const { consumerTag } = await ch.consume(RT, (msg) => msg && got.push(msg) === N && done(), { noAck: true });
        for (let i = 0; i < N; i++) ch.sendToQueue(queue, Buffer.from(`c${c}#${i}`), { replyTo: RT, correlationId: `${c}.${i}` });
        await within(all, 5000, `${N} replies for client ${c}`);
        await sleep(50); // nothing more may come
        return { got, consumerTag };
      }),
    );
    for (const [c, { got, consumerTag }] of replies.entries()) {
      expect(got.map((m) => m.content.toString())).toEqual(Array.from({ length: N }, (_, i) => `reply:c${c}#${i}`));
      expect(got.map((m) => m.properties.correlationId)).toEqual(Array.from({ length: N }, (_, i) => `${c}.${i}`));
      for (const m of got) {
        expect(m.fields).toMatchObject({ consumerTag, exchange: '', redelivered: false });
        expect(m.fields.routingKey).toMatch(/^amq\.rabbitmq\.reply-to\.[A-Za-z0-9_-]+$/);
      }
      expect(new Set(got.map((m) => m.fields.deliveryTag)).size).toBe(N);
    }
    // one address per requesting channel, and the server saw it as the reply-to
    expect(rpc.replyTos.size).toBe(CLIENTS);
    expect([...rpc.replyTos].sort()).toEqual(replies.map(({ got }) => got[0].fields.routingKey).sort());
  });

  it('RabbitMQ’s refusals: an acking consumer, a second reply consumer, a reply-to without one', async () => {
    const conn = await server.connect();
    const acking = await channel(conn);
    expect(await refused(acking.consume(RT, () => {}, { noAck: false }))).toEqual({
      code: 406,
      text: 'PRECONDITION_FAILED - reply consumer cannot acknowledge',
    });
    const twice = await channel(conn);
    await twice.consume(RT, () => {}, { noAck: true });
    expect(await refused(twice.consume(RT, () => {}, { noAck: true }))).toEqual({ code: 406, text: 'PRECONDITION_FAILED - reply consumer already set' });
    for (const cancelFirst of [false, true]) {
      const ch = await channel(conn);
      if (cancelFirst) await ch.cancel((await ch.consume(RT, () => {}, { noAck: true })).consumerTag);
      const closing = closedWith(ch);
      ch.sendToQueue(uniq('anything'), Buffer.from('x'), { replyTo: RT });
      expect(await closing).toEqual({ code: 406, text: 'PRECONDITION_FAILED - fast reply consumer does not exist' });
    }
  });

  it('declare of amq.rabbitmq.reply-to and of a live address answers one consumer; others and basic.get are 404', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    expect(await ch.checkQueue(RT)).toEqual({ queue: RT, messageCount: 0, consumerCount: 1 });
    expect(await ch.assertQueue(RT, { durable: true })).toEqual({ queue: RT, messageCount: 0, consumerCount: 1 });
    const address = await addressOf(ch);
    expect(await (await channel(conn)).checkQueue(address)).toEqual({ queue: address, messageCount: 0, consumerCount: 1 });
    for (const name of [`${RT}.bogus`, `${RT}x`]) {
      expect(await refused((await channel(conn)).checkQueue(name))).toEqual({ code: 404, text: `NOT_FOUND - no queue '${name}' in vhost '/'` });
    }
    const getter = await channel(conn);
    const closing = closedWith(getter);
    getter.get(RT).catch(() => {});
    expect(await closing).toEqual({ code: 404, text: `NOT_FOUND - no queue '${RT}' in vhost '/'` });
  });

  it('a declare of amq.rabbitmq.reply-to makes it the channel\'s last declared queue: a get of \'\' after it is a 404 for it, as in RabbitMQ', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('not this one'));
    await ch.checkQueue(RT);
    const closing = closedWith(ch);
    ch.get('').catch(() => {});
    // Before, '' still meant the exclusive queue and the get took its message.
    expect(await closing).toEqual({ code: 404, text: `NOT_FOUND - no queue '${RT}' in vhost '/'` });
    expect((await (await channel(conn)).checkQueue(queue)).messageCount).toBe(1);
  });

  it("basic.consume of '' after a declare of amq.rabbitmq.reply-to subscribes to replies, with RabbitMQ's refusal of acks", async () => {
    const conn = await server.connect();
    const acking = await channel(conn);
    await acking.checkQueue(RT);
    // Before, '' was taken for a queue named amq.rabbitmq.reply-to: 404.
    expect(await refused(acking.consume('', () => {}, { noAck: false }))).toEqual({ code: 406, text: 'PRECONDITION_FAILED - reply consumer cannot acknowledge' });
    const ch = await channel(conn);
    await ch.checkQueue(RT);
    const replies: string[] = [];
    await ch.consume('', (m) => replies.push(m!.content.toString()), { noAck: true });
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q, Buffer.from('request'), { replyTo: RT });
    let request: false | Message = false;
    while (request === false) request = await ch.get(q, { noAck: true });
    ch.sendToQueue(request.properties.replyTo, Buffer.from('reply'));
    await within((async () => { while (replies.length === 0) await sleep(5); })(), 3000, 'the reply');
    expect(replies).toEqual(['reply']);
  });

  /** The address a channel's requests carry: consumes replies, sends itself a request through a queue. */
  async function addressOf(ch: Channel): Promise<string> {
    return (await replyConsumer(ch)).address;
  }

  async function replyConsumer(ch: Channel): Promise<{ address: string; consumerTag: string }> {
    const { consumerTag } = await ch.consume(RT, () => {}, { noAck: true });
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q, Buffer.from('request'), { replyTo: RT });
    for (;;) {
      const msg = await ch.get(q, { noAck: true });
      if (msg !== false) return { address: msg.properties.replyTo, consumerTag };
      await sleep(5);
    }
  }

  it('a reply to a cancelled consumer or closed channel is unroutable: returned if mandatory, confirmed, never delivered', async () => {
    const conn = await server.connect();
    const requester = await channel(conn);
    const address = await addressOf(requester);
    const replier = await confirmChannel(await server.connect());
    const returned: string[] = [];
    replier.on('return', (m: Message) => returned.push(`${(m.fields as any).replyCode} ${m.content}`));
    await requester.close();
    replier.publish('', address, Buffer.from('r0'), { mandatory: true });
    replier.publish('', address, Buffer.from('r1'));
    replier.publish('', RT, Buffer.from('r2'), { mandatory: true });
    await replier.waitForConfirms();
    expect(returned).toEqual(['312 r0', '312 r2']);
    // a live requester that cancelled: the same, and it gets nothing
    const other = await channel(conn);
    const delivered: string[] = [];
    other.on('delivery', (m: Message) => delivered.push(m.content.toString()));
    const cancelled = await replyConsumer(other);
    await other.cancel(cancelled.consumerTag);
    replier.publish('', cancelled.address, Buffer.from('r3'), { mandatory: true });
    await replier.waitForConfirms();
    expect(returned).toEqual(['312 r0', '312 r2', '312 r3']);
    await other.checkQueue(RT); // a round trip on its connection: r3 would have come before the -ok
    expect(delivered).toEqual([]);
  });

  it('property: every other property of a request passes through, only reply-to is rewritten', async () => {
    const ch = await channel(await server.connect());
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.consume(RT, () => {}, { noAck: true });
    const shortstr = fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => Buffer.byteLength(s) < 256);
    const props = fc.record(
      {
        contentType: shortstr,
        contentEncoding: shortstr,
        headers: fc.dictionary(shortstr.filter((k) => k.length > 0 && k !== 'CC' && k !== 'BCC' && k !== '__proto__'), fc.oneof(shortstr, fc.integer()), { maxKeys: 4 }),
        deliveryMode: fc.constantFrom(1, 2),
        priority: fc.integer({ min: 0, max: 9 }),
        correlationId: shortstr,
        expiration: fc.integer({ min: 60_000, max: 10_000_000 }).map(String),
        messageId: shortstr,
        timestamp: fc.integer({ min: 0, max: 2 ** 31 }),
        type: shortstr,
        appId: shortstr,
      },
      { requiredKeys: [] },
    );
    let address = '';
    let n = 0;
    await fc.assert(
      fc.asyncProperty(props, async (p) => {
        const body = `req${n++}`;
        ch.sendToQueue(q, Buffer.from(body), { ...(p as Options.Publish), replyTo: RT });
        let msg: false | Message = false;
        while (msg === false) msg = await ch.get(q, { noAck: true });
        expect(msg.content.toString()).toBe(body);
        const { replyTo, ...rest } = msg.properties;
        expect(replyTo).toMatch(/^amq\.rabbitmq\.reply-to\./);
        address ||= replyTo;
        expect(replyTo).toBe(address);
        for (const [key, value] of Object.entries(p)) expect((rest as any)[key]).toEqual(value);
      }),
      { numRuns: 60 },
    );
    // another reply-to is left alone
    ch.sendToQueue(q, Buffer.from('plain'), { replyTo: 'my-own-queue' });
    let msg: false | Message = false;
    while (msg === false) msg = await ch.get(q, { noAck: true });
    expect(msg.properties.replyTo).toBe('my-own-queue');
  });
});
