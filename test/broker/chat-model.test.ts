/**
 * The AMQP model's chat example, end to end with real users: an admin sets up
 * the `friends` fanout exchange and the chat servers' durable queue (a name
 * hard to guess); Alice and Bob may publish to `friends` but get 403 when they
 * bind a queue to it or consume the servers' queue. A friend request goes
 * through a server to Bob by a routing key only Bob (and the server) knows;
 * Bob replies through Alice's durable, exclusive friend queue named in
 * reply-to; once Bob deletes his queue, Alice's mandatory publish comes back (312).
 */
import { randomBytes } from 'node:crypto';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, closedWith, connect, nextEvent, subscribe } from '../helpers.js';

const VHOST = 'chat';
const REQUESTS = 25;

describe.each(MODES)('the chat model: $name', ({ workers }) => {
  let running: RunningBroker;
  const conns: ChannelModel[] = [];
  const as = async (user: string, password: string) => {
    const conn = await connect(`amqp://${user}:${password}@127.0.0.1:${running.port}/${VHOST}`);
    conns.push(conn);
    return conn;
  };
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers });
    const b = running.broker;
    b.addVHost(VHOST);
    b.putUser('admin', { password: 'admin-pw' }, ['administrator']);
    b.setPermissions('admin', VHOST, { configure: '.*', write: '.*', read: '.*' });
    b.putUser('server', { password: 'server-pw' });
    b.setPermissions('server', VHOST, { configure: '', write: '^users$', read: '^servers\\.' });
    // Ordinary users: their own queues; publish to friends and to queues by name; read only their own queues and `users`.
    for (const user of ['alice', 'bob']) {
      b.putUser(user, { password: `${user}-pw` });
      b.setPermissions(user, VHOST, { configure: `^${user}\\.`, write: `^(friends|amq\\.default|${user}\\..*)$`, read: `^(${user}\\..*|users)$` });
    }
  });
  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    await running.close();
  });

  it('friend requests go through a server to Bob, replies through Alice’s reply-to queue; 403 where the model forbids; 312 once Bob’s queue is gone', async () => {
    // Admin: the model's fixed parts.
    const serversQueue = `servers.${randomBytes(12).toString('hex')}`;
    const admin = await channel(await as('admin', 'admin-pw'));
    await admin.assertExchange('friends', 'fanout', { durable: true });
    await admin.assertExchange('users', 'direct', { durable: true });
    await admin.assertQueue(serversQueue, { durable: true });
    await admin.bindQueue(serversQueue, 'friends', '');

    // Bob: his inbox, bound to `users` by a key only he and the server know.
    const bobKey = `bob.${randomBytes(12).toString('hex')}`;
    const bobConn = await as('bob', 'bob-pw');
    const bob = await channel(bobConn);
    await bob.assertQueue('bob.inbox', { durable: true });
    await bob.bindQueue('bob.inbox', 'users', bobKey);

    // A chat server: forwards requests from the servers' queue to the addressee's key.
    const keys: Record<string, string> = { bob: bobKey };
    const server = await channel(await as('server', 'server-pw'));
    await server.consume(serversQueue, (msg) => {
      if (msg === null) return;
      server.publish('users', keys[String(msg.properties.headers?.to)], msg.content, { replyTo: msg.properties.replyTo, headers: msg.properties.headers });
      server.ack(msg);
    });

    // Alice: her durable, exclusive friend queue, named in reply-to.
    const aliceConn = await as('alice', 'alice-pw');
    const alice = await channel(aliceConn);
    await alice.assertQueue('alice.friends', { durable: true, exclusive: true });

    // What the model forbids ordinary users, each tried on a channel of its own (the 403 closes it).
    const tries = [
      [aliceConn, (ch: Channel) => ch.bindQueue('alice.friends', 'friends', ''), "access to exchange 'friends' in vhost 'chat' refused for user 'alice'"],
      [aliceConn, (ch: Channel) => ch.consume(serversQueue, () => {}), `access to queue '${serversQueue}' in vhost 'chat' refused for user 'alice'`],
      [bobConn, (ch: Channel) => ch.bindQueue('bob.inbox', 'friends', ''), "access to exchange 'friends' in vhost 'chat' refused for user 'bob'"],
      [bobConn, (ch: Channel) => ch.get(serversQueue), `access to queue '${serversQueue}' in vhost 'chat' refused for user 'bob'`],
    ] as const;
    for (const [conn, attempt, text] of tries) {
      const ch = await channel(conn);
      const close = closedWith(ch);
      // amqplib rejects basic.get with a bare "channel closed": the channel.close carries the reply.
      await attempt(ch).then(
        () => expect.fail(`allowed: ${text}`),
        () => {},
      );
      expect(await close).toEqual({ code: 403, text: `ACCESS_REFUSED - ${text}` });
    }

    // The requests, numbered; Bob accepts each through its reply-to.
    const bobCh = await channel(bobConn);
    const bobGot: string[] = [];
    await bobCh.consume('bob.inbox', (msg: ConsumeMessage | null) => {
      if (msg === null) return;
      bobGot.push(msg.content.toString());
      bobCh.sendToQueue(msg.properties.replyTo, Buffer.from(`accept ${msg.content}`));
      bobCh.ack(msg);
    });
    const aliceCh = await channel(aliceConn);
    const replies = await subscribe(aliceCh, 'alice.friends');
    for (let i = 0; i < REQUESTS; i++) aliceCh.publish('friends', '', Buffer.from(`request ${i}`), { replyTo: 'alice.friends', headers: { to: 'bob' } });
    const answered = await replies.waitFor(REQUESTS, 5000);
    const numbers = Array.from({ length: REQUESTS }, (_, i) => i);
    expect(answered.map((m) => m.content.toString())).toEqual(numbers.map((i) => `accept request ${i}`));
    expect(bobGot).toEqual(numbers.map((i) => `request ${i}`));

    // Bob leaves: Alice's mandatory publish to his queue comes back.
    await bobCh.deleteQueue('bob.inbox');
    const returned = nextEvent<ConsumeMessage>(aliceCh, 'return');
    aliceCh.publish('', 'bob.inbox', Buffer.from('still there?'), { mandatory: true });
    const back = await returned;
    const fields = back.fields as unknown as { replyCode: number; replyText: string };
    expect([fields.replyCode, fields.replyText, back.content.toString()]).toEqual([312, 'NO_ROUTE', 'still there?']);
    expect(replies.messages).toHaveLength(REQUESTS);
  });
});
