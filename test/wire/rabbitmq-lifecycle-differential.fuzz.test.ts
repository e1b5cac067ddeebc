/**
 * Queues and consumers over their lives, on warren and on a real RabbitMQ: two
 * connections declare (exclusive, auto-delete, durable, single active
 * consumer, passive), consume (exclusive, with consumer priorities, acking or
 * not, under a per-consumer or per-channel prefetch), cancel, get, ack, nack
 * and recover, purge and delete (if-unused, if-empty) two queues, and close
 * their channels and connections.
 * Every message is numbered; each step's answer (its -ok with counts, or the
 * channel's close code), which consumer got which message with its
 * redelivered flag, the cancels the server sent, and what the queues hold at
 * the end must match. Skipped unless RABBITMQ_URL names a RabbitMQ
 * (tools/rabbitmq-crosscheck.sh starts one). WARREN_WORKERS=N: warren's shard
 * threads (default 0, inline).
 *
 * Kept deterministic: every step waits for its answer (a publish for its
 * confirm) and then for a pause in which deliveries and cancels arrive; they are
 * listed consumer by consumer, since the interleave of two connections is timing.
 */
import fc from 'fast-check';
import amqp, { type ChannelModel, type ConfirmChannel, type Message } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, start } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';

const RABBITMQ_URL = process.env.RABBITMQ_URL;
const RUNS = Number(process.env.WARREN_FUZZ_RUNS) || 100;
/** How long deliveries and server-sent cancels get to arrive after a step. */
const SETTLE_MS = 15;

// Names unique to this run: RabbitMQ keeps what a run leaves behind.
const P = `ldiff${process.pid}`;
const QUEUES = [`${P}.a`, `${P}.b`] as const;

type Side = 0 | 1;
type Step =
  | { op: 'declare'; on: Side; queue: Side; passive: boolean; exclusive: boolean; autoDelete: boolean; durable: boolean; singleActive: boolean }
  | { op: 'delete'; on: Side; queue: Side; ifUnused: boolean; ifEmpty: boolean }
  | { op: 'publish' | 'purge'; on: Side; queue: Side }
  | { op: 'get'; on: Side; queue: Side; noAck: boolean }
  | { op: 'consume'; on: Side; queue: Side; exclusive: boolean; noAck: boolean; priority?: number }
  | { op: 'cancel' | 'ack' | 'nack'; on: Side; which: 'first' | 'last'; multiple: boolean }
  | { op: 'recover'; on: Side }
  | { op: 'qos'; on: Side; prefetch: number; global: boolean }
  | { op: 'closeChannel' | 'closeConnection'; on: Side };

const side = fc.constantFrom<Side>(0, 1);
const which = fc.constantFrom<'first' | 'last'>('first', 'last');
/** true one time in four: most queues and consumers stay open to both connections */
const seldom = fc.constantFrom(false, false, false, true);
const declare = (queue: fc.Arbitrary<Side>, passive: fc.Arbitrary<boolean>) => fc.record({
  op: fc.constant('declare' as const), on: side, queue, passive, exclusive: seldom,
  autoDelete: seldom, durable: fc.boolean(), singleActive: seldom,
});
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: declare(side, fc.boolean()) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), on: side, queue: side, ifUnused: seldom, ifEmpty: seldom }) },
  { weight: 8, arbitrary: fc.record({ op: fc.constant('publish' as const), on: side, queue: side }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('purge' as const), on: side, queue: side }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('get' as const), on: side, queue: side, noAck: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({
    op: fc.constant('consume' as const), on: side, queue: side, exclusive: seldom, noAck: fc.boolean(),
    priority: fc.option(fc.integer({ min: -1, max: 2 }), { nil: undefined }),
  }, { requiredKeys: ['op', 'on', 'queue', 'exclusive', 'noAck'] }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('cancel' as const, 'ack' as const, 'nack' as const), on: side, which, multiple: seldom }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('recover' as const), on: side }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('qos' as const), on: side, prefetch: fc.integer({ min: 0, max: 3 }), global: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('closeChannel' as const, 'closeConnection' as const), on: side }) },
);

/** One client connection with one confirm channel, and what it has seen since the last step. */
interface Client {
  conn: ChannelModel;
  ch: ConfirmChannel;
  /** the close code of a channel the server closed, until the step reports it */
  closed: number | null;
  unacked: Message[];
  /** this channel's consumers, oldest first */
  consumers: string[];
}

