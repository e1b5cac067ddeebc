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
 * calls count; a message in several queues counts once per entry).
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
import { alignSlack, copyBytes, viewOfBytes } from '../protocol/copy-bytes.js';
import type { StoredMessage } from './queue.js';

/** The least waste worth a pass. */
const MIN_PASS_BYTES = 16 * 1024 * 1024;
/** What the arena carves its blocks from; a block over half of it gets a buffer of its own. */
const SLAB_BYTES = 64 * 1024;

/** Calls `visit` on every message the shard holds in memory; a message in several queues comes once for each. */
export type MessageWalk = (visit: (message: StoredMessage) => void) => void;

/** A message of `block`, made elsewhere (`copy` makes those of published blocks). */
export function storedMessage(block: Buffer): StoredMessage {
  return { block, view: viewOfBuffer(block.buffer), at: block.byteOffset };
}

/** Views of the buffers that blocks made elsewhere lie in (Node's pool, as a rule), one per buffer. */
const bufferViews = new WeakMap<ArrayBufferLike, DataView>();

function viewOfBuffer(buffer: ArrayBufferLike): DataView {
  let view = bufferViews.get(buffer);
  if (view === undefined) bufferViews.set(buffer, (view = new DataView(buffer)));
  return view;
}

/** What the entries hold in one buffer. */
interface BufferUse {
  held: number;
  sparse: boolean;
}

export class BlockArena {
  /** weak: a count that an entry gone uncounted left behind must not keep its buffer alive */
  private uses = new WeakMap<DataView, BufferUse>();
  /** bytes the entries hold, in all buffers */
  private held = 0;
  /** the unused bytes of sparse buffers */
  private waste = 0;
  /**
   * Holds (+) and releases (-) not yet in `uses`, for the last few buffers
   * touched: those of the messages being copied in, delivered and acked. A
   * delivery's release as ready and hold as unacked cancel out here.
   */
  private buffer0: DataView | null = null;
  private buffer1: DataView | null = null;
  private buffer2: DataView | null = null;
  private bytes0 = 0;
  private bytes1 = 0;
  private bytes2 = 0;
  /** where copies are carved */
  private readonly copies = new Slabs();
  /** passes made, and blocks they moved (for tests and stats) */
  passes = 0;
  moved = 0;

  constructor(private readonly minPassBytes = MIN_PASS_BYTES) {}

  /** A message whose block is a copy of buf[start..end) in the arena's slabs (`view`: buf's, where the caller has one). */
  copy(buf: Uint8Array, view: DataView | null, start: number, end: number): StoredMessage {
    const copies = this.copies;
    const block = copies.copy(buf, view, start, end);
    return { block, view: copies.view, at: copies.at };
  }

  /** An entry holds `message` in memory from now on (1), or no more (-1). */
  count(message: StoredMessage, sign: 1 | -1): void {
    const buffer = message.view;
    const bytes = sign * message.block.length;
    if (buffer === this.buffer0) this.bytes0 += bytes;
    else if (buffer === this.buffer1) this.bytes1 += bytes;
    else if (buffer === this.buffer2) this.bytes2 += bytes;
    else this.replaceSlot(buffer, bytes);
  }

  /** Makes a pass if the waste warrants one. */
  compactIfDue(walk: MessageWalk): void {
    this.flushSlots();
    if (this.waste >= Math.max(this.minPassBytes, this.held / 4)) this.compact(walk);
  }

  /** Counts the oldest slot's pending bytes, and gives `buffer` a slot. */
  private replaceSlot(buffer: DataView, bytes: number): void {
    if (this.bytes2 !== 0) this.adjust(this.buffer2!, this.bytes2);
    this.buffer2 = this.buffer1;
    this.bytes2 = this.bytes1;
    this.buffer1 = this.buffer0;
    this.bytes1 = this.bytes0;
    this.buffer0 = buffer;
    this.bytes0 = bytes;
  }

  private flushSlots(): void {
    if (this.bytes0 !== 0) this.adjust(this.buffer0!, this.bytes0);
    if (this.bytes1 !== 0) this.adjust(this.buffer1!, this.bytes1);
    if (this.bytes2 !== 0) this.adjust(this.buffer2!, this.bytes2);
    this.bytes0 = this.bytes1 = this.bytes2 = 0;
  }

  private adjust(buffer: DataView, bytes: number): void {
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
    this.uses = new WeakMap();
    this.held = this.waste = 0;
    // A queue's blocks mostly come in the order they were copied, so neighbours
    // share a buffer: the maps are touched when the buffer changes, not per block.
    const packed = new Slabs();
    let seen: DataView | null = null;
    let sparse = false;
    walk((m) => {
      if (m.view !== seen) {
        seen = m.view;
        // (a block moved already, seen again through another queue, is in a buffer `before` lacks)
        sparse = before.get(seen)?.sparse === true;
      }
      if (sparse) {
        m.block = packed.copy(m.block, null, 0, m.block.length);
        m.view = packed.view;
        m.at = packed.at;
        this.moved++;
      }
      this.count(m, 1);
    });
    this.flushSlots();
    this.passes++;
  }
}

/** Blocks carved one after another out of slabs that nothing else shares. */
class Slabs {
  private slab: Buffer = Buffer.alloc(0);
  /** slab.buffer, kept: the accessor is a call into V8 */
  private slabMemory = this.slab.buffer as ArrayBuffer;
  private slabView = viewOfBytes(this.slab);
  private offset = 0;
  /** the buffer of the last block taken, as bytes and as a view, and where the block starts in it */
  bytes = this.slab;
  view = this.slabView;
  at = 0;

  /** A copy of src[start..end) (srcView: src's, or null), placed to agree with it mod 8 (alignPad: src is a ring, as a rule). */
  copy(src: Uint8Array, srcView: DataView | null, start: number, end: number): Buffer {
    const size = end - start;
    const block = this.take(size, alignSlack(size) === 0 ? -1 : ((srcView !== null ? srcView.byteOffset : src.byteOffset) + start) & 7);
    copyBytes(src, start, end, this.bytes, this.at, srcView, srcView !== null ? this.view : null);
    return block;
  }

  /** `size` bytes, not zeroed, at an address `mod` mod 8 (-1: anywhere). */
  private take(size: number, mod: number): Buffer {
    // Slabs and buffers of their own begin at multiples of 8.
    if (size > SLAB_BYTES / 2) {
      const pad = mod < 0 ? 0 : mod;
      const own = Buffer.allocUnsafeSlow(size + pad);
      this.bytes = own;
      this.view = viewOfBytes(own);
      this.at = pad;
      return pad === 0 ? own : own.subarray(pad);
    }
    let pad = mod < 0 ? 0 : (mod - this.offset) & 7;
    if (pad + size > this.slab.length - this.offset) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.slabMemory = this.slab.buffer as ArrayBuffer;
      this.slabView = viewOfBytes(this.slab);
      this.offset = 0;
      pad = mod < 0 ? 0 : mod;
    }
    this.bytes = this.slab;
    this.view = this.slabView;
    this.at = this.offset + pad;
    const block = Buffer.from(this.slabMemory, this.offset + pad, size);
    this.offset += pad + size;
    return block;
  }
}
