/** A channel's unacked deliveries by tag (typed arrays): the same answers as a Map in tag order, through growth, gaps, rollbacks, held deliveries far behind the rest and a global prefetch counting them; memory that follows the count unacked. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COUNTED, DELIVERED, UNCOUNTED, UnackedWindow } from '../../src/acceptor/unacked-window.js';

type Op =
  | { kind: 'deliver'; skip: number }
  | { kind: 'burst'; count: number }
  | { kind: 'ack'; pick: number; multiple: boolean }
  | { kind: 'restore'; pick: number }
  | { kind: 'count' }
  | { kind: 'clear' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), skip: fc.nat({ max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deliver' as const), skip: fc.nat({ max: 300 }) }) },
  // Deliveries acked as they come while older ones stay held: what moves held tags out of the ring.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('burst' as const), count: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ack' as const), pick: fc.nat(), multiple: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restore' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'count' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

const KINDS = [UNCOUNTED, DELIVERED, COUNTED];

/** Everything in the window, lowest tag first, by walking first()/next(). */
function walk(w: UnackedWindow): number[][] {
  const out: number[][] = [];
  for (let t = w.first(); t !== 0; t = w.next(t)) out.push([t, w.kind(t), w.link(t), w.queueId(t), w.msgId(t), w.sentAt(t)]);
  return out;
}

describe('UnackedWindow', () => {
  it('answers like a Map in tag order (deliveries with gaps, single and multiple acks, rollbacks, growth past 16)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 1, max: 2 ** 40 }), (ops, start) => {
        const w = new UnackedWindow();
        const model = new Map<number, number[]>();
        /** settled tags a rollback may give back */
        const taken = new Map<number, number[]>();
        let tag = start;
        for (const o of ops) {
          if (o.kind === 'deliver') {
            tag += 1 + o.skip; // no-ack deliveries leave gaps
            const fields = [KINDS[tag % 3], tag % 7, tag % 1000, tag * 2, tag % 13];
            w.add(tag, fields[0], fields[1], fields[2], fields[3], fields[4]);
            model.set(tag, fields);
          } else if (o.kind === 'burst') {
            for (let i = 0; i < o.count; i++) {
              tag++;
              w.add(tag, UNCOUNTED, 1, 2, 3, 4);
              expect(w.has(tag)).toBe(true);
              w.remove(tag);
            }
          } else if (o.kind === 'ack') {
            const tags = [...model.keys()].sort((a, b) => a - b);
            if (tags.length === 0) continue;
            const target = tags[o.pick % tags.length];
            for (const t of o.multiple ? tags.filter((t) => t <= target) : [target]) {
              expect(w.has(t)).toBe(true);
              w.remove(t);
              taken.set(t, model.get(t)!);
              model.delete(t);
            }
            expect(w.has(target)).toBe(false);
          } else if (o.kind === 'restore') {
            const tags = [...taken.keys()];
            if (tags.length === 0) continue;
            const t = tags[o.pick % tags.length];
            const f = taken.get(t)!;
            taken.delete(t);
            w.add(t, f[0], f[1], f[2], f[3], f[4]);
            model.set(t, f);
          } else if (o.kind === 'count') {
            let n = 0;
            for (const f of model.values()) {
              if (f[0] !== DELIVERED) continue;
              f[0] = COUNTED;
              n++;
            }
            expect(w.countDelivered()).toBe(n);
          } else {
            w.clear();
            model.clear();
            taken.clear();
          }
          expect(w.size).toBe(model.size);
          expect(w.slots).toBeLessThanOrEqual(Math.max(64, 16 * model.size));
        }
        const expected = [...model.entries()].sort((a, b) => a[0] - b[0]).map(([t, f]) => [t, ...f]);
        expect(walk(w)).toEqual(expected);
        expect(w.has(tag + 1)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a delivery held across a million later ones in a few slots, and still acks it', () => {
    const w = new UnackedWindow();
    w.add(1, DELIVERED, 3, 7, 11, 13);
    for (let tag = 2; tag <= 1_000_001; tag++) {
      w.add(tag, UNCOUNTED, 0, 0, tag, 0);
      if (tag % 100 !== 0) w.remove(tag); // every hundredth is held too, the rest acked at once
    }
    expect(w.size).toBe(1 + 10_000);
    expect(w.slots).toBeLessThanOrEqual(64);
    expect(walk(w)[0]).toEqual([1, DELIVERED, 3, 7, 11, 13]);
    expect(w.countDelivered()).toBe(1); // the one far behind the ring
    expect(w.kind(1)).toBe(COUNTED);
    expect(w.next(1)).toBe(100);
    expect(w.msgId(500_000)).toBe(500_000);
    w.remove(1);
    expect(w.has(1)).toBe(false);
    expect(w.first()).toBe(100);
    let held = 0;
    for (let t = w.first(); t !== 0; t = w.next(t)) held++;
    expect(held).toBe(10_000);
  });
});
