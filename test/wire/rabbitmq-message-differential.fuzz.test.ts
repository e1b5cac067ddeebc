/**
 * Where each message ends up, on warren and on a real RabbitMQ: the same
 * random sequence of publishes (confirmed, or in a transaction), gets,
 * consumers (with prefetch, acking or not), acks, nacks, rejects, recovers,
 * purges, commits, rollbacks and channel closes, on two queues with random
 * limits, overflow modes, priorities, TTLs and a dead-letter queue that may
 * dead-letter back. Every message is numbered; the ledger of what each step
 * saw (confirm or nack, returns, the message a get or a consumer took with its
 * redelivered flag, the count left, purge and passive-declare counts) and what
 * the queues hold at the end (dead-lettered messages with their x-death) must
 * match; with RABBITMQ_MANAGEMENT_URL, so must the firehose's copy of every
 * publish and delivery (tracing on for the run). Skipped unless RABBITMQ_URL names a RabbitMQ
 * (tools/rabbitmq-crosscheck.sh starts one). WARREN_WORKERS=N: warren's shard threads (default 0, inline).
 * With RABBITMQ_MANAGEMENT_URL too, half the scenarios give the queues their
 * settings by policy instead (all but x-max-priority, which no policy sets):
 * the same settings must do the same.
 *
 * Left out: a per-message TTL of 0 on a priority queue (see `scenario`).
 *
 * Kept deterministic: TTLs are 0 or a minute, every step waits for its answer
 * (a confirm, a get-ok) and, where a message may die or a consumer is on, for
 * a pause in which RabbitMQ's queue processes finish dead-lettering it and
 * deliver what they will; each step's deliveries are listed queue by queue.
 * Two sources that dead-letter into the third do so concurrently: the order
 * of what it holds is timing, so then it is compared as a sorted list, and
 * nothing takes from it before the end. When it is stepped on or dead-letters
 * back into a source (after its own TTL, or rejected: cycles, with x-death
 * counts past one and RabbitMQ's drop of a message that expired all the way
 * round), one source at most dead-letters into it.
 */
import fc from 'fast-check';
import amqp, { type Channel, type ConfirmChannel, type Message } from 'amqplib';
import type { XDeath } from 'amqplib/properties.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../helpers.js';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { txMethod } from './amqplib-codec.js';

const RABBITMQ_URL = process.env.RABBITMQ_URL;
const RABBITMQ_MANAGEMENT_URL = process.env.RABBITMQ_MANAGEMENT_URL;
const RUNS = Number(process.env.WARREN_FUZZ_RUNS) || 100;
/** How long RabbitMQ gets to move a dead message to its dead-letter queue (a hop between two Erlang processes). */
const SETTLE_MS = 15;

// Names unique to this run: RabbitMQ keeps what a run leaves behind.
const P = `mdiff${process.pid}`;
const SOURCES = [`${P}.a`, `${P}.b`] as const;
const DEAD = `${P}.d`;
const QUEUES = [...SOURCES, DEAD] as const;
const EXCHANGE = `${P}.x`;

const queueArgs = fc.record(
  {
    'x-max-length': fc.integer({ min: 0, max: 3 }),
    'x-max-length-bytes': fc.constantFrom(0, 4, 12),
    'x-overflow': fc.constantFrom('drop-head', 'reject-publish', 'reject-publish-dlx'),
    'x-message-ttl': fc.constantFrom(0, 60_000),
    'x-max-priority': fc.integer({ min: 1, max: 5 }),
    'x-dead-letter-exchange': fc.constant(''),
  },
  { requiredKeys: [] },
).map((args): Record<string, unknown> => ('x-dead-letter-exchange' in args ? { ...args, 'x-dead-letter-routing-key': DEAD } : args));

