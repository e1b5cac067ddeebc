/**
 * The channel's route cache (acceptor/route-cache.ts): a channel that keeps
 * publishing to one exchange and key reuses its last route until the vhost's
 * topology changes. Every numbered message published on a long-lived channel
 * (which hits its cache) must land where its twin, published on a brand-new
 * channel (which routes afresh), lands, through random declares, deletes,
 * binds and unbinds; and permissions, internal exchanges, alternates,
 * exchange-to-exchange bindings, headers exchanges and CC stay per message.
 */
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, closedWith, confirmChannel, connect, drain, uniq, useBroker } from '../helpers.js';

type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers';

/** Same-length names that differ only in their bytes (é is two), multi-byte text, and topic patterns. */
const KEYS = ['ab', 'é', 'a.b', 'ключ', ''];
const BINDING_KEYS = [...KEYS, '#', '*.b', 'a.*'];
const HEADER_VALUES = ['v1', 'v2'];

type Op =
  | { kind: 'declareExchange'; x: number; type: ExchangeType; alternate: number | null }
  | { kind: 'deleteExchange'; x: number }
  | { kind: 'declareQueue'; q: number }
  | { kind: 'deleteQueue'; q: number }
  | { kind: 'bind'; q: number; x: number; key: number; h: number }
  | { kind: 'unbind'; q: number; x: number; key: number; h: number }
  | { kind: 'bindExchange'; to: number; x: number; key: number; h: number }
  | { kind: 'unbindExchange'; to: number; x: number; key: number; h: number }
  | { kind: 'publish'; x: number; key: number; messages: { h: number; cc: number | null }[] }
  /** the last publish's exchange and key again: what a cached route is for */
  | { kind: 'republish'; messages: { h: number; cc: number | null }[] };

const N = 4;
const ix = fc.nat({ max: N - 1 });
const key = fc.nat({ max: KEYS.length - 1 });
const bindingKey = fc.nat({ max: BINDING_KEYS.length - 1 });
const h = fc.nat({ max: HEADER_VALUES.length - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('declareExchange' as const), x: ix, type: fc.constantFrom<ExchangeType>('direct', 'fanout', 'topic', 'headers'), alternate: fc.option(ix) }),
  fc.record({ kind: fc.constant('deleteExchange' as const), x: ix }),
  fc.record({ kind: fc.constant('declareQueue' as const), q: ix }),
  fc.record({ kind: fc.constant('deleteQueue' as const), q: ix }),
  fc.record({ kind: fc.constant('bind' as const), q: ix, x: ix, key: bindingKey, h }),
  fc.record({ kind: fc.constant('unbind' as const), q: ix, x: ix, key: bindingKey, h }),
  fc.record({ kind: fc.constant('bindExchange' as const), to: ix, x: ix, key: bindingKey, h }),
  fc.record({ kind: fc.constant('unbindExchange' as const), to: ix, x: ix, key: bindingKey, h }),
  // x = N: the default exchange
  fc.record({ kind: fc.constant('publish' as const), x: fc.nat({ max: N }), key, messages: messages() }),
  ...Array.from({ length: 4 }, () => fc.record({ kind: fc.constant('republish' as const), messages: messages() })),
);

function messages(): fc.Arbitrary<{ h: number; cc: number | null }[]> {
  // CC (which bypasses the cache) now and then
  const cc = fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: key });
  return fc.array(fc.record({ h, cc }), { minLength: 1, maxLength: 3 });
}

/** Where one message went: the queues (by name, with repeats) it was found in, and whether it came back. */
type Fate = { queues: string[]; returned: boolean };

