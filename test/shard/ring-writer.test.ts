import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { PIECE, PIECE_HEADER, PieceAssembler } from '../../src/shard/pieces.js';
import fc from 'fast-check';
import { CountingBell, readAll } from './ring-support.js';

function writeByte(w: RingWriter, value: number, quietly = false): void {
  w.begin(1);
  w.buf[w.offset] = value;
  if (quietly) w.endQuietly();
  else w.end();
}

describe('RingWriter', () => {
  it('writes a gathered record before the next record and before ringing, once', () => {
    const ring = Ring.allocate(1024);
    const bell = new CountingBell();
    const w = new RingWriter(ring, bell);
    let gathered = 0;
    const gather = () => {
      gathered++;
      writeByte(w, 100 + gathered);
    };
    w.gathering = gather;
    writeByte(w, 1); // the gathered record goes first
    w.gathering = gather;
    w.flush(); // and on flush
    w.flush();
    expect(readAll(ring)).toEqual([101, 1, 102]);
    expect(gathered).toBe(2);
    expect(bell.rung).toBe(1);
    expect(w.rings).toBe(1);
  });

  it('a quietly ended record rings nothing of its own, and goes with the next ring', () => {
    const ring = Ring.allocate(1024);
    const bell = new CountingBell();
    const w = new RingWriter(ring, bell);
    writeByte(w, 7, true);
    w.flush();
    expect(bell.rung).toBe(0);
    writeByte(w, 8);
    w.flush();
    expect(bell.rung).toBe(1);
    expect(readAll(ring)).toEqual([7, 8]);
  });
});

/** Record n of `size` bytes: a type byte that is not PIECE, then bytes that depend on n and the position. */
function record(n: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  b[0] = 1 + (n % 254);
  for (let i = 1; i < size; i++) b[i] = (n * 31 + i * 7) & 0xff;
  return b;
}

/** Reads what the ring holds, putting pieces back together; returns the whole records. */
function readRecords(ring: Ring, pieces: PieceAssembler, limit = Infinity): Buffer[] {
  const got: Buffer[] = [];
  ring.publish(); // what the writer committed (its flush() would publish it)
  for (let at = ring.peek(); at >= 0 && got.length < limit; at = ring.peek()) {
    const end = at + ring.recordSize;
    if (ring.data[at] !== PIECE) got.push(Buffer.from(ring.data.subarray(at, end)));
    else {
      const whole = pieces.take(ring.data, at, end);
      if (whole !== null) got.push(whole);
    }
    ring.consume();
  }
  ring.release(); // the reader's batch ends: its room goes back
  return got;
}

describe('RingWriter pieces', () => {
  it('writes a record larger than half the ring as pieces that put it back together, in order with the others, however full the ring', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ write: fc.oneof(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 5000 })) }),
            fc.record({ read: fc.integer({ min: 1, max: 8 }) }),
          ),
          { maxLength: 80 },
        ),
        (ops) => {
          const ring = Ring.allocate(1024);
          const w = new RingWriter(ring, new LocalDoorbell());
          const pieces = new PieceAssembler();
          const sent: Buffer[] = [];
          const got: Buffer[] = [];
          for (const op of ops) {
            if ('write' in op) {
              const r = record(sent.length, op.write);
              sent.push(r);
              w.begin(r.length);
              r.copy(w.buf, w.offset);
              w.end();
            } else {
              got.push(...readRecords(ring, pieces, op.read));
              w.drainOverflow();
            }
          }
          // The reader frees room, the writer moves its overflow on (and publishes it, as its flush does): it all arrives.
          ring.publish();
          for (let turns = 0; turns < 10_000 && (w.backlogged || !ring.isEmpty()); turns++) {
            got.push(...readRecords(ring, pieces));
            w.drainOverflow();
            ring.publish();
          }
          expect(w.backlogged).toBe(false);
          expect(ring.producerBlocked).toBe(false);
          expect(got.length).toBe(sent.length);
          for (let i = 0; i < sent.length; i++) expect(got[i].equals(sent[i]), `record ${i} (${sent[i].length} bytes)`).toBe(true);
          expect(pieces.heldBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes records up to maxRecord whole, and larger ones in pieces of at most maxRecord', () => {
    const ring = Ring.allocate(1024);
    const w = new RingWriter(ring, new LocalDoorbell());
    expect(w.maxRecord).toBe(496);
    for (const size of [w.maxRecord, w.maxRecord + 1]) {
      w.begin(size);
      record(1, size).copy(w.buf, w.offset);
      w.end();
      const sizes: number[] = [];
      ring.publish(); // what the writer committed (its flush() would publish it)
      for (let at = ring.peek(); at >= 0; at = ring.peek()) {
        sizes.push(ring.recordSize);
        ring.consume();
      }
      expect(sizes).toEqual(size === w.maxRecord ? [size] : [w.maxRecord, PIECE_HEADER + size - (w.maxRecord - PIECE_HEADER)]);
    }
  });
});
