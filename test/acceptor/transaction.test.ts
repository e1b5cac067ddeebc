/** A transaction's buffer: publishes kept as one copy each, settlements six numbers a delivery; in order at commit, all given back at rollback, counters back to zero. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TX_PUBLISH_HEAP, Transaction, type TxOp, type TxRoute } from '../../src/acceptor/transaction.js';

const route = { exchange: {}, queues: [], ccKeys: undefined } as unknown as TxRoute;
const shortstr = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);

type Step = { kind: 'publish'; exchange: string; key: string; properties: Buffer; parts: Buffer[] } | { kind: 'settle'; action: number; tags: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('publish' as const),
    exchange: fc.string({ maxLength: 20 }),
    key: fc.string({ maxLength: 40 }),
    properties: fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a)),
    parts: fc.array(fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)), { maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('settle' as const), action: fc.integer({ min: 0, max: 2 }), tags: fc.integer({ min: 1, max: 40 }) }),
);

/** What next() hands out, in plain values. */
function describeOp(op: TxOp): unknown {
  if (op.kind === 'publish') {
    const { data, keyAt, propertiesAt, bodyAt } = op;
    return { kind: 'publish', names: data.subarray(0, propertiesAt).toString('hex'), keyAt, properties: data.subarray(propertiesAt, bodyAt).toString('hex'), body: data.subarray(bodyAt).toString('hex') };
  }
  const deliveries: number[][] = [];
  op.taken.forEach((...fields) => deliveries.push(fields));
  return { kind: 'settle', action: op.action, deliveries };
}

describe('Transaction', () => {
  it('gives back each publish byte for byte and each settlement, consecutive ones of an action as one, in order; counts what it holds', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        const tx = new Transaction();
        const expected: any[] = [];
        let tag = 1;
        let publishes = 0;
        let settling = 0;
        for (const s of steps) {
          if (s.kind === 'publish') {
            const exchange = shortstr(s.exchange);
            const key = shortstr(s.key);
            const body = Buffer.concat(s.parts);
            tx.publish(exchange, key, 0, s.properties, s.parts, body.length, route);
            expected.push({ kind: 'publish', names: Buffer.concat([exchange, key]).toString('hex'), keyAt: exchange.length, properties: s.properties.toString('hex'), body: body.toString('hex') });
            publishes++;
          } else {
            const deliveries: number[][] = [];
            for (let i = 0; i < s.tags; i++, tag++) {
              tx.settle(s.action, tag, 2, tag % 3, tag * 7, tag * 11, tag * 13);
              deliveries.push([tag, 2, tag % 3, tag * 7, tag * 11, tag * 13]);
            }
            const last = expected[expected.length - 1];
            if (last?.kind === 'settle' && last.action === s.action) last.deliveries.push(...deliveries);
            else expected.push({ kind: 'settle', action: s.action, deliveries });
            settling += s.tags;
          }
        }
        expect([tx.publishes, tx.settling]).toEqual([publishes, settling]);
        expect(tx.bytes).toBeGreaterThanOrEqual(publishes * TX_PUBLISH_HEAP + settling * 6 * 8);
        const got: unknown[] = [];
        for (let op = tx.next(); op !== undefined; op = tx.next()) got.push(describeOp(op));
        expect(got).toEqual(expected);
        expect([tx.bytes, tx.publishes, tx.settling]).toEqual([0, 0, 0]);
      }),
    );
  });

  it('rolls back: every delivery its settlements took, in order, and nothing held', () => {
    const tx = new Transaction();
    for (let tag = 1; tag <= 100_000; tag++) tx.settle(1, tag, 3, 0, 5, tag, 0);
    tx.publish(shortstr(''), shortstr('q'), 0, Buffer.alloc(2), [Buffer.from('body')], 4, route);
    tx.settle(1, 100_001, 2, 1, 6, 1, 0);
    expect(tx.settling).toBe(100_001);
    const taken = tx.rollback();
    const tags: number[] = [];
    for (const deliveries of taken) deliveries.forEach((tag) => tags.push(tag));
    expect(tags).toEqual(Array.from({ length: 100_001 }, (_, i) => i + 1));
    expect([tx.bytes, tx.publishes, tx.settling, tx.next()]).toEqual([0, 0, 0, undefined]);
  });
});
