/**
 * StreamLog inline (no broker): offsets, seeks and retention by segment, with
 * any sequence of appends (fast-check) checked against a plain list; and a
 * stored log that leaves memory a store segment at a time, read back from the
 * segment files by cursors at any offset, before and after a restart.
 */
import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReadAheadBudget, StreamCursor } from '../../src/shard/stream-cursor.js';
import { DEFAULT_SEGMENT_BYTES, StreamLog, type StreamHost, type StreamRecord } from '../../src/shard/stream-log.js';
import { MIN_READ_BYTES } from '../../src/store/segment-reader.js';
import { storedMessage } from '../../src/shard/block-arena.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { scanQueue } from '../../src/store/recover.js';
import { numberedBlock, numberOf, scratchQueueDirs } from '../store/helpers.js';

const newDir = scratchQueueDirs();
const message = (n: number, size = 0) => storedMessage(numberedBlock(n, size));

/** A host that counts what the log holds in memory; `ranges` collects what retention dropped, [from, to). */
function recordingHost() {
  const ranges: [number, number][] = [];
  const counts = { heldBytes: 0, heldCount: 0 };
  const h: StreamHost = {
    held: (m, sign) => {
      counts.heldBytes += sign * m.block.length;
      counts.heldCount += sign;
    },
    counted: () => {},
    dropped: (from, to) => void ranges.push([from, to]),
  };
  return { host: h, ranges, counts };
}

/** Reads from `offset` to the end: [offset, number in body, time, chunkStart] of each record. */
function readFrom(log: StreamLog, offset: number): [number, number, number, boolean][] {
  const cursor = new StreamCursor(offset);
  const got: [number, number, number, boolean][] = [];
  for (let r = log.read(cursor); r !== undefined; r = log.read(cursor)) {
    got.push([r.offset, numberOf(r.message.block), r.time, r.chunkStart]);
    cursor.offset = r.offset + 1;
  }
  return got;
}

const at = (log: StreamLog, offset: number): StreamRecord | undefined => log.read(new StreamCursor(offset));

