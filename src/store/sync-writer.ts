/**
 * The shard's end of its sync worker (sync-worker.ts): commands go into a
 * SharedArrayBuffer ring, the worker writes a whole batch and fdatasyncs each
 * file once (group commit), then publishes how many commands are durable and
 * rings the shard's doorbell. The shard never waits for the disk: it reads
 * `durable` after waking and releases the confirms that became safe
 * (ConfirmGate).
 */
import { Worker } from 'node:worker_threads';
import { Ring } from '../shard/ring.js';
import { RingWriter } from '../shard/ring-writer.js';
import { SharedDoorbell } from '../shard/doorbell.js';
import { packControl } from '../shard/records.js';
import { alignPad, alignSlack, copyBytes } from '../protocol/copy-bytes.js';
import { SEGMENT_SIZE, type SegmentState } from './queue-store.js';
import type { StoreWriter } from './store-writer.js';
import * as C from './sync-commands.js';
import { writeU32LE } from '../protocol/uint32.js';
import { writeF64LE } from '../protocol/float64.js';

/**
 * Message bytes after which an append wakes the worker without waiting for the
 * shard's batch to end: the disk then writes the first of a publisher's
 * window while the shard still handles the rest (a window of 1,000 1 KiB
 * messages in one batch went to disk only when the whole had been handled).
 */
const EARLY_FLUSH_BYTES = 128 * 1024;

export interface SyncWorkerData {
  ring: SharedArrayBuffer;
  /** rung by the shard when it wrote commands; the worker sleeps on it */
  workerBell: SharedArrayBuffer;
  /** the shard's own doorbell: rung when `durable` moved or ring space freed */
  wake: SharedArrayBuffer;
  status: SharedArrayBuffer;
}

export class SyncWriter implements StoreWriter {
  written = 0;
  private readonly out: RingWriter;
  private readonly status: Int32Array;
  /** the status word's last value (it wraps at 2^32) and the count it stands for */
  private durableWord = 0;
  private durableCount = 0;
  /** message bytes appended since the worker was last woken */
  private unflushed = 0;

  /** Starts the worker. `wake` is the SharedArrayBuffer of the doorbell the calling thread sleeps on. */
  static start(wake: SharedArrayBuffer, ringBytes = 2 * (SEGMENT_SIZE + 1024 * 1024)): SyncWriter {
    const data: SyncWorkerData = {
      ring: Ring.allocate(ringBytes).sab,
      workerBell: new SharedArrayBuffer(8),
      wake,
      status: new SharedArrayBuffer(C.STATUS_BYTES),
    };
    return new SyncWriter(new Worker(new URL('./sync-worker.js', import.meta.url), { workerData: data }), data);
  }

  private constructor(
    private readonly worker: Worker,
    data: SyncWorkerData,
  ) {
    this.out = new RingWriter(new Ring(data.ring), new SharedDoorbell(data.workerBell));
    this.status = new Int32Array(data.status);
  }

  get durable(): number {
    const word = Atomics.load(this.status, C.STATUS_DURABLE);
    this.durableCount += (word - this.durableWord) | 0;
    this.durableWord = word;
    return this.durableCount;
  }

  get fsyncs(): number {
    return Atomics.load(this.status, C.STATUS_FSYNCS);
  }

  /** The queues' files after the last batch, rounded up to KiB. */
  get diskBytes(): number {
    return Atomics.load(this.status, C.STATUS_DISK_KIB) * 1024;
  }

  get failed(): boolean {
    return Atomics.load(this.status, C.STATUS_FAILED) !== 0;
  }

  /** The ring is full and commands wait in memory: the shard should hold back new publishes. */
  get backlogged(): boolean {
    return this.out.backlogged;
  }

  open(handle: number, dir: string, segments: SegmentState[] = [], segmentSize = SEGMENT_SIZE): number {
    const open: C.OpenCommand = { dir, segments, segmentSize };
    const body = packControl(open);
    const w = this.begin(C.OP_OPEN, handle, C.HANDLE_HEADER + body.length);
    body.copy(w.buf, w.offset + C.HANDLE_HEADER);
    return this.end();
  }

  append(handle: number, id: number, buf: Buffer, start: number, end: number, expiresAt = 0): number {
    const slack = alignSlack(end - start);
    const w = this.begin(C.OP_APPEND, handle, C.APPEND_HEADER + end - start + slack);
    const pad = alignPad(buf, start, w.buf, w.offset + C.APPEND_HEADER, slack);
    writeF64LE(w.buf, w.offset + C.HANDLE_HEADER, id);
    w.buf[w.offset + C.ID_HEADER] = pad;
    w.buf[w.offset + C.ID_HEADER + 1] = slack - pad;
    writeF64LE(w.buf, w.offset + C.ID_HEADER + 2, expiresAt);
    copyBytes(buf, start, end, w.buf, w.offset + C.APPEND_HEADER + pad);
    const written = this.end();
    this.unflushed += end - start;
    if (this.unflushed >= EARLY_FLUSH_BYTES) this.flush();
    return written;
  }

  ack(handle: number, id: number): number {
    return this.idCommand(C.OP_ACK, handle, id);
  }

  ackRange(handle: number, from: number, to: number): number {
    const w = this.begin(C.OP_ACK_RANGE, handle, C.RANGE_HEADER);
    writeF64LE(w.buf, w.offset + C.HANDLE_HEADER, from);
    writeF64LE(w.buf, w.offset + C.ID_HEADER, to);
    return this.end();
  }

  delivered(handle: number, id: number): number {
    return this.idCommand(C.OP_DELIVERED, handle, id);
  }

  dropFrom(handle: number, segment: number): number {
    return this.idCommand(C.OP_DROP_FROM, handle, segment);
  }

  close(handle: number): number {
    this.begin(C.OP_CLOSE, handle, C.HANDLE_HEADER);
    return this.end();
  }

  destroy(handle: number): number {
    this.begin(C.OP_DESTROY, handle, C.HANDLE_HEADER);
    return this.end();
  }

  /** Moves what overflowed into the ring and wakes the worker: once per shard batch, and within one as its appends add up. */
  flush(): void {
    this.unflushed = 0;
    this.out.drainOverflow();
    this.out.flush();
  }

  /**
   * Asks the worker to sync and close every queue and end; `durable` reaches
   * the returned number when it has. For a thread that cannot await (a shard).
   */
  requestStop(): number {
    this.out.begin(1);
    this.out.buf[this.out.offset] = C.OP_STOP;
    return this.end();
  }

  /** Syncs and closes every queue, then ends the worker. */
  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.requestStop();
    while (this.out.backlogged) {
      this.flush();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    this.flush();
    await exited;
  }

  private idCommand(op: number, handle: number, id: number): number {
    const w = this.begin(op, handle, C.ID_HEADER);
    writeF64LE(w.buf, w.offset + C.HANDLE_HEADER, id);
    return this.end();
  }

  private begin(op: number, handle: number, size: number): RingWriter {
    const w = this.out;
    w.begin(size);
    w.buf[w.offset] = op;
    writeU32LE(w.buf, w.offset + 1, handle);
    return w;
  }

  private end(): number {
    this.out.end();
    return ++this.written;
  }
}
