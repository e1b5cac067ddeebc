/**
 * The management HTTP API on warren and on a real RabbitMQ's management plugin:
 * the same random sequence of requests (declare and delete queues and
 * exchanges with flags and arguments, bind and unbind, publish through an
 * exchange, get messages with each ack mode, purge, set and clear policies
 * and an operator policy on them, read back queues, exchanges, bindings and policies) must get the same status codes and the same values
 * in the fields both fill in at once (names, flags, arguments, routing, the
 * messages a get returns with their properties and counts); and the same for
 * vhosts, users, permissions, user and vhost limits, runtime and global parameters. Statistics are
 * not compared: RabbitMQ gathers them every few seconds. Nor is the hash in
 * the properties key of a binding with arguments (RabbitMQ's is erlang:phash2
 * of the Erlang term); a client takes it from a listing. Skipped unless
 * RABBITMQ_MANAGEMENT_URL names RabbitMQ's API (tools/rabbitmq-crosscheck.sh:
 * http://guest:guest@127.0.0.1:15672). WARREN_WORKERS=N: warren's shard
 * threads (default 0, inline).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';

const RABBITMQ_MANAGEMENT_URL = process.env.RABBITMQ_MANAGEMENT_URL;
const RUNS = Number(process.env.WARREN_FUZZ_RUNS) || 100;

// Names unique to this run: RabbitMQ keeps what a run leaves behind.
const P = `hdiff${process.pid}`;
const QUEUES = [`${P}.q0`, `${P}.q1`];
const EXCHANGES = [`${P}.x0`, `${P}.x1`, 'amq.direct', 'amq.default'];

const queueArguments = fc.dictionary(
  fc.constantFrom('x-max-length', 'x-message-ttl', 'x-overflow', 'x-max-priority', 'x-dead-letter-exchange', 'x-queue-type', 'x-custom'),
  fc.constantFrom<unknown>(0, 1, 2, 'drop-head', 'reject-publish', 'classic', 'quorum', '', 'x', true),
  { maxKeys: 2 },
);
const key = fc.constantFrom('', 'a', 'b', 'a.b', '#', '*');
const properties = fc.record({
  delivery_mode: fc.constantFrom(1, 2),
  priority: fc.integer({ min: 0, max: 9 }),
  content_type: fc.constantFrom('text/plain', 'application/json'),
  headers: fc.dictionary(fc.constantFrom('h', 'x-match', 'CC'), fc.constantFrom<unknown>(1, 'a', ['b'])),
  expiration: fc.constantFrom('60000', '60000', '0'),
  message_id: fc.constantFrom('id1', ''),
}, { requiredKeys: [] })
  // RabbitMQ's priority queue (q1) keeps counting a TTL-0 message of a higher priority after a get passed it; warren drops it (the message differential leaves this out too)
  .map((p) => (p.expiration === '0' && p.priority !== undefined ? { ...p, priority: 0 } : p));

type Request = {
  method: string;
  path: string;
  body?: unknown;
  what: 'queue' | 'exchange' | 'bindings' | 'messages' | 'policy' | 'vhost' | 'user' | 'permission' | 'permissions' | 'limits' | 'parameters' | 'none';
};
const enc = encodeURIComponent;
const queuePath = (i: number) => `/api/queues/%2F/${enc(QUEUES[i]!)}`;
const exchangePath = (i: number) => `/api/exchanges/%2F/${enc(EXCHANGES[i]!)}`;

// Policies on those queues and exchanges: they change what a get finds (length limits, TTLs, dead letters) and where a publish goes (alternates).
const POLICIES = [`${P}.p0`, `${P}.p1`];
const policyPath = (i: number) => `/api/policies/%2F/${enc(POLICIES[i]!)}`;
const policyIndex = fc.integer({ min: 0, max: 1 });
const escaped = (name: string) => name.replace(/\./g, '\\.');
const policyBody = fc.record({
  pattern: fc.constantFrom(`^${escaped(QUEUES[0]!)}$`, `^${escaped(P)}\\.q`, `^${escaped(EXCHANGES[0]!)}$`, escaped(P), escaped(P), '('),
  'apply-to': fc.constantFrom('all', 'all', 'queues', 'exchanges', 'nope'),
  definition: fc.oneof(
    { weight: 9, arbitrary: fc.record({
      'max-length': fc.constantFrom(0, 1, 2),
      'max-length-bytes': fc.constantFrom(0, 3),
      'message-ttl': fc.constantFrom(0, 60000),
      overflow: fc.constantFrom('drop-head', 'reject-publish'),
      'dead-letter-exchange': fc.constantFrom('', EXCHANGES[1]),
      'dead-letter-routing-key': fc.constant(QUEUES[0]),
      'alternate-exchange': fc.constant(EXCHANGES[1]),
      'queue-mode': fc.constant('lazy'),
    }, { requiredKeys: [] }) },
    // refused: a bad value, an unknown key, nothing
    { weight: 1, arbitrary: fc.constantFrom<Record<string, unknown>>({ 'max-length': -1 }, { 'x-custom': 1 }, {}, { overflow: 'x' }) },
  ),
}, { requiredKeys: ['pattern', 'definition'] });
// An operator policy beside them: it caps the limits the policies and arguments set.
const operatorPolicyPath = `/api/operator-policies/%2F/${enc(`${P}.op`)}`;
const operatorPolicyBody = fc.record({
  pattern: policyBody.map((b) => b.pattern),
  'apply-to': fc.constantFrom('all', 'queues', 'exchanges'),
  priority: fc.constantFrom(0, 5),
  definition: fc.oneof(
    { weight: 9, arbitrary: fc.record({ 'max-length': fc.constantFrom(0, 1, 3), 'max-length-bytes': fc.constantFrom(0, 8), 'message-ttl': fc.constantFrom(0, 60000) }, { requiredKeys: [] }) },
    // refused: a policy's setting, a bad value, nothing
    { weight: 1, arbitrary: fc.constantFrom<Record<string, unknown>>({ overflow: 'drop-head' }, { 'max-length': -1 }, {}) },
  ),
});

const queueIndex = fc.integer({ min: 0, max: 1 });
const exchangeIndex = fc.integer({ min: 0, max: 3 });
const request: fc.Arbitrary<Request> = fc.oneof(
  // publish and get weigh more: what a rig does most
  { weight: 4, arbitrary: fc.record({ x: fc.constantFrom(0, 3), routing_key: fc.constantFrom('a', 'b', ...QUEUES), properties, payload: fc.constantFrom('', 'hello', 'é') })
    .map(({ x, ...body }) => ({ method: 'POST', path: `${exchangePath(x)}/publish`, body: { ...body, payload_encoding: 'string' }, what: 'none' as const })) },
  { weight: 5, arbitrary: fc.record({ q: queueIndex, count: fc.integer({ min: 1, max: 3 }), ackmode: fc.constantFrom('ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false') })
    .map(({ q, ...body }) => ({ method: 'POST', path: `${queuePath(q)}/get`, body: { ...body, encoding: 'auto' }, what: 'messages' as const })) },
  fc.record({ q: queueIndex, durable: fc.boolean(), auto_delete: fc.boolean(), arguments: queueArguments })
    .map(({ q, ...body }) => ({ method: 'PUT', path: queuePath(q), body, what: 'none' as const })),
  fc.record({ q: queueIndex, ifUnused: fc.boolean(), ifEmpty: fc.boolean() }).map(({ q, ifUnused, ifEmpty }) => ({
    method: 'DELETE', path: `${queuePath(q)}${ifUnused || ifEmpty ? '?' : ''}${[ifUnused ? 'if-unused=true' : '', ifEmpty ? 'if-empty=true' : ''].filter(Boolean).join('&')}`, what: 'none' as const,
  })),
  queueIndex.map((q) => ({ method: 'GET', path: queuePath(q), what: 'queue' as const })),
  queueIndex.map((q) => ({ method: 'GET', path: `${queuePath(q)}/bindings`, what: 'bindings' as const })),
  queueIndex.map((q) => ({ method: 'DELETE', path: `${queuePath(q)}/contents`, what: 'none' as const })),
  fc.record({ x: exchangeIndex, type: fc.constantFrom('direct', 'fanout', 'topic', 'headers'), durable: fc.boolean(), auto_delete: fc.boolean(), internal: fc.boolean() })
    .map(({ x, ...body }) => ({ method: 'PUT', path: exchangePath(x), body, what: 'none' as const })),
  fc.record({ x: exchangeIndex, ifUnused: fc.boolean() })
    .map(({ x, ifUnused }) => ({ method: 'DELETE', path: `${exchangePath(x)}${ifUnused ? '?if-unused=true' : ''}`, what: 'none' as const })),
  exchangeIndex.map((x) => ({ method: 'GET', path: exchangePath(x), what: 'exchange' as const })),
  fc.record({ x: exchangeIndex, q: queueIndex, routing_key: key, arguments: fc.dictionary(fc.constantFrom('x-match', 'h'), fc.constantFrom<unknown>('all', 'any', 1), { maxKeys: 2 }) })
    .map(({ x, q, ...body }) => ({ method: 'POST', path: `/api/bindings/%2F/e/${enc(EXCHANGES[x]!)}/q/${enc(QUEUES[q]!)}`, body, what: 'none' as const })),
  fc.record({ x: exchangeIndex, to: exchangeIndex, routing_key: key })
    .map(({ x, to, ...body }) => ({ method: 'POST', path: `/api/bindings/%2F/e/${enc(EXCHANGES[x]!)}/e/${enc(EXCHANGES[to]!)}`, body, what: 'none' as const })),
  fc.record({ x: exchangeIndex, q: queueIndex })
    .map(({ x, q }) => ({ method: 'GET', path: `/api/bindings/%2F/e/${enc(EXCHANGES[x]!)}/q/${enc(QUEUES[q]!)}`, what: 'bindings' as const })),
  fc.record({ x: exchangeIndex, q: queueIndex, routing_key: key })
    .map(({ x, q, routing_key }) => ({ method: 'DELETE', path: `/api/bindings/%2F/e/${enc(EXCHANGES[x]!)}/q/${enc(QUEUES[q]!)}/${enc(routing_key === '' ? '~' : routing_key)}`, what: 'none' as const })),
  fc.record({ x: exchangeIndex, routing_key: fc.oneof(key, fc.constantFrom(...QUEUES)), properties, payload: fc.constantFrom('', 'hello', 'é') })
    .map(({ x, ...body }) => ({ method: 'POST', path: `${exchangePath(x)}/publish`, body: { ...body, payload_encoding: 'string' }, what: 'none' as const })),
  // p0 below p1 always: RabbitMQ leaves a tie to its table's hash order
  { weight: 2, arbitrary: fc.record({ p: policyIndex, body: policyBody, priority: fc.constantFrom(0, 1) })
    .map(({ p, body, priority }) => ({ method: 'PUT', path: policyPath(p), body: { ...body, priority: priority + 2 * p }, what: 'none' as const })) },
  policyIndex.map((p) => ({ method: 'DELETE', path: policyPath(p), what: 'none' as const })),
  policyIndex.map((p) => ({ method: 'GET', path: policyPath(p), what: 'policy' as const })),
  operatorPolicyBody.map((body) => ({ method: 'PUT', path: operatorPolicyPath, body, what: 'none' as const })),
  fc.constantFrom('DELETE', 'GET').map((method) => ({ method, path: operatorPolicyPath, what: method === 'GET' ? ('policy' as const) : ('none' as const) })),
);

/** Two queues bound to an exchange (keys a and b): most requests find something to act on. */
const SET_UP: Request[] = [
  { method: 'PUT', path: queuePath(0), body: { durable: true }, what: 'none' },
  { method: 'PUT', path: queuePath(1), body: { durable: false, arguments: { 'x-max-priority': 5 } }, what: 'none' },
  { method: 'PUT', path: exchangePath(0), body: { type: 'direct' }, what: 'none' },
  { method: 'POST', path: `/api/bindings/%2F/e/${enc(EXCHANGES[0]!)}/q/${enc(QUEUES[0]!)}`, body: { routing_key: 'a' }, what: 'none' },
  { method: 'POST', path: `/api/bindings/%2F/e/${enc(EXCHANGES[0]!)}/q/${enc(QUEUES[1]!)}`, body: { routing_key: 'b' }, what: 'none' },
];

