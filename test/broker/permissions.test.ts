/**
 * Permissions, checked where RabbitMQ's rabbit_channel checks them: every
 * check point passes with exactly the permission it needs and gets 403
 * ACCESS_REFUSED with RabbitMQ's text without it. A user 'u' with only the
 * regexes a case grants acts in vhost 'perm'; guest sets the scene.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, closedWith, confirmChannel, connect, drain, eventually, refused, subscribe } from '../helpers.js';

const V = 'perm';
const FULL = { configure: '.*', write: '.*', read: '.*' };
const NONE = { configure: '', write: '', read: '' };
type Spec = { configure: string; write: string; read: string };

const denied = (kind: 'queue' | 'exchange', name: string) => `ACCESS_REFUSED - access to ${kind} '${name}' in vhost '${V}' refused for user 'u'`;

interface Case {
  name: string;
  /** what guest declares first */
  setup?: (admin: Channel) => Promise<unknown>;
  /** what 'u' does; resolves when the server accepted it */
  op: (ch: Channel, conn: ChannelModel) => Promise<unknown>;
  /** the permissions that let it through */
  grant: Spec;
  /** each a grant with one permission taken away, and the refusal it gets */
  without: [Spec, string][];
}

/**
 * `op`'s result; if it fails, the channel.close the server sent (amqplib
 * rejects some operations with a bare "channel closed" instead), in the shape
 * of amqplib's errors, for refused().
 */
function orClose<T>(ch: Channel, op: Promise<T>): Promise<T> {
  const closed = closedWith(ch, 5000).then((c) => Promise.reject(Object.assign(new Error(`with message "${c.text}"`), { code: c.code })));
  closed.catch(() => {});
  // waitForConfirms never settles once the channel is closed: the close decides then.
  return Promise.race([op.catch((err) => (err?.code === undefined ? closed : Promise.reject(err))), closed]);
}

/** basic.publish has no reply: a confirm says it passed, a channel.close that it did not. */
async function publish(conn: ChannelModel, exchange: string, key: string): Promise<void> {
  const ch = await confirmChannel(conn);
  ch.publish(exchange, key, Buffer.from('x'));
  await orClose(ch, ch.waitForConfirms());
  await ch.close();
}