type Step =
  | { op: 'publish'; tx: boolean; key: 'a' | 'b' | 'both' | 'none' | 'default-a' | 'default-b'; priority?: number; expiration?: string; mandatory: boolean; persistent: boolean }
  | { op: 'get'; tx: boolean; queue: QueueIndex; noAck: boolean }
  | { op: 'ack' | 'reject'; tx: boolean; which: 'first' | 'last'; requeue: boolean }
  | { op: 'nack'; tx: boolean; which: 'first' | 'last'; multiple: boolean; requeue: boolean }
  | { op: 'commit' | 'rollback' | 'txReopen' }
  | { op: 'ackAll' | 'nackAll' | 'recover' | 'reopen' }
  | { op: 'purge' | 'count'; queue: QueueIndex }
  | { op: 'qos'; prefetch: number }
  | { op: 'consume'; queue: QueueIndex; noAck: boolean }
  | { op: 'cancel'; queue: QueueIndex };

/** a source, or the dead-letter queue (2) */
type QueueIndex = 0 | 1 | 2;
const queueIndex = fc.constantFrom<QueueIndex>(0, 1, 0, 1, 2);
const which = fc.constantFrom<'first' | 'last'>('first', 'last');
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    op: fc.constant('publish' as const),
    tx: fc.boolean(),
    key: fc.constantFrom('a', 'b', 'both', 'none', 'default-a', 'default-b'),
    priority: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }),
    expiration: fc.option(fc.constantFrom('0', '60000'), { nil: undefined }),
    mandatory: fc.boolean(),
    persistent: fc.boolean(),
  }, { requiredKeys: ['op', 'tx', 'key', 'mandatory', 'persistent'] }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('get' as const), tx: fc.boolean(), queue: queueIndex, noAck: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('ack' as const, 'reject' as const), tx: fc.boolean(), which, requeue: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('nack' as const), tx: fc.boolean(), which, multiple: fc.boolean(), requeue: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('commit' as const, 'rollback' as const, 'txReopen' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('ackAll' as const, 'nackAll' as const, 'recover' as const, 'reopen' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('purge' as const, 'count' as const), queue: queueIndex }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('qos' as const), prefetch: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('consume' as const), queue: queueIndex, noAck: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel' as const), queue: queueIndex }) },
);

/** The dead-letter queue may dead-letter back into a source (after a TTL, or when rejected): cycles. */
const deadArgs = fc.option(fc.record({ back: fc.constantFrom(0, 1), ttl: fc.option(fc.constantFrom(0, 60_000), { nil: undefined }) }), { nil: undefined })
  .map((d): Record<string, unknown> => (d === undefined ? {} : {
    'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': SOURCES[d.back], ...(d.ttl === undefined ? {} : { 'x-message-ttl': d.ttl }),
  }));

/** Both sources dead-letter into the third queue. */
const feedsDead = (args: readonly Record<string, unknown>[]) => 'x-dead-letter-exchange' in args[0]! && 'x-dead-letter-exchange' in args[1]!;
const withoutDeadLetters = ({ 'x-dead-letter-exchange': _, 'x-dead-letter-routing-key': __, ...rest }: Record<string, unknown>) => rest;

