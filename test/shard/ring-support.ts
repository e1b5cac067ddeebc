/** Helpers for tests that write into a ring and read back what was written. */
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import type { Ring } from '../../src/shard/ring.js';

/** A doorbell that counts its rings. */
export class CountingBell extends LocalDoorbell {
  rung = 0;
  override ring(): void {
    this.rung++;
    super.ring();
  }
}

/** The first byte of each record in the ring (a record's type), consuming them. */
export function readAll(ring: Ring): number[] {
  const got: number[] = [];
  ring.publish(); // what the writer committed (its flush() would publish it)
  for (let at = ring.peek(); at >= 0; at = ring.peek()) {
    got.push(ring.data[at]);
    ring.consume();
  }
  return got;
}