const CASES: Case[] = [
  {
    name: 'queue.declare needs configure on the queue',
    op: (ch) => ch.assertQueue('decl-q'),
    grant: { ...NONE, configure: '^decl-q$' },
    without: [[NONE, denied('queue', 'decl-q')]],
  },
  {
    name: 'queue.declare of a server-named queue needs configure on the name it gets (amq.gen-...)',
    op: (ch) => ch.assertQueue('', { exclusive: true }),
    grant: { ...NONE, configure: '^amq\\.gen-' },
    without: [[{ ...NONE, configure: '^x$' }, `ACCESS_REFUSED - access to queue 'amq.gen-`]],
  },
  {
    name: 'queue.declare passive needs nothing',
    setup: (admin) => admin.assertQueue('passive-q'),
    op: (ch) => ch.checkQueue('passive-q'),
    grant: NONE,
    without: [],
  },
  {
    name: 'queue.declare with a dead-letter exchange needs read on the queue and write on that exchange',
    setup: (admin) => admin.assertExchange('dlx', 'fanout'),
    op: (ch) => ch.assertQueue('dl-q', { deadLetterExchange: 'dlx' }),
    grant: { configure: '^dl-q$', write: '^dlx$', read: '^dl-q$' },
    without: [
      [{ configure: '^dl-q$', write: '', read: '^dl-q$' }, denied('exchange', 'dlx')],
      [{ configure: '^dl-q$', write: '^dlx$', read: '' }, denied('queue', 'dl-q')],
    ],
  },
  {
    name: 'exchange.declare needs configure on the exchange',
    op: (ch) => ch.assertExchange('decl-x', 'direct'),
    grant: { ...NONE, configure: '^decl-x$' },
    without: [[NONE, denied('exchange', 'decl-x')]],
  },
  {
    name: 'exchange.declare with an alternate exchange needs read on it and write on the alternate',
    op: (ch) => ch.assertExchange('ae-x', 'direct', { alternateExchange: 'amq.fanout' }),
    grant: { configure: '^ae-x$', write: '^amq\\.fanout$', read: '^ae-x$' },
    without: [
      [{ configure: '^ae-x$', write: '', read: '^ae-x$' }, denied('exchange', 'amq.fanout')],
      [{ configure: '^ae-x$', write: '^amq\\.fanout$', read: '' }, denied('exchange', 'ae-x')],
    ],
  },
  {
    name: 'exchange.declare passive needs nothing',
    op: (ch) => ch.checkExchange('amq.topic'),
    grant: NONE,
    without: [],
  },
  {
    name: 'exchange.delete needs configure on the exchange',
    setup: (admin) => admin.assertExchange('del-x', 'fanout'),
    op: (ch) => ch.deleteExchange('del-x'),
    grant: { ...NONE, configure: '^del-x$' },
    without: [[NONE, denied('exchange', 'del-x')]],
  },
  {
    name: 'queue.delete needs configure on the queue',
    setup: (admin) => admin.assertQueue('del-q'),
    op: (ch) => ch.deleteQueue('del-q'),
    grant: { ...NONE, configure: '^del-q$' },
    without: [[{ ...FULL, configure: '^other$' }, denied('queue', 'del-q')]],
  },
  {
    name: 'queue.purge needs read on the queue',
    setup: (admin) => admin.assertQueue('purge-q'),
    op: (ch) => ch.purgeQueue('purge-q'),
    grant: { ...NONE, read: '^purge-q$' },
    without: [[{ configure: '.*', write: '.*', read: '' }, denied('queue', 'purge-q')]],
  },
  {
    name: 'queue.bind needs write on the queue and read on the exchange',
    setup: (admin) => Promise.all([admin.assertQueue('bind-q'), admin.assertExchange('bind-x', 'direct')]),
    op: (ch) => ch.bindQueue('bind-q', 'bind-x', 'k'),
    grant: { ...NONE, write: '^bind-q$', read: '^bind-x$' },
    without: [
      [{ ...NONE, read: '^bind-x$' }, denied('queue', 'bind-q')],
      [{ ...NONE, write: '^bind-q$' }, denied('exchange', 'bind-x')],
    ],
  },
  {
    name: 'queue.unbind needs write on the queue and read on the exchange',
    setup: async (admin) => {
      await Promise.all([admin.assertQueue('unbind-q'), admin.assertExchange('unbind-x', 'direct')]);
      await admin.bindQueue('unbind-q', 'unbind-x', 'k');
    },
    op: (ch) => ch.unbindQueue('unbind-q', 'unbind-x', 'k'),
    grant: { ...NONE, write: '^unbind-q$', read: '^unbind-x$' },
    without: [
      [{ ...NONE, read: '^unbind-x$' }, denied('queue', 'unbind-q')],
      [{ ...NONE, write: '^unbind-q$' }, denied('exchange', 'unbind-x')],
    ],
  },
  {
    name: 'exchange.bind needs write on the destination and read on the source',
    setup: (admin) => Promise.all([admin.assertExchange('xb-src', 'fanout'), admin.assertExchange('xb-dst', 'fanout')]),
    op: (ch) => ch.bindExchange('xb-dst', 'xb-src', ''),
    grant: { ...NONE, write: '^xb-dst$', read: '^xb-src$' },
    without: [
      [{ ...NONE, read: '^xb-src$' }, denied('exchange', 'xb-dst')],
      [{ ...NONE, write: '^xb-dst$' }, denied('exchange', 'xb-src')],
    ],
  },
  {
    name: 'exchange.unbind needs write on the destination and read on the source',
    setup: async (admin) => {
      await Promise.all([admin.assertExchange('xu-src', 'fanout'), admin.assertExchange('xu-dst', 'fanout')]);
      await admin.bindExchange('xu-dst', 'xu-src', '');
    },
    op: (ch) => ch.unbindExchange('xu-dst', 'xu-src', ''),
    grant: { ...NONE, write: '^xu-dst$', read: '^xu-src$' },
    without: [
      [{ ...NONE, read: '^xu-src$' }, denied('exchange', 'xu-dst')],
      [{ ...NONE, write: '^xu-dst$' }, denied('exchange', 'xu-src')],
    ],
  },
  {
    name: 'basic.publish needs write on the exchange',
    setup: (admin) => admin.assertExchange('pub-x', 'fanout'),
    op: (_ch, conn) => publish(conn, 'pub-x', 'k'),
    grant: { ...NONE, write: '^pub-x$' },
    without: [[{ configure: '.*', write: '', read: '.*' }, denied('exchange', 'pub-x')]],
  },
  {
    name: "basic.publish to the default exchange needs write on 'amq.default'",
    setup: (admin) => admin.assertQueue('default-q'),
    op: (_ch, conn) => publish(conn, '', 'default-q'),
    grant: { ...NONE, write: '^amq\\.default$' },
    without: [[{ ...NONE, write: '^default-q$' }, denied('exchange', 'amq.default')]],
  },
  {
    name: 'basic.publish to an exchange that does not exist: write permission is checked first',
    op: (_ch, conn) => publish(conn, 'ghost-x', 'k').catch((err) => (String(err.message).includes('NOT_FOUND') ? 'not found' : Promise.reject(err))),
    grant: { ...NONE, write: '^ghost-x$' },
    without: [[NONE, denied('exchange', 'ghost-x')]],
  },
  {
    name: 'basic.consume needs read on the queue',
    setup: (admin) => admin.assertQueue('consume-q'),
    op: (ch) => ch.consume('consume-q', () => {}),
    grant: { ...NONE, read: '^consume-q$' },
    without: [[{ configure: '.*', write: '.*', read: '' }, denied('queue', 'consume-q')]],
  },
  {
    name: 'basic.get needs read on the queue',
    setup: (admin) => admin.assertQueue('get-q'),
    op: (ch) => ch.get('get-q'),
    grant: { ...NONE, read: '^get-q$' },
    without: [[{ configure: '.*', write: '.*', read: '' }, denied('queue', 'get-q')]],
  },
];

