/**
 * Exchange-to-exchange bindings that form cycles and diamonds, with alternate
 * exchanges among them: a message reaches each queue at most once, and an
 * exchange hands it to its alternate only when it matched nothing itself (as
 * RabbitMQ's rabbit_exchange:route does; checked against RabbitMQ 3.x). Queues
 * sit on different shards; a property test compares random graphs with a
 * model of RabbitMQ's routing walk.
 */
import type { ConfirmChannel, Message } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, confirmChannel, drain, uniq, useBroker } from '../helpers.js';
import { nameOnShard } from './on-shard.js';

describe.each(MODES)('exchange-to-exchange cycles: $name', ({ workers }) => {
  const server = useBroker(workers);

  async function setup(): Promise<{ ch: ConfirmChannel; returned: string[]; queues: string[] }> {
    const ch = await confirmChannel(await server.connect());
    const returned: string[] = [];
    ch.on('return', (m: Message) => returned.push(m.content.toString()));
    const queues = Array.from({ length: 4 }, (_, i) => nameOnShard('e2e-q', i, workers));
    for (const q of queues) await ch.assertQueue(q, { exclusive: true });
    return { ch, returned, queues };
  }

  const numbered = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

  it('a cycle of three exchanges of different types: each queue gets each message once, whichever exchange it enters by', async () => {
    const { ch, queues } = await setup();
    const [x, y, z] = [uniq('e2e-direct'), uniq('e2e-topic'), uniq('e2e-fanout')];
    await ch.assertExchange(x, 'direct', { autoDelete: true });
    await ch.assertExchange(y, 'topic', { autoDelete: true });
    await ch.assertExchange(z, 'fanout', { autoDelete: true });
    await ch.bindExchange(y, x, 'k'); // x -> y -> z -> x
    await ch.bindExchange(z, y, '#');
    await ch.bindExchange(x, z, '');
    await ch.bindExchange(x, x, 'k'); // and a loop on itself
    await ch.bindQueue(queues[0], x, 'k');
    await ch.bindQueue(queues[1], y, '*');
    await ch.bindQueue(queues[2], z, '');
    await ch.bindQueue(queues[3], z, '');
    await ch.bindQueue(queues[3], x, 'k'); // reached twice over
    const N = 25;
    for (const entry of [x, y, z]) for (let i = 0; i < N; i++) ch.publish(entry, 'k', Buffer.from(`${entry}#${i}`));
    await ch.waitForConfirms();
    const all = [x, y, z].flatMap((entry) => numbered(`${entry}#`, N));
    for (const q of queues) expect(await drain(ch, q)).toEqual(all);
  });

  it('a diamond reaches its queue once, and its alternate is not used by an exchange that matched a queue already reached', async () => {
    const { ch, queues } = await setup();
    const [x, a, b, z] = [uniq('e2e-x'), uniq('e2e-a'), uniq('e2e-b'), uniq('e2e-z')];
    await ch.assertExchange(z, 'fanout', { autoDelete: true });
    await ch.assertExchange(x, 'fanout', { autoDelete: true });
    await ch.assertExchange(a, 'fanout', { autoDelete: true });
    await ch.assertExchange(b, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': z } });
    await ch.bindExchange(a, x, '');
    await ch.bindExchange(b, x, '');
    await ch.bindQueue(queues[0], a, '');
    await ch.bindQueue(queues[0], b, 'k');
    await ch.bindQueue(queues[1], z, '');
    for (let i = 0; i < 10; i++) ch.publish(x, i % 2 === 0 ? 'k' : 'other', Buffer.from(`m${i}`));
    await ch.waitForConfirms();
    expect(await drain(ch, queues[0])).toEqual(numbered('m', 10));
    // only the 'other' ones: b matched nothing for them
    expect(await drain(ch, queues[1])).toEqual(['m1', 'm3', 'm5', 'm7', 'm9']);
  });

  it('alternates in a cycle are each tried once: unroutable is returned; an alternate leading back into a binding cycle delivers once', async () => {
    const { ch, returned, queues } = await setup();
    const [ae1, ae2] = [uniq('e2e-ae1'), uniq('e2e-ae2')];
    await ch.assertExchange(ae1, 'direct', { autoDelete: false, arguments: { 'alternate-exchange': ae2 } });
    await ch.assertExchange(ae2, 'direct', { autoDelete: false, arguments: { 'alternate-exchange': ae1 } });
    for (let i = 0; i < 5; i++) ch.publish(ae1, 'none', Buffer.from(`lost${i}`), { mandatory: true });
    await ch.waitForConfirms();
    expect(returned).toEqual(numbered('lost', 5));
    // x (alternate y) matches nothing; y fans out to q0 and back to x
    const [x, y] = [uniq('e2e-x'), uniq('e2e-y')];
    await ch.assertExchange(x, 'direct', { autoDelete: false, arguments: { 'alternate-exchange': y } });
    await ch.assertExchange(y, 'fanout', { autoDelete: false, arguments: { 'alternate-exchange': x } });
    await ch.bindExchange(x, y, '');
    await ch.bindQueue(queues[0], y, '');
    await ch.bindQueue(queues[1], x, 'hit');
    for (let i = 0; i < 5; i++) ch.publish(x, 'miss', Buffer.from(`m${i}`), { mandatory: true });
    for (let i = 0; i < 5; i++) ch.publish(x, 'hit', Buffer.from(`h${i}`), { mandatory: true });
    await ch.waitForConfirms();
    expect(await drain(ch, queues[0])).toEqual(numbered('m', 5));
    expect(await drain(ch, queues[1])).toEqual(numbered('h', 5));
    expect(returned).toEqual(numbered('lost', 5));
    for (const e of [ae1, ae2, x, y]) await ch.deleteExchange(e);
  });

  /** A random graph: exchanges with e2e bindings and alternates among them, queue bindings. */
  interface Graph {
    types: ('direct' | 'fanout')[];
    alternates: (number | null)[];
    /** [source, destination exchange, key] */
    edges: [number, number, string][];
    /** [source, queue, key] */
    queueBindings: [number, number, string][];
    entry: number;
    key: string;
  }

  /** RabbitMQ's walk: a worklist of exchanges, each seen once; the alternate only when an exchange matched nothing. */
  function expected(g: Graph): Set<number> {
    const queues = new Set<number>();
    const seen = new Set([g.entry]);
    const work = [g.entry];
    const matches = (x: number, key: string) => g.types[x] === 'fanout' || key === g.key;
    while (work.length > 0) {
      const x = work.shift()!;
      const toExchanges = g.edges.filter(([s, , k]) => s === x && matches(x, k)).map(([, d]) => d);
      const toQueues = g.queueBindings.filter(([s, , k]) => s === x && matches(x, k)).map(([, q]) => q);
      for (const q of toQueues) queues.add(q);
      const next = toExchanges.length + toQueues.length === 0 && g.alternates[x] !== null ? [g.alternates[x]!] : toExchanges;
      for (const d of next) if (!seen.has(d)) (seen.add(d), work.push(d));
    }
    return queues;
  }

  it('property: random graphs with cycles, diamonds and alternates deliver exactly what RabbitMQ’s walk reaches, once', async () => {
    const { ch, queues } = await setup();
    const X = 5;
    const key = fc.constantFrom('a', 'b');
    const graph: fc.Arbitrary<Graph> = fc.record({
      types: fc.array(fc.constantFrom('direct' as const, 'fanout' as const), { minLength: X, maxLength: X }),
      alternates: fc.array(fc.option(fc.integer({ min: 0, max: X - 1 }), { freq: 2 }), { minLength: X, maxLength: X }),
      edges: fc.array(fc.tuple(fc.integer({ min: 0, max: X - 1 }), fc.integer({ min: 0, max: X - 1 }), key), { maxLength: 10 }),
      queueBindings: fc.array(fc.tuple(fc.integer({ min: 0, max: X - 1 }), fc.integer({ min: 0, max: 3 }), key), { maxLength: 8 }),
      entry: fc.integer({ min: 0, max: X - 1 }),
      key,
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(graph, async (g) => {
        const n = run++;
        const names = g.types.map((_, i) => uniq(`e2e-p${i}`));
        for (const [i, type] of g.types.entries()) {
          const alt = g.alternates[i];
          await ch.assertExchange(names[i], type, { autoDelete: false, arguments: alt === null ? {} : { 'alternate-exchange': names[alt] } });
        }
        for (const [s, d, k] of g.edges) await ch.bindExchange(names[d], names[s], k);
        for (const [s, q, k] of g.queueBindings) await ch.bindQueue(queues[q], names[s], k);
        ch.publish(names[g.entry], g.key, Buffer.from(`run${n}`));
        await ch.waitForConfirms();
        const want = expected(g);
        for (let q = 0; q < queues.length; q++) expect(await drain(ch, queues[q])).toEqual(want.has(q) ? [`run${n}`] : []);
        for (const name of names) await ch.deleteExchange(name);
      }),
      { numRuns: 150 },
    );
  });
});
