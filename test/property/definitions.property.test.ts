/**
 * Definitions survive a restart whatever their names and arguments: a random
 * durable topology (0-255 byte UTF-8 names, nested argument tables), applied
 * through VHostService.apply() next to transient noise, comes back from
 * definitions.json equal, and nothing transient comes with it.
 */
import fc from 'fast-check';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker } from '../../dist/src/index.js';
import { exportDefinitions } from '../../dist/src/definitions/rabbit-format.js';
import type { FieldTable } from '../../dist/src/protocol/field-types.js';
import { shortstrText } from './arbitraries.js';

const TEMP = mkdtempSync(path.join(os.tmpdir(), 'warren-defs-prop-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

const name = () => shortstrText().filter((s) => s.length > 0 && !s.startsWith('amq.'));

/** JSON-representable argument values, as definitions files hold them. */
const argValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.boolean(),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 3 }),
  ),
})).value;
const args = () => fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 12 }), argValue, { maxKeys: 3 }) as fc.Arbitrary<FieldTable>;

const topology = fc.record({
  exchanges: fc.uniqueArray(fc.record({ name: name(), type: fc.constantFrom('direct', 'fanout', 'topic', 'headers'), durable: fc.boolean(), internal: fc.boolean(), args: args() }), {
    selector: (x) => x.name,
    maxLength: 5,
  }),
  queues: fc.uniqueArray(fc.record({ name: name(), durable: fc.boolean(), autoDelete: fc.boolean(), args: args() }), { selector: (q) => q.name, maxLength: 5 }),
  bindings: fc.array(fc.record({ from: fc.nat(), to: fc.nat(), toExchange: fc.boolean(), key: shortstrText(), args: args() }), { maxLength: 8 }),
});

/** The definitions with each list sorted, so order does not matter. */
function normalized(defs: any) {
  const sortBy = (list: any[]) => [...list].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  // Without a file a restart makes a fresh default guest: same user, another salt.
  const users = defs.users.map((u: any) => ({ ...u, password_hash: u.name === 'guest' ? 'salted' : u.password_hash }));
  return { ...defs, users, exchanges: sortBy(defs.exchanges), queues: sortBy(defs.queues), bindings: sortBy(defs.bindings) };
}

describe('definitions round trip', () => {
  it('a restart brings back exactly the stored part of any topology', { timeout: 120_000 }, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(topology, async (t) => {
        const dataDir = path.join(TEMP, `run-${++run}`);
        const first = await startBroker({ port: 0, host: '127.0.0.1', workers: 0, dataDir });
        const vhost = first.broker.vhosts.get('/')!;
        for (const x of t.exchanges) {
          vhost.apply({ kind: 'exchange.declare', name: x.name, type: x.type, durable: x.durable, autoDelete: false, internal: x.internal, arguments: x.args });
        }
        for (const q of t.queues) {
          await vhost.apply({ kind: 'queue.declare', name: q.name, durable: q.durable, exclusive: false, autoDelete: q.autoDelete, arguments: q.args, owner: 0 });
        }
        const exchanges = ['amq.direct', ...t.exchanges.map((x) => x.name)];
        for (const b of t.bindings) {
          const source = exchanges[b.from % exchanges.length];
          if (b.toExchange) {
            const destination = exchanges[b.to % exchanges.length];
            vhost.apply({ kind: 'exchange.bind', source, destination, routingKey: b.key, arguments: b.args });
          } else if (t.queues.length > 0) {
            const queue = t.queues[b.to % t.queues.length].name;
            vhost.apply({ kind: 'bind', exchange: source, queue, routingKey: b.key, arguments: b.args, owner: 0 });
          }
        }
        // As the data dir writes them: with operator policies (none here).
        const expected = normalized(exportDefinitions(first.broker.vhosts.values(), first.broker.access, true, first.broker.globals));
        await first.close();
        const file = path.join(dataDir, 'definitions.json');
        // Nothing stored was ever changed: no file at all.
        const written = existsSync(file) ? normalized(JSON.parse(readFileSync(file, 'utf8'))) : { ...expected, exchanges: [], queues: [], bindings: [] };
        expect(written).toEqual(expected);
        // Only the stored part: durable ends on both sides.
        const durableExchanges = new Set(t.exchanges.filter((x) => x.durable).map((x) => x.name));
        const durableQueues = new Set(t.queues.filter((q) => q.durable).map((q) => q.name));
        expect(new Set(written.exchanges.map((x: any) => x.name))).toEqual(durableExchanges);
        expect(new Set(written.queues.map((q: any) => q.name))).toEqual(durableQueues);
        const storedExchange = (x: string) => x === 'amq.direct' || durableExchanges.has(x);
        for (const b of written.bindings) {
          expect(storedExchange(b.source)).toBe(true);
          expect(b.destination_type === 'queue' ? durableQueues.has(b.destination) : storedExchange(b.destination)).toBe(true);
        }

        const second = await startBroker({ port: 0, host: '127.0.0.1', workers: 0, dataDir });
        try {
          expect(normalized(exportDefinitions(second.broker.vhosts.values(), second.broker.access, true, second.broker.globals))).toEqual(written);
        } finally {
          await second.close();
        }
      }),
      { numRuns: 100 },
    );
  });
});
