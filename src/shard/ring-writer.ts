import type { Ring } from './ring.js';
import type { Doorbell } from './doorbell.js';
import { PIECE, PIECE_HEADER } from './pieces.js';
import { copyBytes, viewOfBytes } from '../protocol/copy-bytes.js';

/**
 * The producer end of a ring. A record is written in place when it fits; when
 * the ring is full it goes to an overflow list instead (order is kept: once
 * anything overflows, everything after it does too until the list drains).
 * Callers watch `backlogged` and stop producing more (socket pause, deliveries
 * held) so the overflow stays small.
 *
 * A record larger than `maxRecord` is built in a buffer of its own and then
 * written as PIECE records (pieces.ts), in the ring while they fit and to the
 * overflow list after: the ring need not be as large as the largest message.
 */
export class RingWriter {
  /** Where the current record goes: write its bytes at buf[offset..]. */
  buf: Buffer;
  /** buf again, for word-wise copies (copyWords): same offsets */
  view: DataView;
  offset = 0;
  private inRing = false;
  /** the current record is larger than maxRecord: it goes in pieces at end() */
  private inPieces = false;
  private readonly overflow: Buffer[] = [];
  /** per overflow entry: 0 for a record, else it is a piece of a record of this size */
  private readonly overflowWhole: number[] = [];
  /**
   * The largest record written whole. Half the ring: such a record always fits
   * once the reader has caught up, wherever the ring's head then is.
   */
  readonly maxRecord: number;
  private written = false;
  /** How many times flush() rang the reader's bell. */
  rings = 0;
  /** Records ended so far (a record in pieces counts once): the reader's count of records handled matches it. */
  records = 0;
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
    this.view = ring.view;
    this.maxRecord = (ring.capacity >>> 1) - 16;
  }

  get backlogged(): boolean {
    return this.overflow.length > 0;
  }

  /** Bytes held in the overflow list (counted against the memory watermark). */
  overflowBytes = 0;

  begin(size: number): void {
    if (this.gathering !== null) this.writeGathered();
    if (size > this.maxRecord) return this.beginPieces(size);
    if (this.overflow.length === 0) {
      const at = this.ring.reserve(size);
      if (at >= 0) {
        this.buf = this.ring.data;
        this.view = this.ring.view;
        this.offset = at;
        this.inRing = true;
        return;
      }
    }
    if (this.overflow.length === 0) this.ring.setProducerBlocked(true); // as soon as it did not fit: the reader looks
    this.ownBuffer(size);
    this.inRing = false;
  }

  end(): void {
    this.close();
    this.written = true;
  }

  /**
   * Ends a record that needs no wake-up of its own: the reader takes it with
   * whatever it is next woken for. The caller must make sure that comes in time.
   */
  endQuietly(): void {
    this.close();
    this.ring.publish();
  }

  /** The current record into the ring, in pieces, or to the overflow. */
  private close(): void {
    if (this.inRing) this.ring.commit();
    else if (this.inPieces) this.writePieces();
    else this.pushOverflow(this.buf, 0);
    this.records++;
  }

  private beginPieces(size: number): void {
    this.ownBuffer(size);
    this.inRing = false;
    this.inPieces = true;
  }

  /** The current record goes in a buffer of its own (for the overflow, or to be cut in pieces). */
  private ownBuffer(size: number): void {
    this.buf = Buffer.allocUnsafe(size);
    this.view = viewOfBytes(this.buf);
    this.offset = 0;
  }

  /** The record in `buf` as PIECE records: into the ring while they fit, the rest to the overflow. */
  private writePieces(): void {
    const record = this.buf;
    this.buf = this.ring.data; // the overflow keeps what it needs of the record, no longer
    this.view = this.ring.view;
    this.inPieces = false;
    const whole = record.length;
    const step = this.maxRecord - PIECE_HEADER;
    for (let from = 0; from < whole; from += step) {
      const piece = record.subarray(from, Math.min(whole, from + step));
      if (this.overflow.length > 0 || !this.writePiece(piece, whole)) this.pushOverflow(piece, whole);
    }
  }

  private writePiece(piece: Buffer, whole: number): boolean {
    const at = this.ring.reserve(PIECE_HEADER + piece.length);
    if (at < 0) return false;
    const data = this.ring.data;
    data[at] = PIECE;
    data.writeUInt32LE(whole, at + 1);
    copyBytes(piece, 0, piece.length, data, at + PIECE_HEADER);
    this.ring.commit();
    return true;
  }

  private pushOverflow(record: Buffer, whole: number): void {
    if (this.overflow.length === 0 && whole !== 0) this.ring.setProducerBlocked(true); // (begin() did for a record)
    this.overflow.push(record);
    this.overflowWhole.push(whole);
    this.overflowBytes += record.length;
  }

  /** Moves overflowed records into the ring as space allows; true if any moved. */
  drainOverflow(): boolean {
    let moved = 0;
    while (moved < this.overflow.length) {
      const record = this.overflow[moved];
      const whole = this.overflowWhole[moved];
      if (whole !== 0) {
        if (!this.writePiece(record, whole)) break;
      } else {
        const at = this.ring.reserve(record.length);
        if (at < 0) break;
        copyBytes(record, 0, record.length, this.ring.data, at);
        this.ring.commit();
      }
      this.overflowBytes -= record.length;
      moved++;
    }
    if (moved > 0) {
      this.overflow.splice(0, moved);
      this.overflowWhole.splice(0, moved);
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
    this.ring.publish();
    if (this.written) {
      this.written = false;
      this.rings++;
      this.peerBell.ring();
    }
  }
}
