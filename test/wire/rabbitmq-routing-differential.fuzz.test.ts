/**
 * Where routing sends each message, on warren and on a real RabbitMQ: a random
 * topology (exchanges of the four types, some with an alternate exchange;
 * queue and exchange-to-exchange bindings with keys, topic patterns and
 * headers arguments, cycles included) and random publishes (keys, headers,
 * CC and BCC, mandatory), each numbered and confirmed; then what each queue holds
 * (with the CC header it kept and the BCC it must not), in
 * order, and which publishes came back unroutable must match. The keys and
 * patterns include RabbitMQ's corner cases: empty words, `#` and `*` side by
 * side, dots at either end. Skipped unless RABBITMQ_URL names a RabbitMQ
 * (tools/rabbitmq-crosscheck.sh starts one). WARREN_WORKERS=N: warren's shard threads (default 0, inline).
 */
import fc from 'fast-check';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';

const RABBITMQ_URL = process.env.RABBITMQ_URL;
const RUNS = Number(process.env.WARREN_FUZZ_RUNS) || 100;

// Names unique to this run: RabbitMQ keeps what a run leaves behind.
const P = `rdiff${process.pid}`;
const EXCHANGES = [0, 1, 2, 3].map((i) => `${P}.x${i}`);
const QUEUES = [0, 1, 2, 3].map((i) => `${P}.q${i}`);

const KEYS = ['', 'a', 'b', 'a.b', 'a.b.c', 'a.c', '*', '#', 'a.*', '*.b', 'a.#', '#.b', '#.#', '*.#', '#.*', '#.*.#', 'a..b', '.', '..', 'a.', '.a',
  '*.*', 'a.*.c', '#.c', 'a.#.c', '*.*.*', 'a.#.#.c', 'é.ü'];
const key = fc.constantFrom(...KEYS);
/** What publishers send is mostly plain words, so that patterns find something to match. */
const publishKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('', 'a', 'b', 'c', 'a.b', 'a.c', 'a.b.c', 'a.x.c', 'a.b.b.c', 'a..b', '.', 'a.', '.a', 'é.ü') },
  { weight: 1, arbitrary: key },
);
// 1 in several wire types: RabbitMQ 3.10.8 matches a number by its value whatever its type (not the string '1')
const headerValue = fc.constantFrom<unknown>(1, 2, '1', 'a', true, null, { '!': 'byte', value: 1 }, { '!': 'long', value: 1 }, { '!': 'double', value: 1 }, { '!': 'float', value: 1 }, { '!': 'timestamp', value: 1 }, { '!': 'unsignedbyte', value: 1 });
const headerName = fc.constantFrom('h1', 'h2', 'x-h');
const headersArgs = fc.record({
  'x-match': fc.constantFrom('all', 'any', 'all-with-x', 'any-with-x'),
  h: fc.dictionary(headerName, headerValue, { maxKeys: 2 }),
}, { requiredKeys: ['h'] }).map(({ h, ...m }) => ({ ...m, ...h }));

interface Topology {
  types: string[];
  /** per exchange: the index of its alternate exchange, or -1 */
  alternates: number[];
  bindings: { source: number; toExchange: boolean; destination: number; key: string; args: Record<string, unknown> }[];
}
const topology: fc.Arbitrary<Topology> = fc.record({
  types: fc.array(fc.constantFrom('direct', 'fanout', 'topic', 'headers'), { minLength: 4, maxLength: 4 }),
  alternates: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) }), { minLength: 4, maxLength: 4 }),
  bindings: fc.array(fc.record({
    source: fc.integer({ min: 0, max: 3 }),
    toExchange: fc.boolean(),
    destination: fc.integer({ min: 0, max: 3 }),
    key,
    args: fc.oneof({ weight: 2, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: headersArgs }),
  }), { maxLength: 16 }),
});
/** Sender-selected destinations: CC and BCC list more routing keys (BCC is removed before delivery). */
const senderSelected = fc.record({ CC: fc.array(publishKey, { maxLength: 3 }), BCC: fc.array(publishKey, { maxLength: 2 }) }, { requiredKeys: [] });
const publish = fc.record({
  exchange: fc.integer({ min: 0, max: 3 }),
  key: publishKey,
  headers: fc.option(fc.tuple(fc.dictionary(headerName, headerValue, { maxKeys: 3 }), fc.option(senderSelected, { nil: undefined }))
    .map(([h, cc]) => ({ ...h, ...cc })), { nil: undefined }),
  mandatory: fc.boolean(),
});
const scenario = fc.record({ topology, publishes: fc.array(publish, { minLength: 1, maxLength: 20 }) });
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** Declares the topology, publishes, and returns what came back and what each queue holds. */
async function ledger(url: string, s: Scenario): Promise<string[]> {
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  const out: string[] = [];
  try {
    const ch = await conn.createConfirmChannel();
    ch.on('error', (err: Error) => out.push(`channel error ${err.message.split(' ').slice(0, 4).join(' ')}`));
    ch.on('return', (m) => out.push(`returned ${m.content.toString()} ${m.fields.replyCode}`));
    const { types, alternates, bindings } = s.topology;
    for (const [i, x] of EXCHANGES.entries()) {
      await ch.assertExchange(x, types[i]!, { arguments: alternates[i]! < 0 ? {} : { 'alternate-exchange': EXCHANGES[alternates[i]!] } });
    }
    for (const q of QUEUES) await ch.assertQueue(q);
    for (const b of bindings) {
      if (b.toExchange) await ch.bindExchange(EXCHANGES[b.destination]!, EXCHANGES[b.source]!, b.key, b.args);
      else await ch.bindQueue(QUEUES[b.destination]!, EXCHANGES[b.source]!, b.key, b.args);
    }
    for (const [n, p] of s.publishes.entries()) {
      const body = `m${n}`;
      const answer = await new Promise<string>((resolve) => {
        ch.publish(EXCHANGES[p.exchange]!, p.key, Buffer.from(body), { headers: p.headers, mandatory: p.mandatory }, (err) => resolve(err ? 'nacked' : 'confirmed'));
      });
      out.push(`publish ${body} ${answer}`);
    }
    for (const q of QUEUES) {
      const held: string[] = [];
      for (let m = await ch.get(q, { noAck: true }); m !== false; m = await ch.get(q, { noAck: true })) {
        const { CC, BCC } = m.properties.headers ?? {};
        held.push(`${m.content.toString()}${CC === undefined ? '' : ` CC ${JSON.stringify(CC.map(String))}`}${BCC === undefined ? '' : ' BCC'} via ${m.fields.routingKey}`);
      }
      out.push(`${q.slice(P.length + 1)} holds ${held.join(' ')}`);
    }
    for (const q of QUEUES) await ch.deleteQueue(q);
    for (const x of EXCHANGES) await ch.deleteExchange(x);
    return out;
  } finally {
    await conn.close().catch(() => {});
  }
}

describe.skipIf(!RABBITMQ_URL)('routing sends the same messages to the same queues on warren and RabbitMQ', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start(Number(process.env.WARREN_WORKERS ?? 0));
  });
  afterAll(() => broker?.close());

  it('direct, fanout, topic and headers exchanges, exchange-to-exchange bindings and alternate exchanges', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const warren = await ledger(`amqp://guest:guest@127.0.0.1:${broker.port}`, s);
        const rabbit = await ledger(RABBITMQ_URL!, s);
        expect(warren, JSON.stringify(s, null, 1)).toEqual(rabbit);
      }),
      { numRuns: RUNS },
    );
  }, 1_800_000);
});
