/** The scenarios of the AMQP 0-9-1 introductions (RabbitMQ tutorials, Ruby amqp/Bunny guides), end to end. */
import type { Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, bodies, channel, confirmChannel, drain, eventually, sleep, subscribe, uniq, useBroker } from '../helpers.js';

describe.each(MODES)('tutorial scenarios: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('fanout: "Hello" and "World" reach both queues', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const ex = uniq('tut-fanout');
    await ch.assertExchange(ex, 'fanout', { autoDelete: true });
    const inboxes = [];
    for (let i = 0; i < 2; i++) {
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, ex, '');
      inboxes.push(await subscribe(ch, queue));
    }
    ch.publish(ex, '', Buffer.from('Hello'));
    ch.publish(ex, '', Buffer.from('World'));
    for (const inbox of inboxes) expect(bodies(await inbox.waitFor(2))).toEqual(['Hello', 'World']);
  });

  it("direct: only the 'hello_world' key is delivered", async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const ex = uniq('tut-direct');
    await ch.assertExchange(ex, 'direct', { autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, 'hello_world');
    const inbox = await subscribe(ch, queue);
    ch.publish(ex, 'hello_world', Buffer.from('Hello, world!'));
    ch.publish(ex, 'goodbye_world', Buffer.from('Goodbye'));
    ch.publish(ex, 'hello_world', Buffer.from('Hello again'));
    const got = await inbox.waitFor(2);
    expect(bodies(got)).toEqual(['Hello, world!', 'Hello again']);
    expect(got.map((m) => m.fields.routingKey)).toEqual(['hello_world', 'hello_world']);
    await sleep(50);
    expect(inbox.messages.length).toBe(2);
  });

  it('topic: hello.*.message.# and *.stock.#', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const pub = await confirmChannel(conn);
    const ex = uniq('tut-topic');
    await ch.assertExchange(ex, 'topic', { autoDelete: true });
    const { queue: greetings } = await ch.assertQueue('', { exclusive: true });
    const { queue: stocks } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(greetings, ex, 'hello.*.message.#');
    await ch.bindQueue(stocks, ex, '*.stock.#');
    for (const key of [
      'hello.world.message.example.in.ruby',
      'hello.world.message',
      'cruel.world.message',
      'usd.stock',
      'eur.stock.db',
      'stock.nasdaq',
    ]) {
      pub.publish(ex, key, Buffer.from(key));
    }
    await pub.waitForConfirms();
    expect(await drain(ch, greetings)).toEqual(['hello.world.message.example.in.ruby', 'hello.world.message']);
    expect(await drain(ch, stocks)).toEqual(['usd.stock', 'eur.stock.db']);
  });

  it('one queue bound with foo, bar and wee gets those and not gee', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const ex = uniq('tut-multi');
    await ch.assertExchange(ex, 'direct', { autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (const key of ['foo', 'bar', 'wee']) await ch.bindQueue(queue, ex, key);
    const inbox = await subscribe(ch, queue);
    for (const key of ['foo', 'gee', 'bar', 'wee']) ch.publish(ex, key, Buffer.from(key));
    expect(bodies(await inbox.waitFor(3))).toEqual(['foo', 'bar', 'wee']);
    await sleep(50);
    expect(inbox.messages.length).toBe(3);
  });

  it('a consumer acks all but one; that one comes back redelivered after its channel closes', async () => {
    const conn = await server.connect();
    const admin = await channel(conn);
    const queue = uniq('tut-acks');
    await admin.assertQueue(queue, { autoDelete: false });
    for (let i = 1; i <= 5; i++) admin.sendToQueue(queue, Buffer.from(`task ${i}`));

    const worker = await channel(conn);
    const inbox = await subscribe(worker, queue, { noAck: false });
    const tasks = await inbox.waitFor(5);
    for (const msg of tasks) if (msg.content.toString() !== 'task 3') worker.ack(msg);
    await worker.close();

    const next = await subscribe(await channel(conn), queue, { noAck: true });
    const [back] = await next.waitFor(1);
    expect([back.content.toString(), back.fields.redelivered]).toEqual(['task 3', true]);
    await sleep(50);
    expect(next.messages.length).toBe(1);
    await admin.deleteQueue(queue);
  });

  it('polling with basic.get', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    expect(await ch.get(queue)).toBe(false);
    for (const body of ['one', 'two']) ch.sendToQueue(queue, Buffer.from(body));
    const polled: string[] = [];
    await eventually(async () => {
      const msg = await ch.get(queue, { noAck: false });
      if (msg !== false) {
        polled.push(msg.content.toString());
        ch.ack(msg);
      }
      expect(polled).toEqual(['one', 'two']);
    });
    expect(await ch.get(queue)).toBe(false);
  });

  it('RPC: an exclusive auto-delete reply queue, reply-to and correlation-id via the default exchange', async () => {
    // The server side.
    const serverConn = await server.connect();
    const serverCh = await channel(serverConn);
    const rpcQueue = uniq('tut-rpc');
    await serverCh.assertQueue(rpcQueue, { autoDelete: true });
    await serverCh.consume(
      rpcQueue,
      (msg) => {
        if (msg === null) return;
        const n = Number(msg.content.toString());
        serverCh.sendToQueue(msg.properties.replyTo, Buffer.from(String(n * n)), { correlationId: msg.properties.correlationId });
        serverCh.ack(msg);
      },
      { noAck: false },
    );

    // The client side.
    const clientConn = await server.connect();
    const clientCh = await channel(clientConn);
    const { queue: replyQueue } = await clientCh.assertQueue('', { exclusive: true, autoDelete: true });
    expect(replyQueue).toMatch(/^amq\.gen-/);
    const replies = await subscribe(clientCh, replyQueue);
    for (const n of [3, 4, 5]) {
      clientCh.sendToQueue(rpcQueue, Buffer.from(String(n)), { replyTo: replyQueue, correlationId: `call-${n}` });
    }
    const got = await replies.waitFor(3);
    expect(got.map((m) => [m.properties.correlationId, m.content.toString()])).toEqual([
      ['call-3', '9'],
      ['call-4', '16'],
      ['call-5', '25'],
    ]);
    expect(got.every((m) => m.fields.exchange === '' && m.fields.routingKey === replyQueue)).toBe(true);
  });

  it('a mandatory publish is returned once its queue has been deleted', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('tut-deleted');
    await ch.assertQueue(queue);
    const returns: Message[] = [];
    ch.on('return', (msg) => returns.push(msg));
    ch.sendToQueue(queue, Buffer.from('delivered'), { mandatory: true });
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(1));
    expect(returns).toEqual([]);

    expect(await ch.deleteQueue(queue)).toEqual({ messageCount: 1 });
    ch.sendToQueue(queue, Buffer.from('returned'), { mandatory: true });
    await eventually(() => expect(returns.length).toBe(1));
    expect(returns[0].content.toString()).toBe('returned');
    expect(returns[0].fields).toMatchObject({ replyCode: 312, replyText: 'NO_ROUTE', exchange: '', routingKey: queue });
  });
});
