import v8 from 'node:v8';
import { Ring } from './ring.js';
import { RingWriter } from './ring-writer.js';
import type { Doorbell } from './doorbell.js';
import type { StoreWriter } from '../store/store-writer.js';
import { Shard } from './shard.js';
import type { ChannelLimits } from './channel-limits.js';
import type { BlockHandoff } from './block-handoff.js';
import { ENTRY_OVERHEAD } from './queue.js';
import * as R from './records.js';
import { PIECE, PieceAssembler } from './pieces.js';
import { writeU32LE } from '../protocol/uint32.js';
import { writeF64LE } from '../protocol/float64.js';

/** Records handled per turn before yielding, so a flood cannot starve deliveries. */
const BATCH = 4096;
/**
 * The share of this thread's V8 heap limit that the messages it holds, ready
 * or unacked, may take before the shard raises its memory alarm (cleared 10%
 * below). Not more: the limit
 * includes the young generation, inline the acceptor shares the heap, and a
 * growing deque copies its slots (0.6 ran out of a 128 MiB heap inline).
 */
const HEAP_ALARM_FRACTION = 0.5;
/**
 * Heap bytes the entries in memory (ready or unacked) may take before the
 * alarm: the share of the heap limit, less what still comes in once the
 * publishers are paused: a
 * full publish window, and what each connection's last read held (allowed
 * as much again). A 128 MiB heap ran out without it.
 */
export function defaultHeapBudget(): number {
  const budget = v8.getHeapStatistics().heap_size_limit * HEAP_ALARM_FRACTION;
  return Math.max(budget - 2 * R.PUBLISH_WINDOW * ENTRY_OVERHEAD, budget / 4);
}

/** The acceptor hears of the shard's message bytes when they moved this much. */
const MEMORY_REPORT_STEP = 1024 * 1024;

/**
 * Drives a Shard from its input ring: handle a batch of records, deliver, tell
 * the acceptor which queues became congested and what the messages cost, wake
 * the acceptor. The same runner serves a worker thread (shard-worker.ts, which
 * blocks between batches) and --workers 0 (a Pump in the acceptor's loop).
 */
export class ShardRunner {
  private readonly input: Ring;
  private readonly output: RingWriter;
  private readonly shard: Shard;
  private readonly pieces = new PieceAssembler();
  private heapAlarm = false;
  private storeFailed = false;
  private reportedBytes = 0;

  constructor(
    input: Ring,
    output: Ring,
    private readonly acceptorBell: Doorbell,
    /** heap bytes the entries in memory, ready or unacked, may take (ENTRY_OVERHEAD each) before the alarm */
    private readonly heapBudget = defaultHeapBudget(),
    /** starts the durable queues' store (default: an InlineSyncWriter, I/O in this thread) */
    openStore?: () => StoreWriter,
    /** the channels' global prefetch limits, shared with the acceptor */
    limits?: ChannelLimits,
    /** inline: the acceptor takes delivered blocks from here by reference */
    handoff?: BlockHandoff,
  ) {
    this.input = input;
    this.output = new RingWriter(output, acceptorBell);
    this.shard = new Shard(this.output, openStore, undefined, limits, handoff);
  }

  /**
   * One batch; returns true if it made progress (call again before sleeping).
   * Also runs when only the store's fsync woke the shard: its confirms go out.
   */
  work(): boolean {
    let progress = this.output.drainOverflow();
    let handled = 0;
    const input = this.input;
    const shard = this.shard;
    shard.advance(Date.now());
    while (handled < BATCH) {
      const at = input.peek();
      if (at < 0) break;
      const type = input.data[at];
      if (type === R.A2S_PUBLISH) {
        // While the store is backlogged, publishes wait in the ring (and so do their publishers).
        if (shard.holdPublishes) break;
        input.take(R.clientEntries(input.data, at));
      }
      if (type !== PIECE) shard.handle(input.data, at, at + input.recordSize, input.view);
      else if (!this.takePiece(at)) break;
      input.consume();
      handled++;
    }
    if (handled > 0) {
      progress = true;
      input.release();
      if (input.producerBlocked) this.acceptorBell.ring();
    }
    if (shard.deliver()) progress = true;
    if (shard.settleLifecycles(Date.now())) progress = true;
    if (handled > 0) shard.compactBlocks();
    // After the deliveries, so that their delivery marks go in the same group commit.
    shard.flushConfirms();
    this.reportFlow();
    this.reportMemory();
    this.output.flush();
    return progress;
  }

  /** A piece of a large record; false when it must wait (a publish while publishes are held). */
  private takePiece(at: number): boolean {
    const input = this.input;
    if (this.shard.holdPublishes && this.pieces.typeOf(input.data, at) === R.A2S_PUBLISH) return false;
    const whole = this.pieces.take(input.data, at, at + input.recordSize);
    if (whole !== null) {
      input.take(R.clientEntries(whole, 0));
      this.shard.handleOwned(whole);
    }
    return true;
  }

  /** What its messages in memory cost in this thread's V8 heap (inline, the acceptor's heap too). */
  get heapBytes(): number {
    return this.shard.heapBytes;
  }

  /** When work() must run next even if no record comes (ms since the epoch); Infinity: never. */
  nextDeadline(): number {
    return this.shard.nextDeadline();
  }

  /** A QUEUE_FLOW record for each queue whose congestion changed. */
  private reportFlow(): void {
    const changed = this.shard.backlog.flowChanged;
    if (changed.size === 0) return;
    for (const queue of changed) {
      const w = this.output;
      w.begin(R.QUEUE_FLOW_SIZE);
      w.buf[w.offset] = R.S2A_QUEUE_FLOW;
      w.buf[w.offset + 1] = queue.congested ? 1 : 0;
      writeU32LE(w.buf, w.offset + 2, queue.id);
      w.end();
    }
    changed.clear();
  }

  /** A MEMORY record when the heap alarm flips, the store fails or the message bytes moved by a step. */
  private reportMemory(): void {
    const { heldBytes: bytes, heapBytes: heap } = this.shard;
    const alarm = this.heapAlarm ? heap > this.heapBudget * 0.9 : heap > this.heapBudget;
    const storeFailed = this.shard.diskFailed;
    const moved = Math.abs(bytes - this.reportedBytes);
    if (alarm === this.heapAlarm && storeFailed === this.storeFailed && moved < MEMORY_REPORT_STEP && (bytes !== 0 || this.reportedBytes === 0)) return;
    this.heapAlarm = alarm;
    this.storeFailed = storeFailed;
    this.reportedBytes = bytes;
    const w = this.output;
    w.begin(R.MEMORY_SIZE);
    w.buf[w.offset] = R.S2A_MEMORY;
    w.buf[w.offset + 1] = (alarm ? R.MEMORY_HEAP_ALARM : 0) | (storeFailed ? R.MEMORY_STORE_FAILED : 0);
    writeF64LE(w.buf, w.offset + 2, bytes);
    w.end();
  }
}