describe('StreamLog', () => {
  it('seeks first, last chunk, next, an offset (none below the first) and a time; reads past a retention gap from the oldest', () => {
    const { host: h, ranges } = recordingHost();
    const log = new StreamLog({ segmentBytes: 1_000_000 }, h);
    for (let i = 0; i < 5; i++) log.append(message(i), 1000); // one chunk
    for (let i = 5; i < 8; i++) log.append(message(i), 2000); // another
    expect([log.seek('first'), log.seek('last'), log.seek('next')]).toEqual([0, 5, 8]);
    expect([log.seek({ offset: -3 }), log.seek({ offset: 6 }), log.seek({ offset: 99 })]).toEqual([0, 6, 99]);
    expect([log.seek({ timestamp: 0 }), log.seek({ timestamp: 1500 }), log.seek({ timestamp: 2000 }), log.seek({ timestamp: 2001 })]).toEqual([0, 5, 5, 8]);
    expect(at(log, 4)?.chunkStart).toBe(false);
    expect(at(log, 5)?.chunkStart).toBe(true);
    expect(at(log, 8)).toBeUndefined();
    expect(ranges).toEqual([]);
  });

  it('fast-check: retention drops whole oldest segments only when one fills, by size and by age; offsets never change', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 300 }), dt: fc.integer({ min: 0, max: 500 }) }), { maxLength: 200 }),
        fc.integer({ min: 50, max: 1000 }),
        fc.option(fc.integer({ min: 100, max: 3000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 100, max: 5000 }), { nil: undefined }),
        (appends, segmentBytes, maxBytes, maxAge) => {
          const { host: h, ranges, counts } = recordingHost();
          const log = new StreamLog({ segmentBytes, maxBytes, maxAge }, h);
          const sizes: number[] = [];
          let now = 0;
          for (const { size, dt } of appends) {
            now += dt;
            const m = message(sizes.length, size);
            const record = log.append(m, now);
            expect(record.offset).toBe(sizes.length);
            sizes.push(m.block.length);
          }
          // what is left is a contiguous tail; what went, the head before it, in order, in ranges that meet
          const first = ranges.length === 0 ? 0 : ranges[ranges.length - 1][1];
          ranges.forEach(([from, to], i) => expect([from, to > from]).toEqual([i === 0 ? 0 : ranges[i - 1][1], true]));
          expect(log.length).toBe(sizes.length - first);
          expect(readFrom(log, 0).map(([offset, n]) => [offset, n])).toEqual(sizes.slice(first).map((_, i) => [first + i, first + i]));
          // all of it in memory (no disk), and nothing else
          expect(counts.heldCount).toBe(log.length);
          expect(log.pagedOut).toBe(0);
          // nothing goes without a limit; with a size, what stays is at most that, the segment being filled and one message
          if (maxBytes === undefined && maxAge === undefined) expect(first).toBe(0);
          const held = sizes.slice(first).reduce((a, b) => a + b, 0);
          expect(counts.heldBytes).toBe(held);
          if (maxBytes !== undefined) expect(held).toBeLessThanOrEqual(maxBytes + segmentBytes + 400);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fast-check: a stored log keeps only its newest runs in memory; cursors at any offset read the rest from disk, also after a restart', () => {
    fc.assert(
      fc.property(
        // batches of appends (one chunk each: one time), with sizes
        fc.array(fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1024, max: 6 * 1024 }),
        fc.integer({ min: 0, max: 4096 }),
        fc.option(fc.integer({ min: 2000, max: 20_000 }), { nil: undefined }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        (batches, segmentSize, windowBytes, maxBytes, starts) => {
          const dir = newDir();
          const store = new QueueStore(dir, [], segmentSize);
          const { host: h, ranges, counts } = recordingHost();
          // retention segments of a few store segments' worth
          const log = new StreamLog({ segmentBytes: 3 * segmentSize, maxBytes }, { ...h, dropped: (from, to) => {
            h.dropped(from, to);
            store.ackRange(from + 1, to + 1);
          } });
          log.storeAt({ dir, label: 'test', nextSeq: 1, segmentSize, windowBytes });
          /** every record appended: [offset, number, time, chunkStart] */
          const all: [number, number, number, boolean][] = [];
          let command = 0;
          batches.forEach((sizes, b) => {
            const time = 1000 + b * 10;
            sizes.forEach((size, k) => {
              const offset = all.length;
              const m = message(offset, size);
              log.append(m, time, () => {
                store.append(offset + 1, m.block, 0, m.block.length, time);
                return ++command;
              });
              all.push([offset, offset, time, k === 0]);
            });
            store.sync();
            log.release(command);
            // in memory: at most the window, the run being written and the one that would take it under the window
            expect(counts.heldBytes).toBeLessThanOrEqual(windowBytes + 2 * segmentSize + 1024);
          });
          const first = ranges.length === 0 ? 0 : ranges[ranges.length - 1][1];
          const kept = all.slice(first);
          expect(log.length).toBe(kept.length);
          expect(counts.heldCount + log.pagedOut).toBe(kept.length);
          const check = (l: StreamLog) => {
            for (const start of starts) {
              const from = start % (all.length + 1);
              // below the first: from the first (which may begin a chunk retention cut, or not)
              const norm = ([o, n, t, c]: [number, number, number, boolean]) => [o, n, t, c || o === first];
              expect(readFrom(l, from).map(norm)).toEqual(kept.filter(([offset]) => offset >= from).map(norm));
            }
            expect(l.seek('first')).toBe(kept.length === 0 ? all.length : first);
            // a timestamp finds the first chunk at or after it, in memory or on disk
            for (const [, , time] of kept) expect(l.seek({ timestamp: time })).toBe(kept.find(([, , t]) => t >= time)![0]);
          };
          check(log);
          // a restart: the log knows its records from the scan, all on disk
          store.close();
          const { host: h2, counts: counts2 } = recordingHost();
          const restored = new StreamLog({ segmentBytes: 3 * segmentSize, maxBytes }, h2);
          const scan = scanQueue(dir, (m) => restored.restoreOnDisk(m.seq, m.id - 1, m.expiresAt, m.block.length, 0));
          restored.startAt(scan.nextId - 1);
          const last = scan.segments[scan.segments.length - 1];
          restored.storeAt({ dir, label: 'test', nextSeq: last === undefined ? 1 : last.seq + 1, segmentSize, windowBytes });
          expect(counts2.heldCount).toBe(0);
          expect(restored.length).toBe(kept.length);
          check(restored);
          expect(restored.seek('next')).toBe(all.length);
          expect(restored.append(message(all.length), 99_999).offset).toBe(all.length);
          fs.rmSync(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('fast-check: cursors sharing a small read-ahead budget put back what they read ahead and read it again: each reads every record once, in order, chunks intact, and together they hold about the bound', () => {
    fc.assert(
      fc.property(
        // sizes: now and then a record larger than the smallest read
        fc.array(fc.array(fc.oneof({ weight: 30, arbitrary: fc.integer({ min: 0, max: 6000 }) }, { weight: 1, arbitrary: fc.integer({ min: 64 * 1024, max: 300 * 1024 }) }), { minLength: 1, maxLength: 20 }), { minLength: 5, maxLength: 40, size: 'medium' }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 12 }),
        // steps: which cursor reads, and how many records
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 60 })), { maxLength: 300 }),
        fc.integer({ min: 16 * 1024, max: 1024 * 1024 }),
        (batches, starts, steps, limit) => {
          const dir = newDir();
          // store segments of a few reads (of 64 KiB at least)
          const segmentSize = 160 * 1024;
          const store = new QueueStore(dir, [], segmentSize);
          const log = new StreamLog({ segmentBytes: DEFAULT_SEGMENT_BYTES }, recordingHost().host);
          log.storeAt({ dir, label: 'test', nextSeq: 1, segmentSize, windowBytes: 0 });
          const all: [number, number, number, boolean][] = [];
          let command = 0;
          let largest = 0;
          batches.forEach((sizes, b) => {
            sizes.forEach((size, k) => {
              const offset = all.length;
              const m = message(offset, size);
              largest = Math.max(largest, m.block.length);
              log.append(m, 1000 + b, () => {
                store.append(offset + 1, m.block, 0, m.block.length, 1000 + b);
                return ++command;
              });
              all.push([offset, offset, 1000 + b, k === 0]);
            });
            store.sync();
            log.release(command);
          });
          const budget = new ReadAheadBudget(limit);
          const cursors = starts.map((start) => new StreamCursor(start % all.length, budget));
          const got = cursors.map((): [number, number, number, boolean][] => []);
          const read = (i: number, count: number) => {
            const cursor = cursors[i];
            for (let n = 0; n < count; n++) {
              const r = log.read(cursor);
              if (r === undefined) return;
              got[i].push([r.offset, numberOf(r.message.block), r.time, r.chunkStart]);
              cursor.offset = r.offset + 1;
              // what the budget counts covers what the cursors hold, and is at most the bound and the read that passed it
              expect(cursors.reduce((sum, c) => sum + c.held, 0)).toBeLessThanOrEqual(budget.held);
              expect(budget.held).toBeLessThanOrEqual(limit + Math.max(MIN_READ_BYTES, limit / 2) + largest);
            }
          };
          for (const [which, count] of steps) read(which % cursors.length, count);
          cursors.forEach((_, i) => read(i, Infinity));
          cursors.forEach((cursor, i) => {
            const from = starts[i] % all.length;
            expect(got[i]).toEqual(all.slice(from));
            cursor.close();
          });
          expect(budget.held).toBe(0);
          store.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a segment file damaged after it left memory: a reader gets what is before the damage, then goes on with the next segment', () => {
    const dir = newDir();
    const store = new QueueStore(dir, [], 4096);
    const { host: h } = recordingHost();
    const log = new StreamLog({ segmentBytes: 1_000_000 }, h);
    log.storeAt({ dir, label: 'test', nextSeq: 1, segmentSize: 4096, windowBytes: 0 });
    let command = 0;
    for (let i = 0; i < 30; i++) {
      const m = message(i, 500); // 7 to a segment
      log.append(m, 1000 + i, () => {
        store.append(i + 1, m.block, 0, m.block.length, 1000 + i);
        return ++command;
      });
    }
    store.sync();
    log.release(command);
    expect(log.pagedOut).toBeGreaterThanOrEqual(21);
    // a flipped byte in the body of the third record of the first segment
    const path = `${dir}/0000000001.seg`;
    const bytes = fs.readFileSync(path);
    const third = bytes.indexOf('message 2 ');
    bytes[third + 5] ^= 0xff;
    fs.writeFileSync(path, bytes);
    const warnings: unknown[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => void warnings.push(args);
    try {
      expect(readFrom(log, 0).map(([o]) => o)).toEqual([0, 1, ...Array.from({ length: 23 }, (_, i) => 7 + i)]);
    } finally {
      console.error = error;
    }
    // (said again when the reader comes back to the damage for the next record)
    expect(warnings.length).toBeGreaterThan(0);
    for (const warning of warnings) expect(String(warning)).toMatch(/0000000001\.seg: a record failing its CRC/);
    expect(log.length).toBe(30);
  });

  it('a restored log with a gap (a damaged part skipped) still reads on past it', () => {
    const dir = newDir();
    const store = new QueueStore(dir, [], 1024);
    for (const offset of [10, 11, 12, 20, 21]) {
      const block = numberedBlock(offset, 600); // one record per segment
      store.append(offset + 1, block, 0, block.length, offset < 20 ? 1 : 2);
    }
    store.close();
    const { host: h } = recordingHost();
    const log = new StreamLog({ segmentBytes: 1_000_000 }, h);
    const scan = scanQueue(dir, (m) => log.restoreOnDisk(m.seq, m.id - 1, m.expiresAt, m.block.length, 0));
    log.startAt(25);
    log.storeAt({ dir, label: 'test', nextSeq: scan.segments.length + 1, segmentSize: 1024, windowBytes: 0 });
    expect(at(log, 0)?.offset).toBe(10);
    expect(at(log, 15)?.offset).toBe(20);
    expect(at(log, 21)?.offset).toBe(21);
    expect(readFrom(log, 11).map(([o, n]) => [o, n])).toEqual([[11, 11], [12, 12], [20, 20], [21, 21]]);
    expect([log.seek('last'), log.seek('next'), log.seek({ timestamp: 2 })]).toEqual([20, 25, 20]);
    expect(log.append(message(25), 3).offset).toBe(25);
    expect(readFrom(log, 21).map(([o]) => o)).toEqual([21, 25]);
  });
});
