import type { Ring } from './ring.js';
import type { Doorbell } from './doorbell.js';

/**
 * The producer end of a ring. A record is written in place when it fits; when
 * the ring is full it goes to an overflow list instead (order is kept: once
 * anything overflows, everything after it does too until the list drains).
 * Callers watch `backlogged` and stop producing more (socket pause, deliveries
 * held) so the overflow stays small.
 */
export class RingWriter {
  /** Where the current record goes: write its bytes at buf[offset..]. */
  buf: Buffer;
  offset = 0;
  private inRing = false;
  private readonly overflow: Buffer[] = [];
  private written = false;
  /** How many times flush() rang the reader's bell. */
  rings = 0;
  /**
   * Writes a record its owner is still gathering (the SETTLEs of one socket
   * read): called before any other record and before the bell rings, so the
   * ring keeps the order in which things happened.
   */
  gathering: (() => void) | null = null;

  constructor(
    readonly ring: Ring,
    private readonly peerBell: Doorbell,
  ) {
    this.buf = ring.data;
  }

  get backlogged(): boolean {
    return this.overflow.length > 0;
  }

  /** Bytes held in the overflow list (counted against the memory watermark). */
  get overflowBytes(): number {
    let bytes = 0;
    for (const record of this.overflow) bytes += record.length;
    return bytes;
  }

  begin(size: number): void {
    if (this.gathering !== null) this.writeGathered();
    if (this.overflow.length === 0) {
      const at = this.ring.reserve(size);
      if (at >= 0) {
        this.buf = this.ring.data;
        this.offset = at;
        this.inRing = true;
        return;
      }
    }
    if (this.overflow.length === 0) this.ring.setProducerBlocked(true);
    this.buf = Buffer.allocUnsafe(size);
    this.offset = 0;
    this.inRing = false;
  }

  end(): void {
    if (this.inRing) this.ring.commit();
    else this.overflow.push(this.buf);
    this.written = true;
  }

  /**
   * Ends a record that needs no wake-up of its own: the reader takes it with
   * whatever it is next woken for. The caller must make sure that comes in time.
   */
  endQuietly(): void {
    if (this.inRing) this.ring.commit();
    else this.overflow.push(this.buf);
  }

  /** Moves overflowed records into the ring as space allows; true if any moved. */
  drainOverflow(): boolean {
    let moved = 0;
    while (moved < this.overflow.length) {
      const record = this.overflow[moved];
      const at = this.ring.reserve(record.length);
      if (at < 0) break;
      record.copy(this.ring.data, at);
      this.ring.commit();
      moved++;
    }
    if (moved > 0) {
      this.overflow.splice(0, moved);
      this.written = true;
      if (this.overflow.length === 0) this.ring.setProducerBlocked(false);
    }
    return moved > 0;
  }

  /** Writes the gathered record now (see gathering). */
  writeGathered(): void {
    const write = this.gathering;
    if (write === null) return;
    this.gathering = null;
    write();
  }

  /** Wakes the reader once per batch, and only if something was written. */
  flush(): void {
    if (this.gathering !== null) this.writeGathered();
    if (this.written) {
      this.written = false;
      this.rings++;
      this.peerBell.ring();
    }
  }
}