// Users, vhosts and permissions: two of each, made and unmade in random order.
const VHOSTS = [`${P}-v0`, `${P}-v1`, '/'];
const USERS = [`${P}-u0`, `${P}-u1`, 'guest'];
const vhostIndex = fc.integer({ min: 0, max: 2 });
const userIndex = fc.integer({ min: 0, max: 2 });
const vhostPath = (v: number) => `/api/vhosts/${enc(VHOSTS[v]!)}`;
const userPath = (u: number) => `/api/users/${enc(USERS[u]!)}`;
const permissionsPath = (v: number, u: number) => `/api/permissions/${enc(VHOSTS[v]!)}/${enc(USERS[u]!)}`;
const pattern = fc.constantFrom('.*', '', '^amq\\.', 'a|b', '(', '[');
const globalIndex = fc.integer({ min: 0, max: 1 });
const globalPath = (g: number) => `/api/global-parameters/${enc(`${P}-g${g}`)}`;
/** A user's or vhost's limit (the broker's own user and vhost too), under any of the names. */
const limitPath = (users: fc.Arbitrary<number>, vhosts: fc.Arbitrary<number>) => fc.oneof(
  fc.record({ u: users, limit: fc.constantFrom('max-connections', 'max-channels', 'max-queues') })
    .map(({ u, limit }) => `/api/user-limits/${enc(USERS[u]!)}/${limit}`),
  fc.record({ v: vhosts, limit: fc.constantFrom('max-connections', 'max-queues', 'max-channels') })
    .map(({ v, limit }) => `/api/vhost-limits/${enc(VHOSTS[v]!)}/${limit}`),
);
const access: fc.Arbitrary<Request> = fc.oneof(
  // the broker's own vhost and user stay: their deletes are left out
  fc.record({ v: fc.integer({ min: 0, max: 1 }), description: fc.option(fc.constantFrom('', 'test vhost'), { nil: undefined }), tags: fc.option(fc.constantFrom('', 'a,b', 'x'), { nil: undefined }), tracing: fc.option(fc.constantFrom<unknown>(true, false, 'yes'), { nil: undefined }) }, { requiredKeys: ['v'] })
    .map(({ v, ...body }) => ({ method: 'PUT', path: vhostPath(v), body, what: 'none' as const })),
  fc.integer({ min: 0, max: 1 }).map((v) => ({ method: 'DELETE', path: vhostPath(v), what: 'none' as const })),
  vhostIndex.map((v) => ({ method: 'GET', path: vhostPath(v), what: 'vhost' as const })),
  fc.record({
    u: fc.integer({ min: 0, max: 1 }),
    password: fc.option(fc.constantFrom('', 'secret', 'pässword'), { nil: undefined }),
    tags: fc.option(fc.constantFrom('', 'administrator', 'management,monitoring', 'policymaker', 'custom'), { nil: undefined }),
  }, { requiredKeys: ['u'] }).map(({ u, ...body }) => ({ method: 'PUT', path: userPath(u), body, what: 'none' as const })),
  fc.integer({ min: 0, max: 1 }).map((u) => ({ method: 'DELETE', path: userPath(u), what: 'none' as const })),
  userIndex.map((u) => ({ method: 'GET', path: userPath(u), what: 'user' as const })),
  fc.record({ v: vhostIndex, u: fc.integer({ min: 0, max: 1 }), configure: pattern, write: pattern, read: pattern })
    .map(({ v, u, ...body }) => ({ method: 'PUT', path: permissionsPath(v, u), body, what: 'none' as const })),
  fc.record({ v: vhostIndex, u: fc.integer({ min: 0, max: 1 }) }).map(({ v, u }) => ({ method: 'DELETE', path: permissionsPath(v, u), what: 'none' as const })),
  fc.record({ v: vhostIndex, u: userIndex }).map(({ v, u }) => ({ method: 'GET', path: permissionsPath(v, u), what: 'permission' as const })),
  userIndex.map((u) => ({ method: 'GET', path: `${userPath(u)}/permissions`, what: 'permissions' as const })),
  vhostIndex.map((v) => ({ method: 'GET', path: `${vhostPath(v)}/permissions`, what: 'permissions' as const })),
  // user and vhost limits: valid and invalid names and values, of objects that may not exist
  fc.record({ path: limitPath(userIndex, vhostIndex), value: fc.constantFrom<unknown>(0, 5, -1, 1.5, '5', undefined) })
    .map(({ path, value }) => ({ method: 'PUT', path, body: value === undefined ? {} : { value }, what: 'none' as const })),
  // only guest's and '/': RabbitMQ 3.10.8 answers 500 to a DELETE for a user or vhost that does not exist
  limitPath(fc.constant(2), fc.constant(2)).map((path) => ({ method: 'DELETE', path, what: 'none' as const })),
  fc.oneof(userIndex.map((u) => `/api/user-limits/${enc(USERS[u]!)}`), vhostIndex.map((v) => `/api/vhost-limits/${enc(VHOSTS[v]!)}`))
    .map((path) => ({ method: 'GET', path, what: 'limits' as const })),
  fc.constantFrom('/api/user-limits', '/api/vhost-limits', '/api/parameters').map((path) => ({ method: 'GET', path, what: 'parameters' as const })),
  // the same vhost limits as a runtime parameter (one of no limits stays, [], once its last limit is deleted)
  fc.record({
    v: vhostIndex,
    component: fc.constantFrom('vhost-limits', 'vhost-limits', 'federation-upstream'),
    value: fc.constantFrom<unknown>({ 'max-connections': 5 }, { 'max-queues': 0, 'max-connections': -1 }, {}, [], { 'max-queues': 1.5 }, { bad: 1 }, 'x', undefined),
  }).map(({ v, component, value }) => ({ method: 'PUT', path: `/api/parameters/${component}/${enc(VHOSTS[v]!)}/limits`, body: value === undefined ? {} : { value }, what: 'none' as const })),
  vhostIndex.map((v) => ({ method: 'DELETE', path: `/api/parameters/vhost-limits/${enc(VHOSTS[v]!)}/limits`, what: 'none' as const })),
  fc.record({ v: vhostIndex, one: fc.boolean() })
    .map(({ v, one }) => ({ method: 'GET', path: `/api/parameters/vhost-limits/${enc(VHOSTS[v]!)}${one ? '/limits' : ''}`, what: 'parameters' as const })),
  // global parameters of the run's own names
  fc.record({ g: globalIndex, value: fc.constantFrom<unknown>(1, 'text', { a: [1, 'b'] }, null, undefined) })
    .map(({ g, value }) => ({ method: 'PUT', path: globalPath(g), body: value === undefined ? {} : { value }, what: 'none' as const })),
  globalIndex.map((g) => ({ method: 'DELETE', path: globalPath(g), what: 'none' as const })),
  globalIndex.map((g) => ({ method: 'GET', path: globalPath(g), what: 'limits' as const })),
);

