/**
 * Where a shard's message blocks live, and what keeps them from holding memory
 * they no longer use.
 *
 * A block is a view into a larger ArrayBuffer: Node's 8 KiB allocation pool,
 * which every Buffer.allocUnsafe or Buffer.from below 4 KiB carves (the copies
 * made here, blocks read back from disk, blocks rewritten for dead-lettering).
 * The whole buffer stays alive while any block in it does. Messages published side by side into
 * different queues share buffers, so a queue that keeps a few of them (a
 * dead-letter queue, one nobody reads) while the others are consumed keeps
 * their buffers too: 1 message in 100 kept held 8 KiB for each 30-byte block,
 * far beyond what the memory alarm counts.
 *
 * So once the blocks copied in since the last pass reach what was live then
 * (at least MIN_PASS_BYTES), a pass sums the bytes still held in each buffer
 * and copies the blocks of buffers less than half used into fresh ones, packed
 * together; the old buffers go with the garbage. Memory held by blocks stays
 * within about three times their bytes, plus MIN_PASS_BYTES; a pass costs a
 * visit per held message, paid for by at least as many bytes copied in.
 */
import { copyBytes } from '../protocol/copy-bytes.js';
import type { StoredMessage } from './queue.js';

/** Bytes copied in before a pass, at least: small backlogs are not walked often. */
export const MIN_PASS_BYTES = 16 * 1024 * 1024;

/** Calls `visit` on every message the shard holds (a message in several queues may come more than once). */
export type MessageWalk = (visit: (message: StoredMessage) => void) => void;

export class BlockArena {
  /** bytes of blocks copied in since the last pass */
  private copiedIn = 0;
  /** block bytes held at the last pass */
  private liveAtPass = 0;
  /** passes made, and blocks they moved (for tests and stats) */
  passes = 0;
  moved = 0;

  constructor(private readonly minPassBytes = MIN_PASS_BYTES) {}

  /** buf[start..end) as a block of its own (one allocation, where Buffer.from(buf.subarray()) makes two). */
  copy(buf: Uint8Array, start: number, end: number): Buffer {
    this.copiedIn += end - start;
    return ownCopy(buf, start, end);
  }

  /** Compacts if enough came in since the last pass; returns true if it did. */
  compactIfDue(walk: MessageWalk): boolean {
    if (this.copiedIn < Math.max(this.minPassBytes, this.liveAtPass)) return false;
    this.compact(walk);
    return true;
  }

  /** Copies the blocks of buffers less than half used into new ones. */
  compact(walk: MessageWalk): void {
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
    });
    if (buffer !== null) used.set(buffer, (used.get(buffer) ?? 0) + bytes);

    let sparse = false;
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
      this.moved++;
    });
    this.copiedIn = 0;
    this.liveAtPass = live;
    this.passes++;
  }
}

function ownCopy(buf: Uint8Array, start: number, end: number): Buffer {
  const block = Buffer.allocUnsafe(end - start);
  copyBytes(buf, start, end, block, 0);
  return block;
}