interface Scenario {
  args: [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  steps: Step[];
  /** the queues' settings come by policy (RABBITMQ_MANAGEMENT_URL given) */
  byPolicy: boolean;
}
const scenario: fc.Arbitrary<Scenario> = fc.record({
  args: fc.tuple(queueArgs, queueArgs, deadArgs),
  steps: fc.array(step, { minLength: 1, maxLength: 25 }),
  byPolicy: RABBITMQ_MANAGEMENT_URL === undefined ? fc.constant(false) : fc.boolean(),
}).map(({ args: [a, b, dead], steps, byPolicy }) => {
  const touchesDead = 'x-dead-letter-exchange' in dead || steps.some((st) => 'queue' in st && st.queue === 2);
  const args: Scenario['args'] = touchesDead && feedsDead([a, b]) ? [a, withoutDeadLetters(b), dead] : [a, b, dead];
  if (!args.some((a) => 'x-max-priority' in a)) return { args, steps, byPolicy };
  return { args, byPolicy, steps: steps.map((st) => (st.op === 'publish' && st.expiration === '0' ? { ...st, expiration: undefined } : st)) };
});
/** A broker's management API, to set policies with: its base URL and login. */
interface Management {
  base: string;
  auth: string;
}

function management(url: string): Management {
  const { origin, username, password } = new URL(url);
  return { base: origin, auth: `Basic ${Buffer.from(`${decodeURIComponent(username)}:${decodeURIComponent(password)}`).toString('base64')}` };
}

const policyName = (i: number) => `${P}.policy${i}`;

/** Queue i's settings as a policy that matches it alone: its x-arguments but x-max-priority, without the x-. */
async function putPolicy(api: Management, i: number, args: Record<string, unknown>): Promise<void> {
  const definition = Object.fromEntries(Object.entries(args).filter(([k]) => k !== 'x-max-priority').map(([k, v]) => [k.slice(2), v]));
  if (Object.keys(definition).length === 0) return;
  const pattern = `^${QUEUES[i]!.replace(/\./g, '\\.')}$`;
  const res = await fetch(`${api.base}/api/policies/%2F/${encodeURIComponent(policyName(i))}`, {
    method: 'PUT',
    headers: { authorization: api.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ pattern, definition, 'apply-to': 'queues' }),
  });
  if (!res.ok) throw new Error(`policy ${JSON.stringify(definition)}: ${res.status} ${await res.text()}`);
}

async function clearPolicies(api: Management): Promise<void> {
  for (const i of [0, 1, 2]) await fetch(`${api.base}/api/policies/%2F/${encodeURIComponent(policyName(i))}`, { method: 'DELETE', headers: { authorization: api.auth } });
}

/** Turns vhost /'s firehose on or off, keeping its description and tags (a PUT replaces them). */
async function setTracing(api: Management, on: boolean): Promise<void> {
  const headers = { authorization: api.auth, 'content-type': 'application/json' };
  const { description, tags } = (await (await fetch(`${api.base}/api/vhosts/%2F`, { headers })).json()) as { description?: string; tags?: string[] };
  const res = await fetch(`${api.base}/api/vhosts/%2F`, { method: 'PUT', headers, body: JSON.stringify({ description, tags, tracing: on }) });
  if (!res.ok) throw new Error(`tracing ${on}: ${res.status} ${await res.text()}`);
}

/** A firehose copy: comparable fields only (x-death's times and the connection's name left out, tables' keys sorted). */
function traced(m: Message): string {
  const h = (m.properties.headers ?? {}) as Record<string, any>;
  const sorted = (v: any): any =>
    v === null || typeof v !== 'object' || Buffer.isBuffer(v) ? v : Array.isArray(v) ? v.map(sorted) : Object.fromEntries(Object.keys(v).sort().filter((k) => k !== 'time').map((k) => [k, sorted(v[k])]));
  const origin = h.routed_queues === undefined ? `redelivered ${h.redelivered}` : `routed ${JSON.stringify(h.routed_queues)}`;
  return `trace ${m.fields.routingKey} ${m.content.toString()} ${h.exchange_name}:${JSON.stringify(h.routing_keys)} ${JSON.stringify(sorted(h.properties))} ${origin} ch ${h.channel} ${h.user} ${h.vhost}`;
}

/** What a message looked like when taken: comparable fields only (no timestamps). */
function seen(m: Message): string {
  const { headers = {}, priority, expiration, deliveryMode } = m.properties;
  const deaths = ((headers['x-death'] ?? []) as XDeath[])
    .map((d) => `${d.reason}@${d.queue}x${d.count}(${d.exchange}:${d['routing-keys'].join(',')}${d['original-expiration'] === undefined ? '' : ` exp ${d['original-expiration']}`})`);
  const first = ['x-first-death-reason', 'x-first-death-queue', 'x-first-death-exchange'].map((h) => headers[h] ?? '-').join('/');
  return [m.content.toString(), m.fields.redelivered ? 'redelivered' : 'new', `via ${m.fields.exchange}:${m.fields.routingKey}`,
    `p${priority ?? '-'} e${expiration ?? '-'} d${deliveryMode ?? '-'}`, deaths.length > 0 ? `${deaths.join(' ')} first ${first}` : ''].join(' ').trim();
}

