/** A queue's unacked entries by id: the same answers as a Map, through gaps, held ids, old ids given back; memory that follows the count held. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdWindow } from '../../src/shard/id-window.js';

type Op =
  | { kind: 'deliver'; skip: number }
  | { kind: 'burst'; count: number }
  | { kind: 'settle'; pick: number }
  | { kind: 'again'; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), skip: fc.nat({ max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deliver' as const), skip: fc.nat({ max: 300 }) }) },
  // Delivered and acked at once while older ones stay held.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('burst' as const), count: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick: fc.nat() }) },
  // A settled (requeued) id delivered again: below the newest.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('again' as const), pick: fc.nat() }) },
);

describe('IdWindow', () => {
  it('answers like a Map (gaps, held ids, requeued ids delivered again), in memory that follows the count held', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 0, max: 2 ** 40 }), (ops, start) => {
        const w = new IdWindow<{ id: number }>();
        const model = new Map<number, { id: number }>();
        const settled: number[] = [];
        let id = start;
        const put = (n: number): void => {
          const value = { id: n };
          w.set(n, value);
          model.set(n, value);
        };
        for (const o of ops) {
          if (o.kind === 'deliver') {
            id += 1 + o.skip;
            put(id);
          } else if (o.kind === 'burst') {
            for (let i = 0; i < o.count; i++) {
              id++;
              w.set(id, { id });
              expect(w.delete(id)).toEqual({ id });
            }
          } else if (o.kind === 'settle') {
            const ids = [...model.keys()];
            if (ids.length === 0) continue;
            const n = ids[o.pick % ids.length];
            expect(w.delete(n)).toBe(model.get(n));
            expect(w.delete(n)).toBeUndefined();
            model.delete(n);
            settled.push(n);
          } else {
            if (settled.length === 0) continue;
            const n = settled.splice(o.pick % settled.length, 1)[0];
            put(n);
          }
          expect(w.size).toBe(model.size);
          expect(w.capacity).toBeLessThanOrEqual(Math.max(64, 16 * model.size));
        }
        for (const [n, value] of model) expect(w.get(n)).toBe(value);
        for (const n of settled) expect(w.get(n)).toBeUndefined();
        expect(w.get(id + 1)).toBeUndefined();
        expect(new Set(w.values())).toEqual(new Set(model.values()));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps an id held across a million later ones in a few slots', () => {
    const w = new IdWindow<number>();
    w.set(0, -1);
    for (let id = 1; id <= 1_000_000; id++) {
      w.set(id, id);
      if (id % 100 !== 0) w.delete(id);
    }
    expect(w.size).toBe(1 + 10_000);
    expect(w.capacity).toBeLessThanOrEqual(64);
    expect(w.get(0)).toBe(-1);
    expect(w.get(500_000)).toBe(500_000);
    expect(w.delete(0)).toBe(-1);
    expect([...w.values()].length).toBe(10_000);
  });
});
