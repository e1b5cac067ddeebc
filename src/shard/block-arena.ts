/**
 * Where a shard's message blocks live, and what keeps them from holding memory
 * they no longer use.
 *
 * A block is a view into a larger ArrayBuffer: Node's 8 KiB allocation pool,
 * which every Buffer.allocUnsafe or Buffer.from below 4 KiB carves (the copies
 * made here, blocks read back from disk, blocks rewritten for dead-lettering).
 * The whole buffer stays alive while any block in it does. Messages published
 * side by side into different queues share buffers, so a queue that keeps a
 * few of them (a dead-letter queue, one nobody reads) while the others are
 * consumed keeps their buffers too: 1 message in 100 kept held 8 KiB for each
 * 30-byte block, far beyond what the memory alarm counts.
 *
 * So a pass sums the bytes the held messages have in each buffer and copies
 * the blocks of buffers less than half used into fresh ones, packed together;
 * the old buffers go with the garbage. Each MIN_PASS_BYTES copied in, a young
 * pass looks at the messages that came since the last pass (the queues walk
 * from their newest entry back): its cost follows the traffic, not the
 * backlog. A buffer that a young pass saw well used may empty later, when
 * messages of other queues in it go: a full pass, over every message held,
 * comes once the bytes copied in reach FULL_EVERY times those live at the
 * last full pass. A full pass that finds little to move doubles that
 * distance (up to MAX_FULL_EVERY), so a large backlog that stays put is not
 * walked again and again (2 million messages: 180-360 ms a walk).
 */
import { copyBytes } from '../protocol/copy-bytes.js';
import type { StoredMessage } from './queue.js';

/** Bytes copied in between passes. */
export const MIN_PASS_BYTES = 16 * 1024 * 1024;
/** A full pass once the bytes copied in reach this many times those live at the last full pass (or MIN_PASS_BYTES, if more)... */
const FULL_EVERY = 8;
/** ...doubled after each full pass that moved less than 1/16 of them, up to this. */
const MAX_FULL_EVERY = 128;

/** Calls `visit` on the messages the shard holds, all (`full`) or those that came since the last pass; some may come twice. */
export type MessageWalk = (visit: (message: StoredMessage) => void, full: boolean) => void;

export class BlockArena {
  /** bytes of blocks copied in since the last pass, and since the last full one */
  private copiedIn = 0;
  private copiedSinceFull = 0;
  /** block bytes held at the last full pass */
  private liveAtFull = 0;
  private fullEvery = FULL_EVERY;
  /** passes made (full ones among them), and blocks they moved (for tests and stats) */
  passes = 0;
  fullPasses = 0;
  moved = 0;

  constructor(private readonly minPassBytes = MIN_PASS_BYTES) {}

  /** buf[start..end) as a block of its own (one allocation, where Buffer.from(buf.subarray()) makes two). */
  copy(buf: Uint8Array, start: number, end: number): Buffer {
    this.copiedIn += end - start;
    return ownCopy(buf, start, end);
  }

  /** Makes a pass if enough came in since the last; returns true if it did. */
  compactIfDue(walk: MessageWalk): boolean {
    if (this.copiedIn < this.minPassBytes) return false;
    this.copiedSinceFull += this.copiedIn;
    this.copiedIn = 0;
    const full = this.copiedSinceFull >= this.fullEvery * Math.max(this.minPassBytes, this.liveAtFull);
    const { live, moved } = this.compact(walk, full);
    if (full) {
      this.copiedSinceFull = 0;
      this.liveAtFull = live;
      this.fullEvery = 16 * moved < live ? Math.min(2 * this.fullEvery, MAX_FULL_EVERY) : FULL_EVERY;
    }
    return true;
  }

  /** Copies the blocks of buffers less than half used into new ones; returns the bytes walked and moved. */
  private compact(walk: MessageWalk, full: boolean): { live: number; moved: number } {
    // A queue's blocks mostly come in the order they were copied, so neighbours
    // share a buffer: the map is touched when the buffer changes, not per block.
    const used = new Map<ArrayBufferLike, number>();
    let live = 0;
    let buffer: ArrayBufferLike | null = null;
    let bytes = 0;
    walk((m) => {
      const b = m.block;
      live += b.length;
      if (b.buffer === buffer) {
        bytes += b.length;
        return;
      }
      if (buffer !== null) used.set(buffer, (used.get(buffer) ?? 0) + bytes);
      buffer = b.buffer;
      bytes = b.length;
    }, full);
    if (buffer !== null) used.set(buffer, (used.get(buffer) ?? 0) + bytes);

    let sparse = false;
    let moved = 0;
    buffer = null;
    walk((m) => {
      const b = m.block;
      if (b.buffer !== buffer) {
        buffer = b.buffer;
        const held = used.get(buffer);
        // (a block moved already, seen again through another queue, is in a buffer with no count)
        sparse = held !== undefined && 2 * held < buffer.byteLength;
      }
      if (!sparse) return;
      m.block = ownCopy(b, 0, b.length);
      moved += b.length;
      this.moved++;
    }, full);
    this.passes++;
    if (full) this.fullPasses++;
    return { live, moved };
  }
}

function ownCopy(buf: Uint8Array, start: number, end: number): Buffer {
  const block = Buffer.allocUnsafe(end - start);
  copyBytes(buf, start, end, block, 0);
  return block;
}