/** One vhost and one user to start from. */
const ACCESS_SET_UP: Request[] = [
  { method: 'PUT', path: vhostPath(0), body: { description: 'd' }, what: 'none' },
  { method: 'PUT', path: userPath(0), body: { password: 'p', tags: 'management' }, what: 'none' },
];

/** x-death's time is the second each broker dead-lettered the message, which may differ by one: its type is compared, not its value. */
function withDeathTimesAsTypes(m: any): any {
  const deaths = m.properties?.headers?.['x-death'];
  if (!Array.isArray(deaths)) return m;
  const headers = { ...m.properties.headers, 'x-death': deaths.map((d: any) => ({ ...d, time: typeof d.time })) };
  return { ...m, properties: { ...m.properties, headers } };
}

/** The fields both brokers fill in at once, as the step's comparable answer. */
function comparable(r: Request, status: number, body: any): string {
  if (status >= 300 || r.what === 'none') {
    // A publish answers {routed}; an error {error, reason}: the error kind is compared, the wording is not
    const routed = body !== null && typeof body === 'object' && 'routed' in body ? ` routed ${body.routed}` : '';
    return `${status}${routed}${status >= 400 && body?.error !== undefined ? ` ${body.error}` : ''}`;
  }
  // The keys asked for, in that order; tables (arguments, headers, x-death's) with their keys sorted: JSON's order means nothing
  const sorted = (v: any): any =>
    v === null || typeof v !== 'object' ? v : Array.isArray(v) ? v.map(sorted) : Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]));
  const pick = (o: any, keys: string[]) => Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, sorted(o[k])]));
  switch (r.what) {
    case 'parameters':
      // only the run's own users and vhosts: a RabbitMQ that other suites used has more
      return `${status} ${JSON.stringify(sorted(Array.isArray(body) ? body.filter((p) => USERS.includes(p.user) || VHOSTS.includes(p.vhost)) : body))}`;
    case 'queue':
      return `${status} ${JSON.stringify(pick(body, ['name', 'vhost', 'durable', 'auto_delete', 'exclusive', 'arguments', 'type']))}`;
    case 'exchange':
      return `${status} ${JSON.stringify(pick(body, ['name', 'vhost', 'type', 'durable', 'auto_delete', 'internal', 'arguments', 'policy']))}`;
    case 'policy':
      return `${status} ${JSON.stringify(pick(body, ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority']))}`;
    case 'bindings':
      // A binding with arguments has a properties key of its routing key, '~' and a hash: RabbitMQ's is erlang:phash2 of the Erlang term, warren's its own
      return `${status} ${(body as any[]).map((b) => JSON.stringify({ ...pick(b, ['source', 'vhost', 'destination', 'destination_type', 'routing_key', 'arguments']),
        properties_key: String(b.properties_key).replace(/~.*$/, '~hash') })).sort().join(' ')}`;
    case 'messages':
      return `${status} ${(body as any[]).map((m) => JSON.stringify(pick(withDeathTimesAsTypes(m), ['payload', 'payload_bytes', 'payload_encoding', 'redelivered', 'exchange', 'routing_key', 'message_count', 'properties']))).join(' ')}`;
    case 'vhost':
      return `${status} ${JSON.stringify(pick(body, ['name', 'description', 'tags', 'tracing']))}`;
    case 'user':
      return `${status} ${JSON.stringify(pick(body, ['name', 'tags', 'hashing_algorithm', 'limits']))}`;
    case 'permission':
      return `${status} ${JSON.stringify(pick(body, ['user', 'vhost', 'configure', 'write', 'read']))}`;
    case 'limits':
      return `${status} ${JSON.stringify(sorted(body))}`;
    case 'permissions':
      // only the run's own vhosts and users: a RabbitMQ that other suites used has more
      return `${status} ${(body as any[]).filter((b) => VHOSTS.includes(b.vhost) && USERS.includes(b.user)).map((b) => JSON.stringify(pick(b, ['user', 'vhost', 'configure', 'write', 'read']))).sort().join(' ')}`;
  }
}

