/** ShardQueue's requeue: whatever comes back, in whatever batches and order, the queue hands out oldest first. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backlog, ShardQueue, type QueueEntry } from '../../src/shard/queue.js';
import { storedMessage } from '../../src/shard/block-arena.js';

/** Operations on a queue of `size` messages, all taken at the start. */
type Op = { kind: 'requeue'; picks: number[] } | { kind: 'take'; count: number };

const opArb = fc.oneof(
  fc.record({ kind: fc.constant('requeue' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 30 }) }),
  fc.record({ kind: fc.constant('take' as const), count: fc.integer({ min: 1, max: 20 }) }),
);

describe('ShardQueue.requeue', () => {
  it('hands requeued messages out before the rest, oldest first, each once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 150 }), fc.integer({ min: 0, max: 50 }), fc.array(opArb, { maxLength: 40 }), (size, fresh, ops) => {
        const backlog = new Backlog();
        const queue = new ShardQueue(1, 'q', backlog);
        const message = storedMessage(Buffer.alloc(8));
        for (let i = 0; i < size; i++) queue.enqueue(message);
        /** entries out with a consumer, by id */
        const out = new Map<number, QueueEntry>();
        const takeAll = (limit: number) => {
          const got: number[] = [];
          for (let entry = queue.take(); entry !== undefined; entry = got.length < limit ? queue.take() : undefined) {
            queue.track(entry, null);
            out.set(entry.id, entry);
            got.push(entry.id);
          }
          return got;
        };
        takeAll(Infinity);
        for (let i = 0; i < fresh; i++) queue.enqueue(message); // never delivered: they come after
        for (const op of ops) {
          if (op.kind === 'take') {
            const got = takeAll(op.count);
            expect(got).toEqual([...got].sort((a, b) => a - b));
            continue;
          }
          // A batch of distinct unacked entries in the order the picks name them.
          const ids = [...out.keys()];
          if (ids.length === 0) continue;
          const batch: QueueEntry[] = [];
          for (const pick of op.picks) {
            const id = ids[pick % ids.length];
            const entry = queue.settle(id);
            if (entry === undefined) continue;
            out.delete(id);
            batch.push(entry);
          }
          queue.requeue(batch);
        }
        // Put back the rest, then everything comes out once, in id order.
        queue.requeue([...out.keys()].reverse().map((id) => queue.settle(id)!));
        expect(queue.messageCount).toBe(size + fresh);
        const order: number[] = [];
        for (let entry = queue.take(); entry !== undefined; entry = queue.take()) order.push(entry.id);
        expect(order).toEqual(Array.from({ length: size + fresh }, (_, i) => i + 1));
        expect([backlog.entries, backlog.bytes]).toEqual([0, 0]);
      }),
      { numRuns: 300 },
    );
  });
});