describe.each(MODES)('route cache: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('255-byte multi-byte exchange names and routing keys, differing only in their last byte, each keep their own route', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const padded = (name: string) => name + 'z'.repeat(255 - Buffer.byteLength(name));
    const x = padded(`${uniq('x')}-${'é'.repeat(115)}`);
    const keyA = padded('к'.repeat(127)).slice(0, -1) + 'a'; // 254 bytes of 'к' then 'a': 255
    const keyB = keyA.slice(0, -1) + 'b';
    expect([x, keyA, keyB].map((n) => Buffer.byteLength(n))).toEqual([255, 255, 255]);
    await ch.assertExchange(x, 'direct', { autoDelete: false });
    const [qa, qb] = [uniq('rc-255-a'), uniq('rc-255-b')];
    await ch.assertQueue(qa);
    await ch.assertQueue(qb);
    await ch.bindQueue(qa, x, keyA);
    await ch.bindQueue(qb, x, keyB);
    // Runs of one key (cache hits) and alternations (misses on the last byte only).
    const sent: Record<string, string[]> = { [qa]: [], [qb]: [] };
    for (let i = 0; i < 600; i++) {
      const toA = i < 200 || (i >= 400 && i % 2 === 0);
      ch.publish(x, toA ? keyA : keyB, Buffer.from(`m${i}`));
      sent[toA ? qa : qb].push(`m${i}`);
    }
    await ch.waitForConfirms();
    expect(await drain(ch, qa)).toEqual(sent[qa]);
    expect(await drain(ch, qb)).toEqual(sent[qb]);
    await ch.deleteExchange(x);
  });

  it('a repeated publish lands exactly where a fresh routing sends it, through random topology changes', async () => {
    const conn = await server.connect();
    const admin = await channel(conn);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), async (ops) => {
        const prefix = uniq(`rc${++run}`);
        const xName = (x: number) => (x === N ? '' : `${prefix}-x${x}`);
        const qName = (q: number) => `${prefix}-q${q}`;
        const exchanges = new Set<number>();
        const queues = new Set<number>();
        const fates = new Map<string, Fate>();
        const fate = (body: string) => fates.get(body) ?? fates.set(body, { queues: [], returned: false }).get(body)!;
        const cached = await confirmChannel(conn);
        const onReturn = (msg: { content: Buffer }) => (fate(msg.content.toString()).returned = true);
        cached.on('return', onReturn);
        const args = (i: number) => ({ 'x-match': 'any', h: HEADER_VALUES[i] });
        let last = { x: N, key: 0 };
        for (const [step, next] of ops.entries()) {
          const o = next.kind === 'republish' ? { ...last, kind: 'publish' as const, messages: next.messages } : next;
          switch (o.kind) {
            case 'declareExchange':
              if (exchanges.has(o.x)) continue;
              await admin.assertExchange(xName(o.x), o.type, { durable: false, alternateExchange: o.alternate === null ? undefined : xName(o.alternate) });
              exchanges.add(o.x);
              break;
            case 'deleteExchange':
              if (!exchanges.delete(o.x)) continue;
              await admin.deleteExchange(xName(o.x));
              break;
            case 'declareQueue':
              if (queues.has(o.q)) continue;
              await admin.assertQueue(qName(o.q), { durable: false });
              queues.add(o.q);
              break;
            case 'deleteQueue':
              if (!queues.delete(o.q)) continue;
              await admin.deleteQueue(qName(o.q));
              break;
            case 'bind':
            case 'unbind':
              if (!exchanges.has(o.x) || !queues.has(o.q)) continue;
              if (o.kind === 'bind') await admin.bindQueue(qName(o.q), xName(o.x), BINDING_KEYS[o.key], args(o.h));
              else await admin.unbindQueue(qName(o.q), xName(o.x), BINDING_KEYS[o.key], args(o.h));
              break;
            case 'bindExchange':
            case 'unbindExchange':
              if (!exchanges.has(o.x) || !exchanges.has(o.to)) continue;
              if (o.kind === 'bindExchange') await admin.bindExchange(xName(o.to), xName(o.x), BINDING_KEYS[o.key], args(o.h));
              else await admin.unbindExchange(xName(o.to), xName(o.x), BINDING_KEYS[o.key], args(o.h));
              break;
            case 'publish': {
              last = { x: o.x, key: o.key };
              if (o.x !== N && !exchanges.has(o.x)) continue;
              // The default exchange routes by queue name.
              const keyName = (k: number) => (o.x === N ? qName(k % N) : KEYS[k]);
              const twins: [ConfirmChannel, string][] = [];
              for (const [i, m] of o.messages.entries()) {
                const options = { mandatory: true, headers: { h: HEADER_VALUES[m.h], ...(m.cc === null ? {} : { CC: [keyName(m.cc)] }) } };
                cached.publish(xName(o.x), keyName(o.key), Buffer.from(`c${step}.${i}`), options);
                // Its twin, on a channel of its own: no cache, a fresh routing.
                const fresh = await confirmChannel(conn);
                fresh.on('return', onReturn);
                fresh.publish(xName(o.x), keyName(o.key), Buffer.from(`f${step}.${i}`), options);
                twins.push([fresh, `${step}.${i}`]);
              }
              await cached.waitForConfirms();
              for (const [fresh] of twins) {
                await fresh.waitForConfirms();
                await fresh.close();
              }
              // Drained now, before a delete could take them.
              for (const q of queues) for (const body of await drain(admin, qName(q))) fate(body).queues.push(qName(q));
              for (const [, id] of twins) {
                const fromCache = fate(`c${id}`);
                const afresh = fate(`f${id}`);
                expect({ id, queues: fromCache.queues.sort(), returned: fromCache.returned }).toEqual({ id, queues: afresh.queues.sort(), returned: afresh.returned });
              }
              break;
            }
          }
        }
        await cached.close();
        for (const x of exchanges) await admin.deleteExchange(xName(x));
        for (const q of queues) await admin.deleteQueue(qName(q));
      }),
      { numRuns: 20 },
    );
  }, 120_000);

  it('the same exchange and key route per message when the route depends on headers (headers exchange, CC)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const x = uniq('hx');
    const [q1, q2, q3] = [uniq('h1'), uniq('h2'), uniq('h3')];
    await ch.assertExchange(x, 'headers', { durable: false });
    for (const q of [q1, q2, q3]) await ch.assertQueue(q, { durable: false });
    await ch.bindQueue(q1, x, '', { 'x-match': 'all', n: 'one' });
    await ch.bindQueue(q2, x, '', { 'x-match': 'all', n: 'two' });
    await ch.assertQueue(q3, { durable: false });
    for (let i = 0; i < 20; i++) ch.publish(x, 'k', Buffer.from(`m${i}`), { headers: { n: i % 2 === 0 ? 'one' : 'two' } });
    // Default exchange, one key: every third also copied by CC to q3.
    for (let i = 0; i < 30; i++) ch.sendToQueue(q1, Buffer.from(`d${i}`), i % 3 === 0 ? { headers: { CC: [q3] } } : {});
    await ch.waitForConfirms();
    const even = Array.from({ length: 10 }, (_, i) => `m${2 * i}`);
    const odd = Array.from({ length: 10 }, (_, i) => `m${2 * i + 1}`);
    const direct = Array.from({ length: 30 }, (_, i) => `d${i}`);
    expect(await drain(ch, q1)).toEqual([...even, ...direct]);
    expect(await drain(ch, q2)).toEqual(odd);
    expect(await drain(ch, q3)).toEqual(direct.filter((_, i) => i % 3 === 0));
  });

  it('a channel that keeps publishing sees deletes, redeclares as internal, unbinds of exchange-to-exchange bindings and late alternates', async () => {
    const conn = await server.connect();
    const admin = await channel(conn);
    const pub = await confirmChannel(conn);
    const returned: string[] = [];
    pub.on('return', (m) => returned.push(m.content.toString()));
    const [x, inner, ae] = [uniq('x'), uniq('inner'), uniq('ae')];
    const q = uniq('q');
    await admin.assertQueue(q, { durable: false });
    await admin.assertExchange(x, 'direct', { durable: false, alternateExchange: ae });
    await admin.assertExchange(inner, 'fanout', { durable: false });
    await admin.bindExchange(inner, x, 'k');
    await admin.bindQueue(q, inner, '');
    const send = async (body: string) => {
      pub.publish(x, 'k', Buffer.from(body), { mandatory: true });
      await pub.waitForConfirms();
    };
    for (let i = 0; i < 5; i++) await send(`e2e${i}`);
    await admin.unbindExchange(inner, x, 'k');
    await send('unbound'); // the alternate does not exist yet: returned
    await admin.assertExchange(ae, 'fanout', { durable: false });
    await admin.bindQueue(q, ae, '');
    await send('via-ae');
    expect(await drain(admin, q)).toEqual(['e2e0', 'e2e1', 'e2e2', 'e2e3', 'e2e4', 'via-ae']);
    expect(returned).toEqual(['unbound']);
    await admin.deleteExchange(x);
    await admin.assertExchange(x, 'direct', { durable: false, internal: true });
    const closed = closedWith(pub);
    pub.publish(x, 'k', Buffer.from('internal'));
    expect(await closed).toEqual({ code: 403, text: `ACCESS_REFUSED - cannot publish to internal exchange '${x}' in vhost '/'` });
    expect(await drain(admin, q)).toEqual([]);
  });
});