/** Runs the steps on one broker; returns what each step saw, then what the queues held. */
async function ledger(url: string, steps: Step[]): Promise<string[]> {
  const out: string[] = [];
  /** per consumer tag: what it got (and a server cancel) since the last step */
  const events = new Map<string, string[]>();
  const note = (tag: string, what: string) => events.set(tag, [...(events.get(tag) ?? []), what]);

  const openChannel = async (c: Client) => {
    c.ch = await c.conn.createConfirmChannel();
    c.closed = null;
    c.unacked = [];
    c.consumers = [];
    c.ch.on('error', (err: { code?: number }) => { c.closed = err.code ?? -1; });
    c.ch.on('return', (m) => out.push(`  returned ${m.content.toString()} ${m.fields.replyCode}`));
  };
  const openClient = async (): Promise<Client> => {
    const conn = await amqp.connect(url);
    conn.on('error', () => {});
    const c = { conn } as Client;
    await openChannel(c);
    return c;
  };
  const clients = [await openClient(), await openClient()];
  /** Runs one channel operation; a channel the server closes for it is reported and reopened. */
  const attempt = async (c: Client, what: string, op: () => Promise<string>) => {
    try {
      out.push(`${what} ${await op()}`);
    } catch {
      await sleep(5); // amqplib reports the close code on 'error' right after the rejection
      out.push(`${what} closed ${c.closed}`);
      await openChannel(c);
    }
  };

  let n = 0;
  let tags = 0;
  try {
    for (const st of steps) {
      const c = clients[st.on]!;
      const who = `${st.on}:`;
      switch (st.op) {
        case 'declare': {
          const q = QUEUES[st.queue];
          const args = st.singleActive ? { 'x-single-active-consumer': true } : {};
          await attempt(c, `${who}declare ${st.queue}${st.passive ? ' passive' : ''}`, async () => {
            const ok = st.passive
              ? await c.ch.checkQueue(q)
              : await c.ch.assertQueue(q, { exclusive: st.exclusive, autoDelete: st.autoDelete, durable: st.durable, arguments: args });
            return `ok ${ok.messageCount} ${ok.consumerCount}`;
          });
          break;
        }
        case 'delete':
          await attempt(c, `${who}delete ${st.queue}`, async () =>
            `ok ${(await c.ch.deleteQueue(QUEUES[st.queue], { ifUnused: st.ifUnused, ifEmpty: st.ifEmpty })).messageCount}`);
          break;
        case 'publish': {
          const body = `m${++n}`;
          await attempt(c, `${who}publish ${body} to ${st.queue}`, () => new Promise<string>((resolve, reject) => {
            c.ch.publish('', QUEUES[st.queue], Buffer.from(body), { mandatory: true }, (err) => (err ? reject(err) : resolve('confirmed')));
          }));
          break;
        }
        case 'purge':
          await attempt(c, `${who}purge ${st.queue}`, async () => `ok ${(await c.ch.purgeQueue(QUEUES[st.queue])).messageCount}`);
          break;
        case 'get':
          await attempt(c, `${who}get ${st.queue}`, async () => {
            const m = await c.ch.get(QUEUES[st.queue], { noAck: st.noAck });
            if (m === false) return 'empty';
            if (!st.noAck) c.unacked.push(m);
            return `${m.content.toString()}${m.fields.redelivered ? ' redelivered' : ''} left ${m.fields.messageCount}`;
          });
          break;
        case 'consume': {
          const tag = `c${++tags}`;
          const desc = `${who}consume ${st.queue} as ${tag}${st.exclusive ? ' exclusive' : ''}${st.noAck ? ' no-ack' : ''}${st.priority === undefined ? '' : ` priority ${st.priority}`}`;
          await attempt(c, desc, async () => {
            const ch = c.ch;
            await ch.consume(QUEUES[st.queue], (m) => {
              if (m === null) {
                note(tag, 'cancelled by the server');
                if (c.ch === ch) c.consumers = c.consumers.filter((t) => t !== tag);
                return;
              }
              note(tag, `${m.content.toString()}${m.fields.redelivered ? ' redelivered' : ''}`);
              if (!st.noAck && c.ch === ch) c.unacked.push(m);
            }, { consumerTag: tag, exclusive: st.exclusive, noAck: st.noAck, ...(st.priority === undefined ? {} : { priority: st.priority }) });
            c.consumers.push(tag);
            return 'ok';
          });
          break;
        }
        case 'cancel': {
          if (c.consumers.length === 0) continue;
          const tag = st.which === 'first' ? c.consumers[0]! : c.consumers[c.consumers.length - 1]!;
          await attempt(c, `${who}cancel ${tag}`, async () => {
            await c.ch.cancel(tag);
            c.consumers = c.consumers.filter((t) => t !== tag);
            return 'ok';
          });
          break;
        }
        case 'ack':
        case 'nack': {
          if (c.unacked.length === 0) continue;
          const m = st.which === 'first' ? c.unacked[0]! : c.unacked[c.unacked.length - 1]!;
          if (st.op === 'ack') c.ch.ack(m, st.multiple);
          else c.ch.nack(m, st.multiple, true);
          const tag = m.fields.deliveryTag;
          c.unacked = c.unacked.filter((u) => (st.multiple ? u.fields.deliveryTag > tag : u !== m));
          out.push(`${who}${st.op} ${m.content.toString()}${st.multiple ? ' and before' : ''}`);
          break;
        }
        case 'recover':
          await attempt(c, `${who}recover`, async () => {
            // What the client held goes back; redeliveries may arrive before amqplib resolves the recover-ok
            const held = new Set(c.unacked);
            await c.ch.recover();
            c.unacked = c.unacked.filter((u) => !held.has(u));
            return 'ok';
          });
          break;
        case 'qos':
          await attempt(c, `${who}qos ${st.prefetch}${st.global ? ' global' : ''}`, async () => {
            await c.ch.prefetch(st.prefetch, st.global);
            return 'ok';
          });
          break;
        case 'closeChannel':
          await c.ch.close().catch(() => {});
          await openChannel(c);
          out.push(`${who}channel closed and reopened`);
          break;
        case 'closeConnection':
          await c.conn.close().catch(() => {});
          clients[st.on] = await openClient();
          out.push(`${who}connection closed and reopened`);
          break;
      }
      await sleep(SETTLE_MS);
      for (const c2 of clients) {
        if (c2.closed === null) continue; // closed by a step that did not wait on it (an ack of a stale tag)
        out.push(`  channel closed ${c2.closed}`);
        await openChannel(c2);
      }
      for (const tag of [...events.keys()].sort()) out.push(`  ${tag} got ${events.get(tag)!.join(' | ')}`);
      events.clear();
    }
    // What the queues hold once both clients are gone (their exclusive and auto-delete queues with them);
    // a pause after each, for what the first one's close requeued to reach the other's consumers
    for (const c of clients) {
      await c.conn.close().catch(() => {});
      await sleep(SETTLE_MS);
    }
    const last = await openClient();
    for (const [i, q] of QUEUES.entries()) {
      const ok = await last.ch.checkQueue(q).catch(() => null);
      if (ok === null) {
        out.push(`${i} is gone`);
        await openChannel(last);
        continue;
      }
      const held: string[] = [];
      for (let m = await last.ch.get(q, { noAck: true }); m !== false; m = await last.ch.get(q, { noAck: true })) {
        held.push(`${m.content.toString()}${m.fields.redelivered ? ' redelivered' : ''}`);
      }
      out.push(`${i} holds ${held.join(' | ')}`);
    }
    await last.conn.close();
    return out;
  } finally {
    // On a fresh connection, whatever happened to the others: the next run starts from nothing.
    for (const c of clients) await c.conn.close().catch(() => {});
    const clean = await amqp.connect(url);
    const ch = await clean.createChannel();
    for (const q of QUEUES) await ch.deleteQueue(q);
    await clean.close();
  }
}

describe.skipIf(!RABBITMQ_URL)('queues and consumers live and die the same way on warren and RabbitMQ', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start(Number(process.env.WARREN_WORKERS ?? 0));
  });
  afterAll(() => broker?.close());

  it('exclusive and auto-delete queues, exclusive and prioritised consumers, single active consumer, deletes and closes', async () => {
    await fc.assert(
      // Both queues declared first (exclusive or not, auto-delete or not): most steps find one
      fc.asyncProperty(fc.tuple(declare(fc.constant(0), fc.constant(false)), declare(fc.constant(1), fc.constant(false)), fc.array(step, { minLength: 1, maxLength: 25 })), async ([a, b, rest]) => {
        const steps = [a, b, ...rest];
        const warren = await ledger(`amqp://guest:guest@127.0.0.1:${broker.port}`, steps);
        const rabbit = await ledger(RABBITMQ_URL!, steps);
        expect(warren, steps.map((st) => JSON.stringify(st)).join('\n')).toEqual(rabbit);
      }),
      { numRuns: RUNS },
    );
  }, 1_800_000);
});
