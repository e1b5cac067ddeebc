/** Connections and channels: open, close, heartbeats, several channels, close and reopen. */
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, bodies, channel, eventually, reason, sleep, subscribe, uniq, useBroker } from '../helpers.js';

describe.each(MODES)('connection: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('connects, announces RabbitMQ capabilities and closes cleanly', async () => {
    const conn = await server.connect();
    const properties = (conn.connection as any).serverProperties;
    // the cluster name the management API shows, RabbitMQ's default (its node's name)
    expect(properties.cluster_name).toMatch(/^rabbit@/);
    const caps = properties.capabilities;
    expect(caps).toMatchObject({
      publisher_confirms: true,
      exchange_exchange_bindings: true,
      'basic.nack': true,
      consumer_cancel_notify: true,
      per_consumer_qos: true,
    });
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    expect(queue).toMatch(/^amq\.gen-/);

    let closeEvents = 0;
    conn.on('close', () => closeEvents++);
    await conn.close();
    expect(closeEvents).toBe(1);
    // A closed connection cannot open channels any more.
    await expect(conn.createChannel()).rejects.toThrow();
  });

  it('refuses a wrong password with ACCESS_REFUSED', async () => {
    const url = server.url.replace('guest:guest@', 'guest:wrong@');
    const err = await amqp.connect(url).then(
      (conn) => conn.close().then(() => null),
      (e) => e,
    );
    expect(err).not.toBeNull();
    expect(reason(err).text).toBe(
      'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.',
    );
    expect(err.message).toContain('403 (ACCESS-REFUSED)');
  });

  it('refuses an unknown vhost with NOT_ALLOWED', async () => {
    const err = await amqp.connect(`${server.url}/no-such-vhost`).then(
      (conn) => conn.close().then(() => null),
      (e) => e,
    );
    expect(err).not.toBeNull();
    // amqplib reports only that connection.open was answered with connection.close.
    expect(err.message).toBe('Expected ConnectionOpenOk; got <ConnectionClose channel:0>');
  });

  it('negotiates the client heartbeat and keeps an idle connection alive', async () => {
    const conn = await server.connect('?heartbeat=1');
    // The server proposes 60 s; the client asks for 1 s and the lower one wins.
    expect((conn.connection as any).heartbeat).toBe(1);
    let failure: unknown = null;
    conn.on('error', (err) => (failure = err));
    conn.on('close', (err) => (failure ??= err ?? 'closed'));
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });

    // Three heartbeat intervals of silence from the application: both sides keep it alive.
    await sleep(3000);
    expect(failure).toBeNull();
    ch.sendToQueue(queue, Buffer.from('still here'));
    const inbox = await subscribe(ch, queue);
    expect(bodies(await inbox.waitFor(1))).toEqual(['still here']);
  });

  it('runs several channels on one connection independently', async () => {
    const conn = await server.connect();
    const channels = await Promise.all([channel(conn), channel(conn), channel(conn)]);
    // amqplib numbers channels; each is a distinct AMQP channel.
    expect(new Set(channels.map((ch) => (ch as any).ch)).size).toBe(3);

    const queues = channels.map(() => uniq('conn-multi'));
    const inboxes = [];
    for (const [i, ch] of channels.entries()) {
      await ch.assertQueue(queues[i], { autoDelete: true });
      inboxes.push(await subscribe(ch, queues[i]));
    }
    // Publish everything from the first channel; each consumer gets only its queue's message.
    for (const [i, queue] of queues.entries()) channels[0].sendToQueue(queue, Buffer.from(`for ${i}`));
    for (const [i, inbox] of inboxes.entries()) {
      const [msg] = await inbox.waitFor(1);
      expect(msg.content.toString()).toBe(`for ${i}`);
      expect(msg.fields.consumerTag).toBe(inbox.consumerTag);
    }
    await sleep(50);
    expect(inboxes.map((inbox) => inbox.messages.length)).toEqual([1, 1, 1]);
  });

  it('closes a channel and opens a new one on the same connection', async () => {
    const conn = await server.connect();
    const queue = uniq('conn-reopen');
    const first = await channel(conn);
    await first.assertQueue(queue, { autoDelete: false });
    first.sendToQueue(queue, Buffer.from('kept'));
    await first.close();
    // The old channel is gone on the client side.
    expect(() => first.sendToQueue(queue, Buffer.from('x'))).toThrow();

    const second = await channel(conn);
    const msg = await eventually(async () => {
      const got = await second.get(queue, { noAck: true });
      expect(got).not.toBe(false);
      return got as amqp.GetMessage;
    });
    expect(msg.content.toString()).toBe('kept');
    expect(await second.deleteQueue(queue)).toEqual({ messageCount: 0 });
  });

  it('cancels the consumers of a closed channel', async () => {
    const conn = await server.connect();
    const queue = uniq('conn-close-consumers');
    const admin = await channel(conn);
    await admin.assertQueue(queue);
    const ch = await channel(conn);
    await subscribe(ch, queue);
    expect((await admin.checkQueue(queue)).consumerCount).toBe(1);
    await ch.close();
    await eventually(async () => expect((await admin.checkQueue(queue)).consumerCount).toBe(0));
    await admin.deleteQueue(queue);
  });
});