describe.each(MODES)('route cache and permissions: $name', ({ workers }) => {
  const V = 'route-cache';
  let running: RunningBroker;
  let admin: ChannelModel;
  let adminCh: Channel;
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers });
    running.broker.addVHost(V);
    running.broker.setPermissions('guest', V, { configure: '.*', write: '.*', read: '.*' });
    running.broker.putUser('u', { password: 'pw' });
    admin = await connect(`amqp://guest:guest@127.0.0.1:${running.port}/${V}`);
    adminCh = await channel(admin);
  });
  afterAll(async () => {
    await admin.close();
    await running.close();
  });

  /** `u` publishes `count` numbered messages to exchange/key, then waits for their confirms. */
  async function publishAs(ch: ConfirmChannel, exchange: string, key: string, from: number, count: number): Promise<void> {
    for (let i = from; i < from + count; i++) ch.publish(exchange, key, Buffer.from(`m${i}`));
    await ch.waitForConfirms();
  }

  it('set_permissions while a channel publishes to a direct exchange: its next publish is refused 403', async () => {
    running.broker.setPermissions('u', V, { configure: '', write: '^amq\\.direct$', read: '' });
    await adminCh.assertQueue('perm-q', { durable: false });
    await adminCh.bindQueue('perm-q', 'amq.direct', 'k');
    const conn = await connect(`amqp://u:pw@127.0.0.1:${running.port}/${V}`);
    const ch = await confirmChannel(conn);
    await publishAs(ch, 'amq.direct', 'k', 0, 50);
    running.broker.setPermissions('u', V, { configure: '', write: '^amq\\.topic$', read: '' });
    const closed = closedWith(ch);
    ch.publish('amq.direct', 'k', Buffer.from('late'));
    expect(await closed).toEqual({ code: 403, text: `ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '${V}' refused for user 'u'` });
    expect(await drain(adminCh, 'perm-q')).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    await conn.close();
  });

  it('a topic permission set while a channel publishes to one key: its next publish with that key is refused 403', async () => {
    running.broker.setPermissions('u', V, { configure: '', write: '.*', read: '' });
    await adminCh.assertQueue('topic-q', { durable: false });
    await adminCh.bindQueue('topic-q', 'amq.topic', 'orders.#');
    const conn = await connect(`amqp://u:pw@127.0.0.1:${running.port}/${V}`);
    const ch = await confirmChannel(conn);
    await publishAs(ch, 'amq.topic', 'orders.u.1', 0, 20);
    running.broker.setTopicPermissions('u', V, { exchange: 'amq.topic', write: '^audit\\.', read: '.*' });
    const closed = closedWith(ch);
    ch.publish('amq.topic', 'orders.u.1', Buffer.from('late'));
    expect(await closed).toEqual({ code: 403, text: `ACCESS_REFUSED - access to topic 'orders.u.1' in exchange topic 'amq.topic' in vhost '${V}' refused for user 'u'` });
    expect(await drain(adminCh, 'topic-q')).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    await conn.close();
  });
});
