/**
 * A stored ShardQueue with a tiny window (a few messages, segments of a few
 * KiB) over a real QueueStore, against a model: whatever mix of persistent and
 * transient publishes, fsyncs, takes, acks, requeues, purges and restarts, the
 * queue hands out what the model says, in order, with its redelivered flag,
 * and holds in memory no more than a window past what waits for an fsync. Its
 * byte counters (the management API's message_bytes*, messages_paged_out)
 * agree with the model and with what the shard's backlog holds in memory.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backlog, ENTRY_OVERHEAD, ShardQueue, type QueueEntry } from '../../src/shard/queue.js';
import { storedMessage } from '../../src/shard/block-arena.js';
import { blockSize } from '../../src/shard/records.js';
import type { Paging } from '../../src/shard/paged-backlog.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { recoverQueue } from '../../src/store/recover.js';
import { numberedBlock, numberOf, scratchQueueDirs } from '../store/helpers.js';
import { shortstr } from './records.js';

/** What a numbered block costs in memory besides its body (all have the same exchange and key, no properties). */
const HEAP_PER_ENTRY = blockSize(shortstr('ex').length + shortstr('rk').length, 0, 0) + ENTRY_OVERHEAD;

const newDir = scratchQueueDirs();

type Op =
  | { kind: 'publish'; persistent: boolean; size: number; count: number }
  | { kind: 'sync' }
  | { kind: 'take'; count: number; ack: boolean }
  | { kind: 'settle'; pick: number; requeue: boolean }
  | { kind: 'purge' }
  | { kind: 'restart' }
  | { kind: 'dropTransient' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('publish' as const), persistent: fc.boolean(), size: fc.nat(1500), count: fc.integer({ min: 1, max: 12 }) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'sync' as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('take' as const), count: fc.integer({ min: 1, max: 15 }), ack: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), requeue: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'purge' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'dropTransient' as const }) },
);

interface Model {
  id: number;
  n: number;
  persistent: boolean;
  redelivered: boolean;
  /** its body's size */
  size: number;
}