/** Runs the scenario on one broker; returns what each step saw, then what the queues held. */
async function ledger(url: string, s: Scenario, api?: Management): Promise<string[]> {
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  const out: string[] = [];
  const dies = s.args.some((a) => 'x-dead-letter-exchange' in a || a['x-message-ttl'] === 0 || 'x-max-length' in a || 'x-max-length-bytes' in a)
    || s.steps.some((st) => st.op === 'publish' && st.expiration === '0');
  let ch: ConfirmChannel = await conn.createConfirmChannel();
  let unacked: Message[] = [];
  /** per source queue: its consumer's tag (null: none) */
  let consumers: (string | null)[] = [null, null, null];
  /** per source queue: what its consumer got since the last step */
  const delivered: string[][] = [[], [], []];
  const setUp = (c: ConfirmChannel) => {
    c.on('error', (err: Error) => out.push(`channel error ${err.message.split(' ').slice(0, 4).join(' ')}`));
    c.on('return', (m) => out.push(`  returned ${m.content.toString()} ${m.fields.replyCode}`));
  };
  setUp(ch);
  /** a channel in tx mode: its publishes and settlements wait for tx.commit */
  let tx: Channel;
  let txUnacked: Message[] = [];
  /** settled in the open transaction: unacked again on rollback */
  let txSettled: Message[] = [];
  const openTx = async () => {
    tx = await conn.createChannel();
    tx.on('error', (err: Error) => out.push(`tx channel error ${err.message.split(' ').slice(0, 4).join(' ')}`));
    tx.on('return', (m) => out.push(`  tx returned ${m.content.toString()} ${m.fields.replyCode}`));
    await txMethod(tx, 'TxSelect');
    txUnacked = [];
    txSettled = [];
  };
  await openTx();
  // With the management API, the firehose too: a copy of every publish and delivery of the run.
  const traceConn = api === undefined ? undefined : await amqp.connect(url);
  const traces: Message[] = [];
  try {
    if (traceConn !== undefined) {
      const tc = await traceConn.createChannel();
      const { queue } = await tc.assertQueue('', { exclusive: true });
      for (const key of [`publish.${EXCHANGE}`, 'publish.', `deliver.${P}.#`]) await tc.bindQueue(queue, 'amq.rabbitmq.trace', key);
      // (the default exchange's copies of this run's publishes only: other tests may share the RabbitMQ)
      const ours = (m: Message) => m.fields.routingKey !== 'publish.' || String((m.properties.headers?.routing_keys as unknown[] | undefined)?.[0] ?? '').startsWith(P);
      await tc.consume(queue, (m) => m && ours(m) && traces.push(m), { noAck: true });
      await setTracing(api!, true);
    }
    await ch.assertExchange(EXCHANGE, 'direct', { autoDelete: false });
    // By policy: set before the declares, so each queue starts with its settings as it would with arguments.
    const byPolicy = s.byPolicy && api !== undefined;
    if (byPolicy) for (const i of [0, 1, 2]) await putPolicy(api, i, s.args[i]!);
    const declared = (i: number) => (byPolicy ? ('x-max-priority' in s.args[i]! ? { 'x-max-priority': s.args[i]!['x-max-priority'] } : {}) : s.args[i]);
    await ch.assertQueue(DEAD, { arguments: declared(2) });
    for (const [i, q] of SOURCES.entries()) {
      await ch.assertQueue(q, { arguments: declared(i) });
      await ch.bindQueue(q, EXCHANGE, i === 0 ? 'a' : 'b');
      await ch.bindQueue(q, EXCHANGE, 'both');
    }
    let n = 0;
    for (const st of s.steps) {
      switch (st.op) {
        case 'publish': {
          const body = `m${++n}`;
          const [exchange, key] = st.key.startsWith('default-') ? ['', st.key === 'default-a' ? SOURCES[0] : SOURCES[1]] : [EXCHANGE, st.key];
          if (st.tx) {
            tx!.publish(exchange, key, Buffer.from(body), { priority: st.priority, expiration: st.expiration, mandatory: st.mandatory, persistent: st.persistent });
            out.push(`tx publish ${body}`);
            break;
          }
          const answer = await new Promise<string>((resolve) => {
            ch.publish(exchange, key, Buffer.from(body), { priority: st.priority, expiration: st.expiration, mandatory: st.mandatory, persistent: st.persistent },
              (err) => resolve(err ? 'nacked' : 'confirmed'));
          });
          out.push(`publish ${body} ${answer}`);
          break;
        }
        case 'get': {
          const m = await (st.tx ? tx! : ch).get(QUEUES[st.queue], { noAck: st.noAck });
          if (m !== false && !st.noAck) (st.tx ? txUnacked : unacked).push(m);
          out.push(`${st.tx ? 'tx ' : ''}get ${st.queue} ${m === false ? 'empty' : `${seen(m)} left ${m.fields.messageCount}`}`);
          break;
        }
        case 'ack':
        case 'reject':
        case 'nack': {
          const [on, open] = st.tx ? [tx!, txUnacked] : [ch, unacked];
          if (open.length === 0) continue;
          const m = st.which === 'first' ? open[0]! : open[open.length - 1]!;
          const multiple = st.op === 'nack' && st.multiple;
          if (st.op === 'ack') on.ack(m);
          else if (st.op === 'reject') on.reject(m, st.requeue);
          else on.nack(m, multiple, st.requeue);
          const tag = m.fields.deliveryTag;
          const settles = (u: Message) => (multiple ? u.fields.deliveryTag <= tag : u === m);
          if (st.tx) {
            txSettled.push(...open.filter(settles));
            txUnacked = open.filter((u) => !settles(u));
          } else unacked = open.filter((u) => !settles(u));
          out.push(`${st.tx ? 'tx ' : ''}${st.op} ${m.content.toString()}`);
          break;
        }
        case 'commit':
          try {
            await txMethod(tx!, 'TxCommit');
            txSettled = [];
            out.push('commit');
          } catch (err) {
            // A queue refused a publish (reject-publish): the channel is closed, its unacked requeued
            out.push(`commit refused ${(err as { code?: number }).code}`);
            await openTx();
          }
          break;
        case 'rollback':
          // The publishes go; what was settled is unacked again, as it was
          await txMethod(tx!, 'TxRollback');
          txUnacked = [...txUnacked, ...txSettled].sort((x, y) => x.fields.deliveryTag - y.fields.deliveryTag);
          txSettled = [];
          out.push('rollback');
          break;
        case 'txReopen':
          await tx!.close();
          await openTx();
          out.push('tx reopen');
          break;
        case 'ackAll':
        case 'nackAll':
          if (st.op === 'ackAll') ch.ackAll();
          else ch.nackAll(true);
          unacked = [];
          out.push(st.op);
          break;
        case 'recover': {
          // What the client held goes back; redeliveries may arrive before amqplib resolves the recover-ok
          const held = new Set(unacked);
          await ch.recover();
          unacked = unacked.filter((u) => !held.has(u));
          out.push('recover');
          break;
        }
        case 'reopen':
          await ch.close();
          ch = await conn.createConfirmChannel();
          setUp(ch);
          unacked = [];
          consumers = [null, null, null];
          out.push('reopen');
          break;
        case 'qos':
          await ch.prefetch(st.prefetch);
          out.push(`qos ${st.prefetch}`);
          break;
        case 'consume': {
          if (consumers[st.queue] !== null) continue;
          const index = st.queue;
          const { consumerTag } = await ch.consume(QUEUES[index], (m) => {
            if (m === null) return;
            delivered[index]!.push(seen(m));
            if (!st.noAck) unacked.push(m);
          }, { noAck: st.noAck });
          consumers[index] = consumerTag;
          out.push(`consume ${index}${st.noAck ? ' no-ack' : ''}`);
          break;
        }
        case 'cancel': {
          const tag = consumers[st.queue];
          if (tag === null) continue;
          await ch.cancel(tag!);
          consumers[st.queue] = null;
          out.push(`cancel ${st.queue}`);
          break;
        }
        case 'purge':
          out.push(`purge ${st.queue} ${(await ch.purgeQueue(QUEUES[st.queue])).messageCount}`);
          break;
        case 'count':
          const { messageCount, consumerCount } = await ch.checkQueue(QUEUES[st.queue]);
          out.push(`count ${st.queue} ${messageCount} consumers ${consumerCount}`);
          break;
      }
      if (dies || consumers.some((c) => c !== null)) await sleep(SETTLE_MS);
      // A consumer's deliveries in each step, queue by queue (the two queues' interleave is timing)
      for (const [i, got] of delivered.entries()) if (got.length > 0) out.push(`  ${i} delivered ${got.splice(0).join(' | ')}`);
    }
    // Consumers go before the channel: a message its close requeues may die and be dead-lettered to a queue
    // whose consumer RabbitMQ has not yet let go of (it is delivered there and requeued again): timing.
    for (const tag of consumers) if (tag !== null) await ch.cancel(tag);
    await tx!.close();
    await ch.close();
    ch = await conn.createConfirmChannel();
    setUp(ch);
    if (dies) await sleep(SETTLE_MS);
    for (const [i, q] of QUEUES.entries()) {
      const held: string[] = [];
      for (let m = await ch.get(q, { noAck: true }); m !== false; m = await ch.get(q, { noAck: true })) held.push(seen(m));
      out.push(`${q.slice(P.length + 1)} holds ${(i === 2 && feedsDead(s.args) ? held.sort() : held).join(' | ')}`);
    }
    if (traceConn !== undefined) {
      // Copies come through a queue of their own: until none came for a while. Sorted: a copy's arrival order is timing.
      for (let seen = -1; seen !== traces.length; ) {
        seen = traces.length;
        await sleep(60);
      }
      out.push(...traces.map(traced).sort());
    }
    return out;
  } finally {
    if (traceConn !== undefined) {
      await setTracing(api!, false);
      await traceConn.close().catch(() => {});
    }
    // On a fresh channel, whatever happened to the others: the next run starts from nothing.
    const clean = await conn.createChannel();
    for (const q of QUEUES) await clean.deleteQueue(q);
    await clean.deleteExchange(EXCHANGE);
    await conn.close().catch(() => {});
    if (api !== undefined) await clearPolicies(api);
  }
}

describe.skipIf(!RABBITMQ_URL)('the same messages end up in the same places on warren and RabbitMQ', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ port: 0, host: '127.0.0.1', workers: Number(process.env.WARREN_WORKERS ?? 0), managementPort: RABBITMQ_MANAGEMENT_URL === undefined ? undefined : 0 });
  });
  afterAll(() => broker?.close());

  it('publishes, gets, consumers, acks, rejects, limits, priorities, TTLs and dead-letters', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const apis = RABBITMQ_MANAGEMENT_URL === undefined ? [] : [management(`http://guest:guest@127.0.0.1:${broker.managementPort}`), management(RABBITMQ_MANAGEMENT_URL)];
        const warren = await ledger(`amqp://guest:guest@127.0.0.1:${broker.port}`, s, apis[0]);
        const rabbit = await ledger(RABBITMQ_URL!, s, apis[1]);
        expect(warren, `${s.byPolicy ? 'by policy ' : ''}${JSON.stringify(s.args)}\n${s.steps.map((st) => JSON.stringify(st)).join('\n')}`).toEqual(rabbit);
      }),
      { numRuns: RUNS },
    );
  }, 1_800_000);
});
