/**
 * Where a shard's message blocks live, and what keeps them from holding memory
 * they no longer use.
 *
 * A block is a view into a larger ArrayBuffer: one of the arena's 64 KiB
 * slabs, which it carves the blocks it copies from, one after another, or
 * Node's 8 KiB pool, which every Buffer.from below 4 KiB carves (blocks read
 * back from disk or rewritten for dead-lettering, among the thread's other
 * small buffers). The whole buffer stays alive while any block in it does.
 * Messages published side by side into different queues share buffers, so a
 * queue that keeps a few of them (a dead-letter queue, one nobody reads) while
 * the others are consumed keeps their buffers too: 1 message in 100 kept held
 * 8 KiB for each 30-byte block, far beyond what the memory alarm counts.
 *
 * So the arena counts, for each buffer, the bytes that queue entries hold in
 * it: an entry counts while it is in memory, ready or unacked (ShardQueue
 * calls hold and release; a message in several queues counts once per entry).
 * A buffer less than half used is sparse, and its unused part is waste that
 * only copying its blocks out can free. Once the waste reaches a quarter of
 * the bytes held (and at least MIN_PASS_BYTES), a pass walks every message
 * held, copies the blocks of sparse buffers into fresh slabs, packed together
 * (slabs shared with nothing else, so a copy does not land among garbage), and
 * counts again from what it walked; the old buffers go with the garbage.
 * A pass costs a walk of what is held and frees at least a quarter of it, so
 * it comes only as often as waste is made: a consumer that lags far behind
 * delays no pass (its releases count when they come), and a large backlog
 * beside traffic that is all consumed is never walked.
 *
 * Holds and releases come in a few streams, each through one buffer after
 * another (blocks are copied in, delivered and acked in order): the arena keeps
 * pending bytes for the last few buffers, and touches its map when a stream
 * moves to the next buffer.
 */
import { copyBytes } from '../protocol/copy-bytes.js';
import type { StoredMessage } from './queue.js';

/** The least waste worth a pass. */
export const MIN_PASS_BYTES = 16 * 1024 * 1024;
/** What the arena carves its blocks from; a block over half of it gets a buffer of its own. */
const SLAB_BYTES = 64 * 1024;

/** Calls `visit` on every message the shard holds in memory; a message in several queues comes once for each. */
export type MessageWalk = (visit: (message: StoredMessage) => void) => void;

/** What the entries hold in one buffer. */
interface BufferUse {
  held: number;
  sparse: boolean;
}

export class BlockArena {
  private uses = new Map<ArrayBufferLike, BufferUse>();
  /** bytes the entries hold, in all buffers */
  private held = 0;
  /** the unused bytes of sparse buffers */
  private waste = 0;
  /**
   * Holds (+) and releases (-) not yet in `uses`, for the last few buffers
   * touched: those of the messages being copied in, delivered and acked. A
   * delivery's release as ready and hold as unacked cancel out here.
   */
  private readonly pendingBuffers: (ArrayBufferLike | null)[] = [null, null, null];
  private readonly pendingBytes = [0, 0, 0];
  private nextFlushed = 0;
  /** where copies are carved */
  private readonly copies = new Slabs();
  /** passes made, and blocks they moved (for tests and stats) */
  passes = 0;
  moved = 0;

  constructor(private readonly minPassBytes = MIN_PASS_BYTES) {}

  /** buf[start..end) as a block of the arena's. */
  copy(buf: Uint8Array, start: number, end: number): Buffer {
    const block = this.copies.take(end - start);
    copyBytes(buf, start, end, block, 0);
    return block;
  }

  /** An entry holds `block` in memory from now on (1), or no more (-1). */
  count(block: Buffer, sign: 1 | -1): void {
    const buffer = block.buffer;
    const buffers = this.pendingBuffers;
    let i = buffers[0] === buffer ? 0 : buffers[1] === buffer ? 1 : buffers[2] === buffer ? 2 : -1;
    if (i < 0) {
      i = this.nextFlushed;
      this.nextFlushed = (i + 1) % buffers.length;
      this.flush(i);
      buffers[i] = buffer;
    }
    this.pendingBytes[i] += sign * block.length;
  }

  /** Makes a pass if the waste warrants one. */
  compactIfDue(walk: MessageWalk): void {
    for (let i = 0; i < this.pendingBuffers.length; i++) this.flush(i);
    if (this.waste >= Math.max(this.minPassBytes, this.held / 4)) this.compact(walk);
  }

  private flush(i: number): void {
    if (this.pendingBytes[i] !== 0) this.adjust(this.pendingBuffers[i]!, this.pendingBytes[i]);
    this.pendingBytes[i] = 0;
  }

  private adjust(buffer: ArrayBufferLike, bytes: number): void {
    let use = this.uses.get(buffer);
    if (use === undefined) {
      // (a release it never counted held: nothing to take from)
      if (bytes < 0) return;
      use = { held: 0, sparse: false };
      this.uses.set(buffer, use);
    }
    if (use.sparse) this.waste -= buffer.byteLength - use.held;
    const held = Math.max(0, use.held + bytes);
    this.held += held - use.held;
    use.held = held;
    use.sparse = held > 0 && 2 * held < buffer.byteLength;
    if (use.sparse) this.waste += buffer.byteLength - held;
    if (held === 0) this.uses.delete(buffer);
  }

  /** Copies the blocks of sparse buffers into new ones, and counts every buffer again from the walk. */
  private compact(walk: MessageWalk): void {
    const before = this.uses;
    this.uses = new Map();
    this.held = this.waste = 0;
    // A queue's blocks mostly come in the order they were copied, so neighbours
    // share a buffer: the maps are touched when the buffer changes, not per block.
    const packed = new Slabs();
    let seen: ArrayBufferLike | null = null;
    let sparse = false;
    walk((m) => {
      let b = m.block;
      if (b.buffer !== seen) {
        seen = b.buffer;
        // (a block moved already, seen again through another queue, is in a buffer `before` lacks)
        sparse = before.get(seen)?.sparse === true;
      }
      if (sparse) {
        const block = packed.take(b.length);
        copyBytes(b, 0, b.length, block, 0);
        b = m.block = block;
        this.moved++;
      }
      this.count(b, 1);
    });
    for (let i = 0; i < this.pendingBuffers.length; i++) this.flush(i);
    this.passes++;
  }
}

/** Blocks carved one after another out of slabs that nothing else shares. */
class Slabs {
  private slab: ArrayBuffer = new ArrayBuffer(0);
  private offset = 0;

  /** `size` bytes, not zeroed. */
  take(size: number): Buffer {
    if (size > SLAB_BYTES / 2) return Buffer.allocUnsafeSlow(size);
    if (size > this.slab.byteLength - this.offset) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES).buffer as ArrayBuffer;
      this.offset = 0;
    }
    const block = Buffer.from(this.slab, this.offset, size);
    this.offset += size;
    return block;
  }
}