describe('a paged ShardQueue against a model', () => {
  it('hands out what the model says, in order, and keeps about a window in memory', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.array(opArb, { maxLength: 60 }), (windowMessages, windowKiB, ops) => {
        const paging: Paging = { messages: windowMessages, bytes: windowKiB * 1024, segmentSize: 6 * 1024 };
        const dir = newDir();
        let backlog = new Backlog();
        let store = new QueueStore(dir, [], paging.segmentSize);
        let queue = new ShardQueue(1, 'q', backlog, dir);
        queue.page(1, [], null, paging);
        let written = 0;
        let number = 0;
        /** ready messages, oldest first, as the queue should hand them out */
        let ready: Model[] = [];
        /** taken and not settled */
        let unacked: { model: Model; entry: QueueEntry }[] = [];
        /** persistent messages appended but not yet synced: in memory whatever happens */
        let unsynced = 0;

        const sync = () => {
          store.sync();
          queue.release(written);
          unsynced = 0;
        };
        const ack = (id: number) => store.ack(id);
        for (const op of ops) {
          switch (op.kind) {
            case 'publish':
              for (let i = 0; i < op.count; i++) {
                const block = numberedBlock(++number, op.size);
                const entry = queue.enqueue(storedMessage(block), op.persistent);
                if (op.persistent) {
                  store.append(entry.id, block, 0, block.length);
                  queue.appended(entry, ++written);
                  unsynced++;
                }
                ready.push({ id: entry.id, n: number, persistent: op.persistent, redelivered: false, size: Math.max(op.size, `message ${number} `.length) });
              }
              break;
            case 'sync':
              sync();
              break;
            case 'take':
              for (let i = 0; i < op.count; i++) {
                const entry = queue.take();
                const model = ready.shift();
                expect(entry === undefined).toBe(model === undefined);
                if (entry === undefined || model === undefined) break;
                expect([entry.id, numberOf(entry.message.block), entry.redelivered]).toEqual([model.id, model.n, model.redelivered]);
                if (op.ack) {
                  if (entry.persistent) ack(entry.id);
                } else {
                  queue.track(entry, null);
                  if (entry.persistent) store.delivered(entry.id);
                  unacked.push({ model, entry });
                }
              }
              break;
            case 'settle': {
              if (unacked.length === 0) break;
              const [{ model, entry }] = unacked.splice(op.pick % unacked.length, 1);
              expect(queue.settle(entry.id)).toBe(entry);
              if (op.requeue) {
                entry.redelivered = model.redelivered = true;
                queue.requeue([entry]);
                ready.push(model);
                ready.sort((a, b) => a.id - b.id);
              } else if (entry.persistent) ack(entry.id);
              break;
            }
            case 'purge':
              expect(queue.purge({ ack, dropFrom: (segment) => store.dropFrom(segment) })).toBe(ready.length);
              ready = [];
              break;
            case 'dropTransient':
              // a simulated restart (faults.restart): the ready transient ones go, in the window and past it
              expect(queue.dropReady((entry) => entry.persistent)).toBe(ready.filter((m) => !m.persistent).length);
              ready = ready.filter((m) => m.persistent);
              break;
            case 'restart': {
              // A restart: the store syncs and closes; the transient messages are gone.
              store.sync();
              store.close();
              const recovery = recoverQueue(dir, paging);
              backlog = new Backlog();
              store = new QueueStore(dir, recovery.segments, paging.segmentSize);
              queue = new ShardQueue(1, 'q', backlog, dir);
              for (const m of recovery.messages) queue.restore(storedMessage(m.block), m.id, m.delivered, m.expiresAt);
              queue.startIdsAt(recovery.nextId);
              const seqs = recovery.segments.map((s) => s.seq);
              queue.page(seqs.length > 0 ? seqs[seqs.length - 1] + 1 : 1, seqs, recovery.pagedOut, paging);
              ready = [...ready.filter((m) => m.persistent), ...unacked.filter((u) => u.model.persistent).map((u) => ({ ...u.model, redelivered: true }))];
              ready.sort((a, b) => a.id - b.id);
              unacked = [];
              unsynced = 0;
              written = 0;
              break;
            }
          }
          expect(queue.messageCount).toBe(ready.length);
          // In memory: a window (one message may pass its bytes), what waits for an fsync, the transient ones.
          const transients = ready.filter((m) => !m.persistent).length;
          expect(backlog.entries).toBeLessThanOrEqual(windowMessages + 1 + unsynced + transients);
          // Byte counters: the ready and unacked bodies, the persistent ones, and the paged out = not in memory.
          const sum = (ms: Model[]) => ms.reduce((total, m) => total + m.size, 0);
          const persistentReady = ready.filter((m) => m.persistent);
          const unackedModels = unacked.map((u) => u.model);
          expect([queue.readyBodyBytes, queue.unackedBodyBytes]).toEqual([sum(ready), sum(unackedModels)]);
          expect([queue.readyPersistent, queue.readyPersistentBytes]).toEqual([persistentReady.length, sum(persistentReady)]);
          const persistentUnacked = unackedModels.filter((m) => m.persistent);
          expect([queue.unackedPersistent, queue.unackedPersistentBytes]).toEqual([persistentUnacked.length, sum(persistentUnacked)]);
          expect(queue.pagedOut).toBe(ready.length - backlog.entries);
          expect(queue.pagedOutBytes).toBe(sum(ready) - (backlog.bytes - backlog.entries * HEAP_PER_ENTRY));
        }
        // Everything left comes out, in order.
        sync();
        const rest: number[] = [];
        for (let entry = queue.take(); entry !== undefined; entry = queue.take()) rest.push(numberOf(entry.message.block));
        expect(rest).toEqual(ready.map((m) => m.n));
        store.close();
      }),
      {
        numRuns: 150,
        examples: [
          // an acked message among the paged-out ones at a restart: the reader skips it
          [1, 1, [{ kind: 'publish', persistent: true, size: 0, count: 8 }, { kind: 'take', count: 4, ack: false }, { kind: 'settle', pick: 3, requeue: false }, { kind: 'restart' }]],
          // a purge drops the segments after the reader's, not the one holding an unacked message
          [1, 1, [{ kind: 'publish', persistent: true, size: 1000, count: 12 }, { kind: 'sync' }, { kind: 'take', count: 1, ack: false }, { kind: 'purge' }, { kind: 'restart' }]],
          // transient messages past the window (behind paged persistent ones) dropped by a simulated restart
          [1, 1, [{ kind: 'publish', persistent: true, size: 100, count: 3 }, { kind: 'publish', persistent: false, size: 200, count: 3 }, { kind: 'dropTransient' }, { kind: 'take', count: 1, ack: true }]],
        ],
      },
    );
  });
});