async function call(base: string, auth: string, r: Request): Promise<{ status: number; body: any }> {
  const res = await fetch(base + r.path, {
    method: r.method,
    headers: { authorization: auth, ...(r.body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: r.body === undefined ? undefined : JSON.stringify(r.body),
  });
  const text = await res.text();
  let body: any;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/**
 * Leaves no vhost `path` and no tracing remembered for its name: RabbitMQ and
 * warren keep a deleted vhost's tracing (rabbit_trace's list of vhost names)
 * for the next vhost of that name, and RabbitMQ outlives the test's warren.
 */
async function forgetVHost(origin: string, auth: string, path: string): Promise<void> {
  await call(origin, auth, { method: 'PUT', path, body: {}, what: 'none' });
  await call(origin, auth, { method: 'PUT', path, body: { tracing: false }, what: 'none' });
  await call(origin, auth, { method: 'DELETE', path, what: 'none' });
}

/** Runs the requests on one broker; returns each one's comparable answer. */
async function ledger(url: string, requests: Request[]): Promise<string[]> {
  const { origin, username, password } = new URL(url);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(username)}:${decodeURIComponent(password)}`).toString('base64')}`;
  try {
    const out: string[] = [];
    for (const r of requests) {
      // RabbitMQ lists a default-exchange binding for any queue name, one that does not exist too; warren answers 404 there
      if (r.path.startsWith('/api/queues/') && r.path.endsWith('/bindings')) {
        const queue = await call(origin, auth, { method: 'GET', path: r.path.slice(0, -'/bindings'.length), what: 'queue' });
        if (queue.status === 404) {
          out.push(`${r.method} ${r.path.replace(P, '')} not asked: no such queue`);
          continue;
        }
      }
      const { status, body } = await call(origin, auth, r);
      out.push(`${r.method} ${r.path.replaceAll(P, '')} ${comparable(r, status, body)}`);
      // RabbitMQ's queues take a new policy, and send what they drop or a get rejects to their dead-letter exchange, after the answer
      if (r.path.startsWith('/api/policies/') || r.path.startsWith('/api/operator-policies/') || (r.body as { ackmode?: string } | undefined)?.ackmode === 'reject_requeue_false') {
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    }
    return out;
  } finally {
    for (const p of [0, 1]) await call(origin, auth, { method: 'DELETE', path: policyPath(p), what: 'none' });
    await call(origin, auth, { method: 'DELETE', path: operatorPolicyPath, what: 'none' });
    for (const q of QUEUES) await call(origin, auth, { method: 'DELETE', path: `/api/queues/%2F/${enc(q)}`, what: 'none' });
    for (const x of EXCHANGES.slice(0, 2)) await call(origin, auth, { method: 'DELETE', path: `/api/exchanges/%2F/${enc(x)}`, what: 'none' });
    for (const limit of ['max-connections', 'max-channels']) await call(origin, auth, { method: 'DELETE', path: `/api/user-limits/guest/${limit}`, what: 'none' });
    for (const limit of ['max-connections', 'max-queues']) await call(origin, auth, { method: 'DELETE', path: `/api/vhost-limits/%2F/${limit}`, what: 'none' });
    for (const g of [0, 1]) await call(origin, auth, { method: 'DELETE', path: globalPath(g), what: 'none' });
    for (const v of [0, 2]) await call(origin, auth, { method: 'DELETE', path: `/api/parameters/vhost-limits/${enc(VHOSTS[v]!)}/limits`, what: 'none' });
    for (const u of [0, 1]) await call(origin, auth, { method: 'DELETE', path: userPath(u), what: 'none' });
    for (const v of [0, 1]) await forgetVHost(origin, auth, vhostPath(v));
  }
}

describe.skipIf(!RABBITMQ_MANAGEMENT_URL)('the management API answers the same on warren and RabbitMQ', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ port: 0, host: '127.0.0.1', workers: Number(process.env.WARREN_WORKERS ?? 0), managementPort: 0 });
  });
  afterAll(() => broker?.close());

  /** Random runs of `step` after `setUp`: both brokers must answer each request the same. */
  const answerAlike = (step: fc.Arbitrary<Request>, setUp: Request[]) =>
    fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 20 }), async (steps) => {
        const requests = [...setUp, ...steps];
        const warren = await ledger(`http://guest:guest@127.0.0.1:${broker.managementPort}`, requests);
        const rabbit = await ledger(RABBITMQ_MANAGEMENT_URL!, requests);
        expect(warren, requests.map((r) => `${r.method} ${r.path} ${JSON.stringify(r.body ?? '')}`).join('\n')).toEqual(rabbit);
      }),
      { numRuns: RUNS },
    );

  it('queues, exchanges, bindings, publish, get and purge: status codes and values', () => answerAlike(request, SET_UP), 1_800_000);
  it('vhosts, users and permissions: status codes and values', () => answerAlike(access, ACCESS_SET_UP), 1_800_000);
});
