/** A queue's segments: append, ack, mark delivered, recover; rollover and deletion of acked segments. */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import { join } from 'node:path';
import { QueueStore } from '../../src/store/queue-store.js';
import { recoverQueue } from '../../src/store/recover.js';
import { crc32 } from '../../src/store/crc32.js';
import { bytesOnDisk, numberedBlock, numberOf, scratchQueueDirs } from './helpers.js';

const newDir = scratchQueueDirs();

const append = (store: QueueStore, id: number, size = 0) => {
  const block = numberedBlock(id, size);
  store.append(id, block, 0, block.length);
};

describe('crc32', () => {
  it('matches the standard check value and a bytewise reference at every length and offset, short and long (native)', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    const reference = (b: Buffer) => {
      let c = ~0;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return ~c >>> 0;
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(2000), (bytes, split) => {
        const b = Buffer.from(bytes);
        const at = Math.min(split, b.length);
        expect(crc32(b)).toBe(reference(b));
        expect(crc32(b, at, b.length, crc32(b, 0, at))).toBe(reference(b)); // continued
      }),
    );
    // Either side of where the native CRC takes over, from an offset.
    const big = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff));
    for (const n of [511, 512, 513, 4096]) {
      expect(crc32(big, 3, 3 + n)).toBe(reference(big.subarray(3, 3 + n)));
      const half = 3 + (n >> 1);
      expect(crc32(big, half, 3 + n, crc32(big, 3, half))).toBe(reference(big.subarray(3, 3 + n)));
    }
  });
});

describe('QueueStore and recoverQueue', () => {
  it('recovers what was appended minus what was acked, in order, with delivery marks, across reopenings', () => {
    type Op = { op: 'append'; size: number } | { op: 'ack'; pick: number } | { op: 'deliver'; pick: number } | { op: 'sync' } | { op: 'reopen' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ op: fc.constant('append' as const), size: fc.nat(200) }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('ack' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('deliver' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.constant({ op: 'sync' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), fc.integer({ min: 200, max: 2000 }), (ops, segmentSize) => {
        const dir = newDir();
        let store = new QueueStore(dir, [], segmentSize);
        let nextId = 1;
        const live: number[] = []; // appended, not acked, in order
        const delivered = new Set<number>();
        for (const o of ops) {
          if (o.op === 'append') {
            append(store, nextId, o.size);
            live.push(nextId++);
          } else if (o.op === 'ack' && live.length > 0) {
            store.ack(live.splice(o.pick % live.length, 1)[0]);
          } else if (o.op === 'deliver' && live.length > 0) {
            const id = live[o.pick % live.length];
            store.delivered(id);
            delivered.add(id);
          } else if (o.op === 'sync') {
            store.sync();
            expect(store.diskBytes).toBe(bytesOnDisk(dir));
          } else if (o.op === 'reopen') {
            store.close();
            const r = recoverQueue(dir);
            expect(r.warnings).toEqual([]);
            expect(r.messages.map((m) => m.id)).toEqual(live);
            store = new QueueStore(dir, r.segments, segmentSize);
            nextId = Math.max(nextId, r.nextId);
          }
        }
        store.close();
        const r = recoverQueue(dir);
        expect(r.warnings).toEqual([]);
        expect(r.messages.map((m) => m.id)).toEqual(live);
        expect(r.messages.map((m) => numberOf(m.block))).toEqual(live);
        expect(r.messages.filter((m) => m.delivered).map((m) => m.id)).toEqual(live.filter((id) => delivered.has(id)));
        fs.rmSync(dir, { recursive: true });
      }),
      { numRuns: 200 },
    );
  });

  it('rolls over into new segments and deletes each one whose messages are all acked', () => {
    const dir = newDir();
    const store = new QueueStore(dir, [], 64 * 1024);
    for (let id = 1; id <= 1000; id++) append(store, id, 1000);
    store.sync();
    const full = bytesOnDisk(dir);
    expect(store.segmentCount).toBeGreaterThanOrEqual(15);
    expect(full).toBeGreaterThan(1000 * 1000);
    // Ack every message but 1 and 1000: only the first and the last segment stay.
    for (let id = 2; id < 1000; id++) store.ack(id);
    store.sync();
    expect(store.segmentCount).toBe(2);
    expect(bytesOnDisk(dir)).toBe(store.diskBytes);
    expect(store.diskBytes).toBeLessThan(2 * 64 * 1024 + 8 * 1000 + 100);
    store.close();
    expect(recoverQueue(dir).messages.map((m) => numberOf(m.block))).toEqual([1, 1000]);
  });

  it('gives a message larger than a segment a segment of its own', () => {
    const dir = newDir();
    const store = new QueueStore(dir, [], 4096);
    append(store, 1, 100);
    append(store, 2, 100_000);
    append(store, 3, 100);
    store.close();
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.seg'))).toHaveLength(3);
    expect(recoverQueue(dir).messages.map((m) => m.block.length)).toEqual([numberedBlock(1, 100).length, numberedBlock(2, 100_000).length, numberedBlock(3, 100).length]);
  });

  it('refuses an id that does not increase', () => {
    const store = new QueueStore(newDir());
    append(store, 5);
    expect(() => append(store, 5)).toThrow(/id 5 after 5/);
    store.close();
  });

  it('removes the directory of a deleted queue', () => {
    const dir = newDir();
    const store = new QueueStore(dir);
    append(store, 1);
    store.sync();
    store.destroy();
    expect(fs.existsSync(dir)).toBe(false);
  });
});
