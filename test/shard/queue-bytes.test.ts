/**
 * ShardQueue's byte counters (what the management API's message_bytes* and
 * messages_persistent show): through any sequence of publishes, takes (acked
 * or no-ack), acks, requeues, purges and a simulated restart's drop of the
 * transient ones, in a plain and in a priority queue, they equal a model's
 * sums of body sizes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backlog, ShardQueue, UNACKED_OVERHEAD, type Consumer, type QueueEntry } from '../../src/shard/queue.js';
import { Deque } from '../../src/shard/deque.js';
import { DEFAULT_SEGMENT_BYTES } from '../../src/shard/stream-log.js';
import { storedMessage } from '../../src/shard/block-arena.js';
import { block } from './records.js';

type Op =
  | { kind: 'publish'; size: number; persistent: boolean }
  | { kind: 'take'; noAck: boolean }
  | { kind: 'ack'; pick: number }
  | { kind: 'requeue'; picks: number[] }
  | { kind: 'purge' }
  | { kind: 'dropTransient' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('publish' as const), size: fc.integer({ min: 0, max: 5000 }), persistent: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('take' as const), noAck: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('ack' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('requeue' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dropTransient' as const) }) },
);

interface Modelled {
  size: number;
  persistent: boolean;
}

describe.each([false, true])('ShardQueue byte counters (priority queue: %s)', (priority) => {
  it('equal the sums of the body sizes of the ready and unacked messages, persistent ones apart', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const queue = new ShardQueue(1, 'q', new Backlog());
        if (priority) queue.prioritize(5);
        const ready = new Map<number, Modelled>();
        const unacked = new Map<number, QueueEntry>();
        const sizes = new Map<number, Modelled>();
        for (const op of ops) {
          switch (op.kind) {
            case 'publish': {
              const entry = queue.enqueue(storedMessage(block('ex', 'rk', Buffer.alloc(0), Buffer.alloc(op.size, 'x'))), op.persistent);
              const m = { size: op.size, persistent: op.persistent };
              sizes.set(entry.id, m);
              ready.set(entry.id, m);
              break;
            }
            case 'take': {
              const entry = queue.take();
              if (entry === undefined) {
                expect(ready.size).toBe(0);
                break;
              }
              expect(ready.delete(entry.id)).toBe(true);
              if (!op.noAck) {
                queue.track(entry, null);
                unacked.set(entry.id, entry);
              }
              break;
            }
            case 'ack': {
              const ids = [...unacked.keys()];
              if (ids.length === 0) break;
              const id = ids[op.pick % ids.length];
              expect(queue.settle(id)?.id).toBe(id);
              unacked.delete(id);
              break;
            }
            case 'requeue': {
              const ids = [...unacked.keys()];
              if (ids.length === 0) break;
              const batch: QueueEntry[] = [];
              for (const pick of op.picks) {
                const id = ids[pick % ids.length];
                const entry = queue.settle(id);
                if (entry === undefined) continue;
                unacked.delete(id);
                ready.set(id, sizes.get(id)!);
                batch.push(entry);
              }
              queue.requeue(batch);
              break;
            }
            case 'purge':
              expect(queue.purge()).toBe(ready.size);
              ready.clear();
              break;
            case 'dropTransient': {
              // a simulated restart: the ready transient ones go
              const transient = [...ready].filter(([, m]) => !m.persistent).map(([id]) => id);
              expect(queue.dropReady((entry) => entry.persistent)).toBe(transient.length);
              for (const id of transient) ready.delete(id);
              break;
            }
          }
          const sum = (ms: Iterable<Modelled>, persistentOnly = false) => [...ms].filter((m) => !persistentOnly || m.persistent).reduce((s, m) => s + m.size, 0);
          const unackedModel = [...unacked.keys()].map((id) => sizes.get(id)!);
          expect([queue.messageCount, queue.unackedCount]).toEqual([ready.size, unacked.size]);
          expect([queue.readyBodyBytes, queue.unackedBodyBytes]).toEqual([sum(ready.values()), sum(unackedModel)]);
          expect([queue.readyPersistent, queue.readyPersistentBytes]).toEqual([[...ready.values()].filter((m) => m.persistent).length, sum(ready.values(), true)]);
          expect([queue.unackedPersistent, queue.unackedPersistentBytes]).toEqual([unackedModel.filter((m) => m.persistent).length, sum(unackedModel, true)]);
          expect([queue.pagedOut, queue.pagedOutBytes]).toEqual([0, 0]); // not a stored queue: nothing on disk
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("a stream's deliveries", () => {
  it('count each unacked entry for the memory alarm but none of its body (the log holds the record once), through any deliveries and acks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { maxLength: 100 }),
        (sizes, steps) => {
          const backlog = new Backlog();
          const queue = new ShardQueue(1, 's', backlog);
          queue.makeStream({ segmentBytes: DEFAULT_SEGMENT_BYTES }, () => {});
          const records = sizes.map((size) => queue.append(storedMessage(block('', 's', Buffer.alloc(0), Buffer.alloc(size, 'x'))), 1000));
          const logBytes = backlog.heldBytes;
          const consumers = [0, 1].map((id): Consumer => ({ id, queue, noAck: false, prefetch: 10, priority: 0, globalLimit: null, unacked: 0, active: true, inFlight: new Deque(), cursor: null }));
          const unacked: number[] = [];
          for (const [pick, deliver] of steps) {
            // several consumers may hold one record
            if (deliver || unacked.length === 0) unacked.push(queue.deliverRecord(records[pick % records.length], consumers[pick % 2]).id);
            else expect(queue.settle(unacked.splice(pick % unacked.length, 1)[0])).toBeDefined();
            expect(backlog.unackedEntries).toBe(unacked.length);
            expect(backlog.heldBytes).toBe(logBytes + unacked.length * UNACKED_OVERHEAD);
            expect(queue.unackedBodyBytes).toBe(0);
          }
          expect(consumers[0].unacked + consumers[1].unacked).toBe(unacked.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
