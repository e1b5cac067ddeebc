/**
 * The fixed state that tools/record-management-fixtures.mjs builds on a
 * RabbitMQ and test/management/rabbitmq-shapes.test.ts builds on warren, and
 * the requests whose answers are compared. One module, so both brokers see
 * the same requests in the same order.
 */
import amqp from 'amqplib';

/**
 * A fetch wrapper for a management API: `http://user:pass@host:port`. A string
 * body goes as it is (malformed JSON on purpose); `auth` logs in as another user.
 */
export function managementClient(url) {
  const u = new URL(url);
  const base = `${u.protocol}//${u.host}`;
  const basicAuth = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const defaultAuth = basicAuth(decodeURIComponent(u.username), decodeURIComponent(u.password));
  return async (method, path, body, auth) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: auth === undefined ? defaultAuth : basicAuth(auth.user, auth.password), 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, location: res.headers.get('location'), body: json };
  };
}

export const VHOST = 'fixtures';
export const USER = 'fixture-user';
const PASSWORD = 'fixture-secret';
/** a topic exchange bound to QUEUE with 'a.*' */
export const EXCHANGE = 'fx.topic';
/** holds PUBLISHED messages, nobody consumes */
export const QUEUE = 'fx.q';
/** a consumer with prefetch PREFETCH holds its messages unacked */
export const CONSUMED = 'fx.consumed';
export const PUBLISHED = 5;
export const PREFETCH = 3;

/**
 * Builds the state: a vhost and a monitoring user with permissions, a topic
 * exchange bound to a durable queue with PUBLISHED messages in it (published
 * over AMQP with confirms), and a consumer connection: a channel with prefetch
 * PREFETCH consuming CONSUMED, to which PUBLISHED more messages went. Returns
 * the AMQP connections; close them when done.
 */
export async function buildState(api, amqpUrl) {
  const expect = async (method, path, body, statuses = [201, 204]) => {
    const res = await api(method, path, body);
    if (!statuses.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  await expect('PUT', `/api/vhosts/${VHOST}`, {});
  await expect('PUT', `/api/users/${USER}`, { password: PASSWORD, tags: 'monitoring' });
  await expect('PUT', `/api/permissions/${VHOST}/${USER}`, { configure: '^fx\\.', write: '.*', read: '.*' });
  await expect('PUT', `/api/permissions/${VHOST}/guest`, { configure: '.*', write: '.*', read: '.*' });
  await expect('PUT', `/api/exchanges/%2F/${EXCHANGE}`, { type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} });
  await expect('PUT', `/api/exchanges/${VHOST}/fx.fanout`, { type: 'fanout', durable: false, auto_delete: false, internal: false, arguments: {} });
  await expect('PUT', `/api/queues/%2F/${QUEUE}`, { durable: true, auto_delete: false, arguments: { 'x-max-length': 1000 } });
  await expect('POST', `/api/bindings/%2F/e/${EXCHANGE}/q/${QUEUE}`, { routing_key: 'a.*', arguments: {} });

  const publisher = await amqp.connect(amqpUrl, { clientProperties: { connection_name: 'fixture-publisher' } });
  const confirm = await publisher.createConfirmChannel();
  for (let i = 0; i < PUBLISHED; i++) confirm.publish(EXCHANGE, 'a.b', Buffer.from(`message ${i}`), { persistent: true });
  await confirm.waitForConfirms();

  const consumer = await amqp.connect(amqpUrl, { clientProperties: { connection_name: 'fixture-consumer' } });
  const ch = await consumer.createChannel();
  await ch.prefetch(PREFETCH);
  await ch.assertQueue(CONSUMED, { durable: false });
  let delivered = 0;
  await ch.consume(CONSUMED, () => delivered++, { noAck: false, consumerTag: 'fixture-consumer-tag' });
  for (let i = 0; i < PUBLISHED; i++) confirm.sendToQueue(CONSUMED, Buffer.from(`consumed ${i}`));
  await confirm.waitForConfirms();
  const deadline = Date.now() + 10_000;
  while (delivered < PREFETCH && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (delivered !== PREFETCH) throw new Error(`the consumer got ${delivered} messages, not ${PREFETCH}`);
  return [publisher, consumer];
}

/**
 * The recorded requests, in order: reads first, then the ones that change
 * state (aliveness test, get, publish). Each is [fixture name, method, path,
 * body, auth]; an auth of `bad` sends a wrong password.
 */
export const RECORDINGS = [
  ['overview', 'GET', '/api/overview'],
  ['nodes', 'GET', '/api/nodes'],
  ['connections', 'GET', '/api/connections'],
  ['channels', 'GET', '/api/channels'],
  ['consumers', 'GET', '/api/consumers'],
  ['exchanges', 'GET', '/api/exchanges'],
  ['exchanges-vhost', 'GET', `/api/exchanges/${VHOST}`],
  ['exchange', 'GET', `/api/exchanges/%2F/${EXCHANGE}`],
  ['queues', 'GET', '/api/queues'],
  ['queues-page', 'GET', '/api/queues?page=1&page_size=1'],
  ['queue', 'GET', `/api/queues/%2F/${QUEUE}`],
  ['queue-consumed', 'GET', `/api/queues/%2F/${CONSUMED}`],
  ['bindings', 'GET', '/api/bindings/%2F'],
  ['queue-bindings', 'GET', `/api/queues/%2F/${QUEUE}/bindings`],
  ['vhosts', 'GET', '/api/vhosts'],
  ['users', 'GET', '/api/users'],
  ['permissions', 'GET', '/api/permissions'],
  ['whoami', 'GET', '/api/whoami'],
  ['whoami-monitoring', 'GET', '/api/whoami', undefined, { user: USER, password: PASSWORD }],
  ['definitions', 'GET', '/api/definitions'],
  ['healthchecks-node', 'GET', '/api/healthchecks/node'],
  ['error-404', 'GET', '/api/queues/%2F/no-such-queue'],
  ['error-401', 'GET', '/api/overview', undefined, { user: 'guest', password: 'wrong' }],
  ['error-400', 'PUT', `/api/queues/%2F/${QUEUE}`, { durable: false, auto_delete: false, arguments: {} }],
  ['aliveness-test', 'GET', '/api/aliveness-test/%2F'],
  ['queue-get', 'POST', `/api/queues/%2F/${QUEUE}/get`, { count: 2, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: 50000 }],
  ['exchange-publish', 'POST', `/api/exchanges/%2F/${EXCHANGE}/publish`, { properties: { delivery_mode: 2, headers: { n: 1 } }, routing_key: 'a.b', payload: 'published over HTTP', payload_encoding: 'string' }],
  ['exchange-publish-unrouted', 'POST', `/api/exchanges/%2F/${EXCHANGE}/publish`, { properties: {}, routing_key: 'nowhere', payload: 'lost', payload_encoding: 'string' }],
];
