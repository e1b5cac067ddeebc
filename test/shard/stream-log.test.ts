/**
 * StreamLog inline (no broker): offsets, seeks and retention by segment, with
 * any sequence of appends (fast-check) checked against a plain list.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamLog, type StreamRecord } from '../../dist/src/shard/stream-log.js';
import { storedMessage } from '../../dist/src/shard/block-arena.js';

const message = (size: number) => storedMessage(Buffer.alloc(size));

describe('StreamLog', () => {
  it('seeks first, last chunk, next, an offset (none below the first) and a time; reads past a retention gap from the oldest', () => {
    const released: StreamRecord[] = [];
    const log = new StreamLog({ segmentBytes: 1_000_000 }, (r) => released.push(r));
    for (let i = 0; i < 5; i++) log.append(message(10), 1000); // one chunk
    for (let i = 0; i < 3; i++) log.append(message(10), 2000); // another
    expect([log.seek('first'), log.seek('last'), log.seek('next')]).toEqual([0, 5, 8]);
    expect([log.seek({ offset: -3 }), log.seek({ offset: 6 }), log.seek({ offset: 99 })]).toEqual([0, 6, 99]);
    expect([log.seek({ timestamp: 0 }), log.seek({ timestamp: 1500 }), log.seek({ timestamp: 2000 }), log.seek({ timestamp: 2001 })]).toEqual([0, 5, 5, 8]);
    expect(log.at(4)?.chunkStart).toBe(false);
    expect(log.at(5)?.chunkStart).toBe(true);
    expect(log.at(8)).toBeUndefined();
    expect(released).toEqual([]);
  });

  it('a restored log with a gap (a damaged part skipped) still finds each offset', () => {
    const log = new StreamLog({ segmentBytes: 1_000_000 }, () => {});
    for (const offset of [10, 11, 12, 20, 21]) log.restore(message(5), offset, offset < 20 ? 1 : 2);
    log.startAt(25);
    expect(log.at(0)?.offset).toBe(10);
    expect(log.at(15)?.offset).toBe(20);
    expect(log.at(21)?.offset).toBe(21);
    expect(log.seek('last')).toBe(20);
    expect(log.seek('next')).toBe(25);
    expect(log.append(message(5), 3).offset).toBe(25);
  });

  it('fast-check: retention drops whole oldest segments only when one fills, by size and by age; offsets never change', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 300 }), dt: fc.integer({ min: 0, max: 500 }) }), { maxLength: 200 }),
        fc.integer({ min: 50, max: 1000 }),
        fc.option(fc.integer({ min: 100, max: 3000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 100, max: 5000 }), { nil: undefined }),
        (appends, segmentBytes, maxBytes, maxAge) => {
          const released: number[] = [];
          const log = new StreamLog({ segmentBytes, maxBytes, maxAge }, (r) => released.push(r.offset));
          const sizes: number[] = [];
          let now = 0;
          for (const { size, dt } of appends) {
            now += dt;
            const record = log.append(message(size), now);
            expect(record.offset).toBe(sizes.length);
            sizes.push(size);
          }
          // what is left is a contiguous tail; what went, the head before it, in order
          const first = released.length;
          expect(released).toEqual([...Array(first).keys()]);
          expect(log.length).toBe(sizes.length - first);
          for (let i = first; i < sizes.length; i++) expect(log.at(i)!.offset).toBe(i);
          // nothing goes without a limit; with a size, what stays is at most that, the segment being filled and one message
          if (maxBytes === undefined && maxAge === undefined) expect(first).toBe(0);
          const held = sizes.slice(first).reduce((a, b) => a + b, 0);
          if (maxBytes !== undefined) expect(held).toBeLessThanOrEqual(maxBytes + segmentBytes + 300);
        },
      ),
      { numRuns: 300 },
    );
  });
});
