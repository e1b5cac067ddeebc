/**
 * A single-producer single-consumer byte ring on a SharedArrayBuffer.
 *
 * Records are length-prefixed and always contiguous, so the reader can look at a
 * record in place (a Buffer view of the shared memory) and copy out only what it
 * keeps. A record that does not fit before the end of the data area is preceded
 * by a WRAP marker and written at offset 0.
 *
 * Control words (Int32, each on its own 64-byte line to avoid false sharing):
 *   HEAD  read offset, written by the consumer
 *   TAIL  write offset, written by the producer
 *   BLOCKED  1 while the producer holds records it could not fit, so the
 *            consumer knows to wake it after making room (and only then)
 *   TAKEN  units of work the consumer has taken, counted as it likes (a
 *          shard: its clients' queue entries), on HEAD's line
 *   WAITING  1 while the producer waits for TAKEN to move on: the consumer
 *            wakes it then, as for BLOCKED
 *
 * HEAD and TAIL are stored once per batch (publish(), release()), not per
 * record: each Atomics.store is a full fence, and the other thread's next load
 * of that line a cache miss.
 */
import { readU32LE, writeU32LE } from '../protocol/uint32.js';

const HEAD = 0;
const TAKEN = 1;
const TAIL = 16;
const BLOCKED = 24;
const WAITING = 25;
const CONTROL_BYTES = 128;
const LENGTH_BYTES = 4;
const WRAP = 0xffffffff;

export class Ring {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  /** The data area; record payloads are addressed by offsets into it. */
  readonly data: Buffer;
  /** The data area again, for word-wise copies (copyWords): same offsets as `data`. */
  readonly view: DataView;
  private readonly control: Int32Array;
  /** Producer's own copy of TAIL plus the pending (reserved, uncommitted) record. */
  private tail = 0;
  /** TAIL as last stored for the consumer (see publish). */
  private published = 0;
  private reservedEnd = -1;
  /**
   * HEAD as the producer last loaded it. It only moves on (frees room), so a
   * stale copy errs on the side of less room: reloaded only when it says full.
   */
  private headSeen = 0;
  /** Consumer's own copy of HEAD and the end of the record it is looking at. */
  private head = 0;
  /** HEAD as last stored for the producer (see release). */
  private released = 0;
  /** Consumer's own count of units taken (TAKEN), stored with HEAD. */
  private takenCount = 0;
  private takenReleased = 0;
  private peekedEnd = -1;
  /** TAIL as the consumer last loaded it (stale: fewer records), reloaded only when it says empty. */
  private tailSeen = 0;
  /** Size of the record returned by the last peek(). */
  recordSize = 0;

  static allocate(capacity: number): Ring {
    return new Ring(new SharedArrayBuffer(CONTROL_BYTES + capacity));
  }

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.capacity = sab.byteLength - CONTROL_BYTES;
    this.control = new Int32Array(sab, 0, CONTROL_BYTES / 4);
    this.data = Buffer.from(sab, CONTROL_BYTES, this.capacity);
    this.view = new DataView(sab, CONTROL_BYTES, this.capacity);
    this.tail = this.tailSeen = this.published = Atomics.load(this.control, TAIL);
    this.head = this.headSeen = this.released = Atomics.load(this.control, HEAD);
    this.takenCount = this.takenReleased = Atomics.load(this.control, TAKEN);
  }

  /**
   * Producer: room for a `size`-byte record. Returns the payload offset in `data`,
   * or -1 when the ring is too full right now. Call commit() once written, and
   * publish() at the end of the batch.
   */
  reserve(size: number): number {
    const need = LENGTH_BYTES + size;
    let at = this.place(need, this.headSeen);
    if (at < 0) {
      this.headSeen = Atomics.load(this.control, HEAD);
      at = this.place(need, this.headSeen);
      if (at < 0) return -1;
    }
    const tail = this.tail;
    if (at === 0 && tail !== 0 && this.capacity - tail >= LENGTH_BYTES) writeU32LE(this.data, tail, WRAP);
    writeU32LE(this.data, at, size);
    this.reservedEnd = at + need;
    return at + LENGTH_BYTES;
  }

  /** Where a record of `need` bytes goes with the consumer at `head` (0 after a wrap), or -1: no room. */
  private place(need: number, head: number): number {
    const at = this.tail;
    if (at >= head) {
      // Free space is [tail, capacity) and [0, head - 1): never let tail catch head.
      if (this.capacity - at < need || (this.capacity - at === need && head === 0)) return need >= head ? -1 : 0;
      return at;
    }
    return head - at <= need ? -1 : at;
  }

  /** Producer: the record written after the last reserve() is complete; publish() lets the consumer see it. */
  commit(): void {
    this.tail = this.reservedEnd === this.capacity ? 0 : this.reservedEnd;
  }

  /** Producer: the records committed so far become visible to the consumer. */
  publish(): void {
    if (this.tail === this.published) return;
    this.published = this.tail;
    Atomics.store(this.control, TAIL, this.tail);
  }

  /** Consumer: payload offset of the next record (size in recordSize), or -1 if empty. */
  peek(): number {
    let at = this.head;
    if (at === this.tailSeen) {
      this.tailSeen = Atomics.load(this.control, TAIL);
      if (at === this.tailSeen) {
        this.release(); // all read: the room goes back at once
        return -1;
      }
    }
    const data = this.data;
    if (this.capacity - at < LENGTH_BYTES || readU32LE(data, at) === WRAP) at = 0;
    this.recordSize = readU32LE(data, at);
    this.peekedEnd = at + LENGTH_BYTES + this.recordSize;
    return at + LENGTH_BYTES;
  }

  /** Consumer: done with the record returned by peek(); release() gives its bytes back to the producer. */
  consume(): void {
    this.head = this.peekedEnd === this.capacity ? 0 : this.peekedEnd;
  }

  /** Consumer: `units` more taken; the producer sees them at release(). */
  take(units: number): void {
    this.takenCount = (this.takenCount + units) | 0;
  }

  /**
   * Consumer: the producer may reuse the bytes of every record consumed so far,
   * and sees what was taken (at the end of a batch). TAKEN goes first: a
   * producer that sees the room sees the units too.
   */
  release(): void {
    if (this.takenCount !== this.takenReleased) {
      this.takenReleased = this.takenCount;
      Atomics.store(this.control, TAKEN, this.takenCount);
    }
    if (this.head === this.released) return;
    this.released = this.head;
    Atomics.store(this.control, HEAD, this.head);
  }

  setProducerBlocked(blocked: boolean): void {
    Atomics.store(this.control, BLOCKED, blocked ? 1 : 0);
  }

  /** Producer: the units the consumer has taken (modulo 2^32: subtract with `| 0`). */
  get taken(): number {
    return Atomics.load(this.control, TAKEN);
  }

  /** Producer: it waits (or no longer) for TAKEN to move on. */
  setProducerWaiting(waiting: boolean): void {
    Atomics.store(this.control, WAITING, waiting ? 1 : 0);
  }

  /** Consumer: whether the producer is waiting for room or for units taken: wake it after a batch. */
  get producerBlocked(): boolean {
    return Atomics.load(this.control, BLOCKED) !== 0 || Atomics.load(this.control, WAITING) !== 0;
  }

  isEmpty(): boolean {
    return this.head === Atomics.load(this.control, TAIL);
  }
}