describe.each(MODES)('permissions: $name', ({ workers }) => {
  let running: RunningBroker;
  let admin: ChannelModel;
  let adminCh: Channel;
  const opened: ChannelModel[] = [];
  const asUser = async (spec: Spec) => {
    running.broker.setPermissions('u', V, spec);
    const conn = await connect(`amqp://u:pw@127.0.0.1:${running.port}/${V}`);
    opened.push(conn);
    return { conn, ch: await channel(conn) };
  };
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers });
    running.broker.addVHost(V);
    running.broker.setPermissions('guest', V, FULL);
    running.broker.putUser('u', { password: 'pw' });
    admin = await connect(`amqp://guest:guest@127.0.0.1:${running.port}/${V}`);
    adminCh = await channel(admin);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.close().catch(() => {})));
  });
  afterAll(async () => {
    await admin.close();
    await running.close();
  });

  it.each(CASES)('$name', async ({ setup, op, grant, without }) => {
    await setup?.(adminCh);
    // Refused first (nothing changed), then allowed.
    for (const [spec, text] of without) {
      const { conn, ch } = await asUser(spec);
      const got = await refused(orClose(ch, op(ch, conn)));
      expect(got.code).toBe(403);
      expect(got.text.startsWith(text), got.text).toBe(true);
    }
    const { conn, ch } = await asUser(grant);
    await op(ch, conn);
  });

  it('publishes are checked once per exchange and channel, and again after any permission change', async () => {
    await adminCh.assertQueue('cache-q');
    await adminCh.purgeQueue('cache-q');
    const { ch } = await asUser({ ...NONE, write: '^amq\\.default$' });
    for (let i = 0; i < 100; i++) ch.sendToQueue('cache-q', Buffer.from(`m${i}`));
    await eventually(async () => expect((await adminCh.checkQueue('cache-q')).messageCount).toBe(100));
    // Revoked: the next publish on the same channel is refused, and nothing more arrives.
    const closed = closedWith(ch);
    running.broker.setPermissions('u', V, { ...NONE, write: '^something-else$' });
    ch.sendToQueue('cache-q', Buffer.from('late'));
    expect(await closed).toEqual({ code: 403, text: denied('exchange', 'amq.default') });
    expect(await drain(adminCh, 'cache-q')).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
  });
});

describe.each(MODES)('topic permissions: $name', ({ workers }) => {
  let running: RunningBroker;
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers });
    running.broker.addVHost(V);
    running.broker.putUser('u', { password: 'pw' });
    running.broker.setPermissions('u', V, FULL);
    running.broker.setTopicPermissions('u', V, { exchange: 'amq.topic', write: '^orders\\.{username}\\.', read: '^audit\\.' });
    running.broker.setPermissions('guest', V, FULL);
  });
  afterAll(() => running.close());

  it("publishing to a topic exchange needs the routing key to match the topic permission's write pattern; other exchanges are not affected", async () => {
    const conn = await connect(`amqp://u:pw@127.0.0.1:${running.port}/${V}`);
    const ch = await channel(conn);
    const q = (await ch.assertQueue('topic-inbox')).queue;
    await ch.bindQueue(q, 'amq.topic', 'audit.#');
    await ch.bindQueue(q, 'amq.direct', 'anything');
    // guest has no topic permission: it may bind any key.
    const admin = await connect(`amqp://guest:guest@127.0.0.1:${running.port}/${V}`);
    await (await channel(admin)).bindQueue(q, 'amq.topic', 'orders.#');
    const inbox = await subscribe(ch, q);
    for (let i = 0; i < 20; i++) await publish(conn, 'amq.topic', `orders.u.${i}`);
    await publish(conn, 'amq.direct', 'anything');
    const got = await refused(publish(conn, 'amq.topic', 'orders.someone-else.1'));
    expect(got).toEqual({ code: 403, text: `ACCESS_REFUSED - access to topic 'orders.someone-else.1' in exchange topic 'amq.topic' in vhost '${V}' refused for user 'u'` });
    // queue.bind to the topic exchange checks the binding key against the read pattern.
    const bindCh = await channel(conn);
    expect(await refused(bindCh.bindQueue(q, 'amq.topic', 'orders.#'))).toEqual({
      code: 403,
      text: `ACCESS_REFUSED - access to topic 'orders.#' in exchange topic 'amq.topic' in vhost '${V}' refused for user 'u'`,
    });
    expect(inbox.messages.map((m) => m.fields.routingKey)).toEqual([...Array.from({ length: 20 }, (_, i) => `orders.u.${i}`), 'anything']);
    await conn.close();
    await admin.close();
  });
});
