/**
 * Reading paged-out messages back: SegmentLayout finds every append where the
 * QueueStore put it, SegmentReader reads on from there across segments (big
 * records, acked ones skipped, delivery marks), and recoverQueue's window
 * leaves the rest where the reader picks it up.
 */
import { describe, expect, it, vi } from 'vitest';
import fs from 'node:fs';
import fc from 'fast-check';
import { QueueStore, segmentPath } from '../../src/store/queue-store.js';
import { recoverQueue } from '../../src/store/recover.js';
import { SegmentLayout } from '../../src/store/segment-layout.js';
import { READ_BYTES, SegmentReader } from '../../src/store/segment-reader.js';
import { numberedBlock, numberOf, scratchQueueDirs } from './helpers.js';

const newDir = scratchQueueDirs();

/** Reads everything a reader gives, `count` at most, as [id, number in body, delivered, deadline]. */
function readAll(reader: SegmentReader, count: number, perRead = 100): [number, number, boolean, number][] {
  const got: [number, number, boolean, number][] = [];
  const sink = { onRead: (id: number, block: Buffer, delivered: boolean, expiresAt: number) => void got.push([id, numberOf(block), delivered, expiresAt]) };
  while (got.length < count) {
    if (reader.read(Math.min(perRead, count - got.length), 1 << 30, sink) === 0) break;
  }
  return got;
}

describe('SegmentLayout and SegmentReader', () => {
  it('the layout mirror finds every append where the store put it, whatever the sizes and deadlines', () => {
    // a deadline (ms since the epoch) makes a TIMED record, 8 bytes longer; 0: a MESSAGE record
    const deadline = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 45 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(3000), deadline), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1024, max: 16 * 1024 }), fc.nat(59), (messages, segmentSize, from) => {
        const sizes = messages.map(([size]) => size);
        const dir = newDir();
        const store = new QueueStore(dir, [], segmentSize);
        const layout = new SegmentLayout(1, segmentSize);
        const places: [number, number][] = [];
        messages.forEach(([size, expiresAt], i) => {
          const block = numberedBlock(i + 1, size);
          store.append(i + 1, block, 0, block.length, expiresAt);
          layout.place(block.length, expiresAt !== 0);
          places.push([layout.seq, layout.offset]);
        });
        store.close();
        // A reader put at any message's place reads it and everything after it, in order.
        const start = Math.min(from, sizes.length - 1);
        const reader = new SegmentReader(dir, 'test');
        reader.seek(...places[start]);
        const got = readAll(reader, sizes.length - start);
        reader.close();
        expect(got.map(([id, n, , expiresAt]) => [id, n, expiresAt])).toEqual(messages.slice(start).map(([, expiresAt], i) => [start + i + 1, start + i + 1, expiresAt]));
        expect(reader.ended).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it('reads a record larger than one read, and says when the segments run out', () => {
    const dir = newDir();
    const store = new QueueStore(dir);
    const sizes = [10, READ_BYTES + 5000, 10, 3 * READ_BYTES, 10];
    sizes.forEach((size, i) => {
      const block = numberedBlock(i + 1, size);
      store.append(i + 1, block, 0, block.length);
    });
    store.close();
    const reader = new SegmentReader(dir, 'test');
    reader.seek(1, 0);
    expect(readAll(reader, 5, 2).map(([, n]) => n)).toEqual([1, 2, 3, 4, 5]);
    expect(reader.read(1, 1 << 30, { onRead: () => {} })).toBe(0); // asked for more than there is
    expect(reader.ended).toBe(true);
    reader.close();
  });

  it('a damaged record skips the rest of its segment, logged; a garbage length is not believed', () => {
    const dir = newDir();
    const store = new QueueStore(dir, [], 4096);
    for (let id = 1; id <= 15; id++) {
      const block = numberedBlock(id, 900); // 4 per segment
      store.append(id, block, 0, block.length);
    }
    store.close();
    const seg2 = segmentPath(dir, 2, 'seg');
    const bytes = fs.readFileSync(seg2);
    const second = bytes.readUInt32LE(0) + 9; // where its second record starts
    bytes[second + 100] ^= 0xff; // message 6's body: its CRC fails
    fs.writeFileSync(seg2, bytes);
    const seg3 = segmentPath(dir, 3, 'seg');
    const third = fs.readFileSync(seg3);
    third.writeUInt32LE(0x7fff_fff0, 0); // message 9's length: garbage
    fs.writeFileSync(seg3, third);
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void logged.push(args.join(' ')));
    try {
      const reader = new SegmentReader(dir, "queue 'q'");
      reader.seek(1, 0);
      expect(readAll(reader, 8, 3).map(([id]) => id)).toEqual([1, 2, 3, 4, 5, 13, 14, 15]);
      reader.close();
    } finally {
      vi.restoreAllMocks();
    }
    expect(logged).toHaveLength(2);
    expect(logged[0]).toContain("queue 'q'");
    expect(logged[0]).toContain('0000000002.seg: a record failing its CRC');
    expect(logged[1]).toContain('0000000003.seg: a torn record at byte 0');
  });

  it('recovery loads a window; the reader goes on from where it stopped, skipping acked ones, marking delivered ones', () => {
    const dir = newDir();
    const segmentSize = 8 * 1024;
    let store = new QueueStore(dir, [], segmentSize);
    const total = 300; // ~30 segments of ~10 messages
    for (let id = 1; id <= total; id++) {
      const block = numberedBlock(id, 700);
      store.append(id, block, 0, block.length);
    }
    const acked = new Set([2, 3, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 200, 299]);
    const delivered = new Set([4, 61, 150, 201]);
    for (const id of acked) store.ack(id);
    for (const id of delivered) store.delivered(id);
    store.close();

    const recovery = recoverQueue(dir, { messages: 20, bytes: Infinity });
    const expected = Array.from({ length: total }, (_, i) => i + 1).filter((id) => !acked.has(id));
    expect(recovery.messages.map((m) => m.id)).toEqual(expected.slice(0, 20));
    expect(recovery.messages.find((m) => m.id === 4)?.delivered).toBe(true);
    expect(recovery.pagedOut?.count).toBe(expected.length - 20);

    const reader = new SegmentReader(dir, 'test', recovery.segments.map((s) => s.seq));
    reader.seek(recovery.pagedOut!.seq, recovery.pagedOut!.offset);
    const got = readAll(reader, recovery.pagedOut!.count, 7);
    expect(got.map(([id]) => id)).toEqual(expected.slice(20));
    expect(got.filter(([, , d]) => d).map(([id]) => id)).toEqual([61, 150, 201]);
    reader.close();

    // A byte window stops loading too.
    store = new QueueStore(dir, recovery.segments, segmentSize);
    store.close();
    const byBytes = recoverQueue(dir, { messages: Infinity, bytes: 10 * 700 });
    expect(byBytes.messages).toHaveLength(10);
    expect(byBytes.pagedOut?.count).toBe(expected.length - 10);
  });
});
