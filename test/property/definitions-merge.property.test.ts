/**
 * `warren definitions import` merges a file into the stored definitions: for
 * any two sets of entries (names colliding or not, 0-255 byte UTF-8, two vhosts)
 * every exchange and queue of the file replaces the stored one of the same vhost
 * and name, every other stored one is kept, and each distinct binding is there once;
 * a vhost entry without description and tags keeps the stored ones.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeDefinitions, type QueueDefinition, type ExchangeDefinition, type BindingDefinition } from '../../dist/src/definitions/rabbit-format.js';
import { shortstrText } from './arbitraries.js';

/** A few fixed names so that entries collide often, and random ones that rarely do. */
const name = () => fc.oneof(fc.constantFrom('a', 'b', 'ü€'), shortstrText().filter((s) => s.length > 0 && !s.startsWith('amq.')));
const vhost = () => fc.constantFrom('/', 'other');

const queue = (origin: string) =>
  fc.record({ name: name(), vhost: vhost() }).map((q): QueueDefinition => ({ ...q, durable: true, auto_delete: false, arguments: { origin } }));
const exchange = (origin: string) =>
  fc.record({ name: name(), vhost: vhost(), type: fc.constantFrom('direct', 'topic') }).map((x): ExchangeDefinition => ({ ...x, durable: true, auto_delete: false, internal: false, arguments: { origin } }));
const binding = () =>
  fc
    .record({ source: name(), destination: name(), vhost: vhost(), routing_key: fc.constantFrom('', 'k', 'k.#'), destination_type: fc.constantFrom('queue' as const, 'exchange' as const) })
    .map((b): BindingDefinition => ({ ...b, arguments: {} }));

/** Each distinct (vhost, name) once, the last one winning: what a list of declares leaves. */
function lastWins<T extends { vhost: string; name: string }>(...lists: T[][]): Map<string, T> {
  const model = new Map<string, T>();
  for (const d of lists.flat()) model.set(JSON.stringify([d.vhost, d.name]), d);
  return model;
}

const keyed = <T extends { vhost: string; name: string }>(list: T[] | undefined) => new Map((list ?? []).map((d) => [JSON.stringify([d.vhost, d.name]), d]));

describe('definitions import merge', () => {
  it('the file replaces same-named exchanges and queues, keeps the others, and keeps each binding once', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(queue('stored'), { selector: (q) => [q.vhost, q.name].join('\0'), maxLength: 6 }),
        fc.uniqueArray(queue('file'), { selector: (q) => [q.vhost, q.name].join('\0'), maxLength: 6 }),
        fc.uniqueArray(exchange('stored'), { selector: (x) => [x.vhost, x.name].join('\0'), maxLength: 6 }),
        fc.uniqueArray(exchange('file'), { selector: (x) => [x.vhost, x.name].join('\0'), maxLength: 6 }),
        fc.array(binding(), { maxLength: 6 }),
        fc.array(binding(), { maxLength: 6 }),
        (storedQueues, fileQueues, storedExchanges, fileExchanges, storedBindings, fileBindings) => {
          const merged = mergeDefinitions(
            { queues: storedQueues, exchanges: storedExchanges, bindings: storedBindings },
            { queues: fileQueues, exchanges: fileExchanges, bindings: fileBindings },
          );
          expect(keyed(merged.queues)).toEqual(lastWins(storedQueues, fileQueues));
          expect(merged.queues).toHaveLength(lastWins(storedQueues, fileQueues).size);
          expect(keyed(merged.exchanges)).toEqual(lastWins(storedExchanges, fileExchanges));
          expect(merged.exchanges).toHaveLength(lastWins(storedExchanges, fileExchanges).size);
          const distinct = new Set([...storedBindings, ...fileBindings].map((b) => JSON.stringify(b)));
          expect(new Set(merged.bindings!.map((b) => JSON.stringify(b)))).toEqual(distinct);
          expect(merged.bindings).toHaveLength(distinct.size);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a vhost entry of the file replaces the stored one; one without description and tags keeps the stored ones', () => {
    const metadata = fc.option(fc.record({ description: shortstrText(), tags: fc.array(fc.constantFrom('a', 'b', 'ü€'), { maxLength: 3 }) }), { nil: undefined });
    const entry = fc.record({ name: fc.constantFrom('/', 'v1', 'v2'), metadata });
    const entries = fc.uniqueArray(entry, { selector: (v) => v.name, maxLength: 3 });
    fc.assert(
      fc.property(entries, entries, (stored, file) => {
        const toDef = (v: { name: string; metadata: { description: string; tags: string[] } | undefined }) => (v.metadata === undefined ? { name: v.name } : { name: v.name, ...v.metadata });
        const merged = new Map((mergeDefinitions({ vhosts: stored.map(toDef) }, { vhosts: file.map(toDef) }).vhosts ?? []).map((v) => [v.name, v]));
        expect([...merged.keys()].sort()).toEqual([...new Set([...stored, ...file].map((v) => v.name))].sort());
        for (const [name, v] of merged) {
          const fromFile = file.find((f) => f.name === name);
          const expected = fromFile?.metadata ?? stored.find((b) => b.name === name)?.metadata;
          expect({ description: v.description, tags: v.tags }, name).toEqual({ description: expected?.description, tags: expected?.tags });
        }
      }),
      { numRuns: 300 },
    );
  });
});
