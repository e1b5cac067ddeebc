import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';

/** A doorbell that counts its rings. */
class CountingBell extends LocalDoorbell {
  rung = 0;
  override ring(): void {
    this.rung++;
    super.ring();
  }
}

function writeByte(w: RingWriter, value: number, quietly = false): void {
  w.begin(1);
  w.buf[w.offset] = value;
  if (quietly) w.endQuietly();
  else w.end();
}

function readAll(ring: Ring): number[] {
  const got: number[] = [];
  for (let at = ring.peek(); at >= 0; at = ring.peek()) {
    got.push(ring.data[at]);
    ring.consume();
  }
  return got;
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
