/**
 * The acceptor's end of one shard: the ring pair, the worker (or the inline
 * runner for --workers 0), control requests awaiting replies, and the pump that
 * reads the shard's records and hands them to the broker.
 */
import { Worker } from 'node:worker_threads';
import type { ViewHolder } from '../protocol/copy-bytes.js';
import { Ring } from '../shard/ring.js';
import { RingWriter } from '../shard/ring-writer.js';
import { LocalDoorbell, Pump, SharedDoorbell, type Doorbell } from '../shard/doorbell.js';
import { ShardRunner } from '../shard/shard-runner.js';
import type { ChannelLimits } from '../shard/channel-limits.js';
import { SyncWriter } from '../store/sync-writer.js';
import { log } from '../log/logger.js';
import { receiveLogLine } from '../log/worker-log.js';
import type { ShardControl } from '../shard/shard.js';
import type { QueueConfig } from '../vhost/queue-arguments.js';
import type { ShardWorkerData } from '../shard/shard-worker.js';
import * as R from '../shard/records.js';
import { PIECE, PieceAssembler } from '../shard/pieces.js';
import { BlockHandoff } from '../shard/block-handoff.js';
import type { StoredMessage } from '../shard/queue.js';
import { CREDIT_WINDOW } from '../shard/queue.js';
import { PAUSE_RING, type Connection } from './connection.js';
import { DirectLeases } from './direct-leases.js';
import type { ConsumerRef } from './consumer-registry.js';
import { readU32LE, writeU32LE } from '../protocol/uint32.js';
import { readF64LE, writeF64LE } from '../protocol/float64.js';

export interface GetResult {
  redelivered: boolean;
  queueId: number;
  msgId: number;
  messageCount: number;
  /** the message block (copied out of the ring) */
  block: Buffer;
}

/** What the broker does with the records a shard sends. */
export interface ShardEvents {
  /** The DELIVER record at buf[at..], whose block begins at block[blockAt] (the record's buffer, or a message's by reference). */
  onDeliver(link: ShardLink, buf: Buffer, at: number, block: Buffer, blockAt: number): void;
  /** The consumer with this id, if it is still subscribed (a LEASE record names one). */
  consumer(id: number): ConsumerRef | undefined;
  onImmediate(channelRef: number, publishId: number, delivered: boolean, buf: Buffer, blockAt: number): void;
  /** The shard's next `stored` confirm-mode publishes from the channel are safe, then `refused` were refused. */
  onConfirm(link: ShardLink, channelRef: number, stored: number, refused: number): void;
  /** A dead message (a DEAD_LETTER record's block at buf[blockAt..end)) from queue `queueId`, to route. */
  onDeadLetter(queueId: number, buf: Buffer, blockAt: number, end: number): void;
  /** Queue `queueId` was unused for its x-expires: delete it. */
  onQueueExpired(queueId: number): void;
  /** The shard's heap alarm went on or off. */
  onShardMemory(): void;
  /** Called after each batch of records, so output can be flushed once. */
  onBatchEnd(): void;
  /** Handling a DELIVER or IMMEDIATE record threw: fail its connection; false when it has none. */
  onRecordFailed(link: ShardLink, buf: Buffer, at: number, err: unknown): boolean;
  /** The shard is gone (its worker exited or errored, the inline shard threw); `reason` is one line. */
  onShardStopped(link: ShardLink, reason: string): void;
}

interface PendingRequest {
  resolve(value: any): void;
  reject(err: Error): void;
}

/** Records handled per turn before yielding to sockets. */
const BATCH = 4096;
/** How long a shard may take at shutdown to write what its store still holds. */
const STOP_WAIT_MS = 10_000;
/** Within a batch, deliveries between CREDIT records (a quarter of CREDIT_WINDOW). */
const CREDIT_EVERY = CREDIT_WINDOW / 4;
/** The longest delay setTimeout takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Delivered bytes after which a CREDIT record rings the shard even if no
 * consumer reached CREDIT_EVERY: the shard keeps each delivery (a no-ack one
 * too) until credited, so this bounds what a quiet shard holds of large messages.
 */
const CREDIT_BYTES = 1024 * 1024;
/**
 * Quiet PUBLISH and SETTLE records (of leased queues, see endPublish and
 * writeSettle) after which one rings the shard anyway: what the shard has not
 * taken of them is ring space, and memory of messages it holds.
 */
const QUIET_BYTES = 256 * 1024;

export class ShardLink implements ViewHolder {
  readonly writer: RingWriter;
  /** bytes of records written quietly since the last loud one (see endRecord) */
  private quietBytes = 0;
  /** the shard's queues this thread delivers to itself (see direct-leases.ts) */
  readonly leases: DirectLeases;
  /** in the broker's list of links whose writer rings the shard at the end of the batch */
  queuedForFlush = false;
  private readonly input: Ring;
  private readonly shardBell: Doorbell;
  private readonly pump: Pump;
  /** the shard's thread (null inline); public so supervision tests can end it */
  readonly worker: Worker | null = null;
  /** --workers 0: the shard runner in this thread (public for supervision tests) and its pump */
  readonly runner: ShardRunner | null = null;
  private readonly shardPump: Pump | null = null;
  /** --workers 0: the blocks the shard delivers by reference */
  private readonly handoff: BlockHandoff | null = null;
  /** the buffer of the last block taken by reference, as bytes and as a view (see referencedBlock) */
  private referencedBytes: Buffer | null = null;
  private referencedView: DataView | null = null;
  /** deliveries whose block came by reference (for tests) */
  deliveredByReference = 0;
  private readonly pending = new Map<number, PendingRequest>();
  /** a large record from the shard, arriving in pieces */
  private readonly pieces = new PieceAssembler();
  private nextRequest = 1;
  /** Set once the link is closed or abandoned: requests fail with it, a worker's exit is expected. */
  private ended: Error | null = null;
  /** whenHandled's callbacks, for a fence request at the next flush */
  private readonly handledWaiters: (() => void)[] = [];
  /** Deliveries taken per consumer id since the last CREDIT record. */
  private readonly credits = new Map<number, number>();
  /** Per consumer id, deliveries credited since the shard's bell last rang (see writeCredits). */
  private readonly unrungCredits = new Map<number, number>();
  /** writer.rings when unrungCredits was last emptied. */
  private ringsSeen = 0;
  /** Bytes of DELIVER records read since a CREDIT record last rang the shard (see CREDIT_BYTES). */
  private unrungBytes = 0;
  /** Settlements not yet written, (queueId, msgId) flat, all with settleAction (see settle). */
  private readonly settleEntries: number[] = [];
  private settleAction = 0;
  /** Publishers paused while this shard's input ring overflows or the publish window is full. */
  private readonly ringStalled = new Set<Connection>();
  /** Queue entries of clients' publishes written (modulo 2^32), against the ring's TAKEN: see PUBLISH_WINDOW. */
  private entriesSent = 0;
  /** the ring's TAKEN as last loaded: stale, it errs on the side of more in flight */
  private takenSeen = 0;
  /** Congested queues of this shard, by id, and the publishers paused on each. */
  private readonly congestedQueues = new Map<number, Set<Connection>>();
  /** --workers 0: the one timer that wakes the inline shard at its next deadline (a message or queue expiring) */
  private deadlineTimer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  /** What the shard's ready messages cost, as it last reported (MEMORY records). */
  queuedBytes = 0;
  /** The shard's ready messages are filling its V8 heap. */
  heapAlarm = false;
  /** the shard's store failed: its persistent messages are no longer written */
  storeFailed = false;

  constructor(
    readonly index: number,
    inline: boolean,
    ringBytes: number,
    private readonly events: ShardEvents,
    limits: ChannelLimits,
  ) {
    const toShard = Ring.allocate(ringBytes);
    const fromShard = Ring.allocate(ringBytes);
    this.input = fromShard;
    let acceptorBell: Doorbell;
    if (inline) {
      const shardBell = new LocalDoorbell();
      acceptorBell = new LocalDoorbell();
      this.shardBell = shardBell;
      // The store's I/O runs in its own thread here too; its fsyncs wake this pump through a relay.
      const openStore = () => {
        const storeBell = new SharedDoorbell();
        relay(storeBell, shardBell);
        return SyncWriter.start(storeBell.words.buffer as SharedArrayBuffer);
      };
      // As many bytes by reference as the ring would hold of them.
      this.handoff = new BlockHandoff(ringBytes);
      const runner = new ShardRunner(toShard, fromShard, acceptorBell, undefined, openStore, limits, this.handoff);
      this.runner = runner;
      const work = (): boolean => {
        const progress = runner.work();
        this.armDeadline(runner.nextDeadline(), shardBell);
        return progress;
      };
      this.shardPump = new Pump(shardBell, work, () => !toShard.isEmpty(), (err) => this.stopped(`it threw ${describe(err)}`));
      this.shardPump.start();
    } else {
      const shardBell = new SharedDoorbell();
      const sharedBell = new SharedDoorbell();
      acceptorBell = sharedBell;
      this.shardBell = shardBell;
      const workerData: ShardWorkerData = {
        input: toShard.sab,
        output: fromShard.sab,
        shardBell: shardBell.words.buffer as SharedArrayBuffer,
        acceptorBell: sharedBell.words.buffer as SharedArrayBuffer,
        limits: limits.sab,
      };
      this.worker = new Worker(new URL('../shard/shard-worker.js', import.meta.url), { workerData });
      // 'error' (an uncaught exception) is followed by 'exit'; the broker acts on the first.
      this.worker.on('error', (err) => this.stopped(`its worker threw ${describe(err)}`));
      this.worker.on('exit', (code) => this.stopped(`its worker exited with code ${code}`));
      this.worker.on('message', (message) => receiveLogLine(log, message));
    }
    // Only a fault in this loop itself gets here: a record's own error fails its connection (work()).
    this.pump = new Pump(acceptorBell, () => this.work(), () => !fromShard.isEmpty(), (err) => this.stopped(`reading its records threw ${describe(err)}`));
    this.writer = new RingWriter(toShard, this.shardBell);
    this.leases = new DirectLeases(this.writer);
    this.pump.start();
  }

  /**
   * After `conn` published into `queueIds`: it waits while the ring overflows,
   * or while one of those queues is congested, unless it consumes from that
   * queue (its acks are what drain it). Publishing into other queues goes on.
   */
  afterPublish(conn: Connection, queueIds: readonly number[]): void {
    this.entriesSent = (this.entriesSent + queueIds.length) | 0;
    if ((this.writer.backlogged || this.windowFull()) && !this.ringStalled.has(conn)) {
      this.ringStalled.add(conn);
      conn.pause(PAUSE_RING);
    }
    if (this.congestedQueues.size === 0) return;
    for (let i = 0; i < queueIds.length; i++) {
      const stalled = this.congestedQueues.get(queueIds[i]);
      if (stalled === undefined || stalled.has(conn) || conn.consumesFrom(queueIds[i])) continue;
      stalled.add(conn);
      conn.stallOnQueue();
    }
  }

  /**
   * Begins a PUBLISH record into `queueIds` (end it with endPublish): a lease
   * on one of them is given back first, unless the message was delivered
   * under it (its `msgIds` entry not 0).
   */
  beginPublish(queueIds: readonly number[], size: number, msgIds?: readonly number[]): void {
    if (this.leases.size > 0) for (let i = 0; i < queueIds.length; i++) if (msgIds === undefined || msgIds[i] === 0) this.leases.end(queueIds[i]);
    this.writer.begin(size);
  }

  /**
   * Ends the PUBLISH record. `quietSize`: its size, when the shard need not act
   * on it now (every target was delivered under a lease, with nothing to
   * confirm or store): it then rides along with the next record that wakes the
   * shard, up to QUIET_BYTES at a time.
   */
  endPublish(quietSize = 0): void {
    this.endRecord(quietSize);
    this.leases.fenced(0);
  }

  /** Ends a record, quietly when `quietSize` is not 0 and the quiet records since the last loud one stay within QUIET_BYTES. */
  private endRecord(quietSize: number): void {
    if (quietSize > 0 && this.quietBytes + quietSize <= QUIET_BYTES) {
      this.quietBytes += quietSize;
      this.writer.endQuietly();
    } else {
      this.quietBytes = 0;
      this.writer.end();
    }
  }

  /** Writes what waits (the lease deliveries' counts) and rings the shard if anything woke-worthy was written. */
  flush(): void {
    this.leases.writeCounts();
    if (this.handledWaiters.length > 0) {
      const waiters = this.handledWaiters.splice(0);
      const run = () => {
        for (const fn of waiters) fn();
      };
      this.request({ op: 'fence' }).then(run, run);
    }
    this.writer.flush();
  }

  /** Runs `fn` once the shard has handled every record written before this link's next flush (or is gone). */
  whenHandled(fn: () => void): void {
    this.handledWaiters.push(fn);
  }

  /** A queue cleared or was deleted: its publishers go on. */
  queueCleared(queueId: number): void {
    const stalled = this.congestedQueues.get(queueId);
    if (stalled === undefined) return;
    this.congestedQueues.delete(queueId);
    for (const conn of stalled) conn.queueCleared();
  }

  /** A large record from the shard whose pieces are still arriving. */
  get assemblingBytes(): number {
    return this.pieces.heldBytes;
  }

  /** What an inline shard's messages cost in this thread's V8 heap (a worker's are in its own). */
  get heapBytes(): number {
    return this.runner === null ? 0 : this.runner.heapBytes;
  }

  /** Both rings' data areas. */
  get ringBytes(): number {
    return this.writer.ring.capacity + this.input.capacity;
  }

  /** A control operation whose reply the caller awaits. */
  request(control: ShardControl): Promise<any> {
    if (this.ended !== null) return Promise.reject(this.ended);
    const id = this.nextRequest++;
    const reply = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.writeControl(id, control);
    return reply;
  }

  /** A control operation with no reply. */
  send(control: ShardControl): void {
    this.writeControl(0, control);
  }

  /**
   * A queue's policy changed. Its new settings may rule out a lease (a limit, a
   * TTL): one held ends first, and one the shard offered before it read this is stale.
   */
  configure(queueId: number, config: QueueConfig): void {
    this.leases.end(queueId);
    this.send({ op: 'configure', queueId, config });
    this.leases.fenced(0);
  }

  /**
   * Settles (queueId, msgId) pairs laid out flat in `entries`. Settlements with
   * the same action are gathered into one SETTLE record, written before the
   * next other record or ring of the bell: a socket read with many ack frames
   * costs the shard one record, not one per frame.
   */
  settle(action: number, entries: number[]): void {
    if (entries.length === 0) return;
    // A requeue refills its queues: their leases end before it.
    if (action === R.SETTLE_REQUEUE && this.leases.size > 0) for (let i = 0; i < entries.length; i += 2) this.leases.end(entries[i]);
    if (this.settleEntries.length > 0 && action !== this.settleAction) this.writer.writeGathered();
    this.settleAction = action;
    for (let i = 0; i < entries.length; i++) this.settleEntries.push(entries[i]);
    // Acked or dropped under a lease: room for the lease's next deliveries.
    if (action !== R.SETTLE_REQUEUE && this.leases.size > 0) for (let i = 0; i < entries.length; i += 2) this.leases.settled(entries[i], entries[i + 1]);
    this.writer.gathering = this.writeSettle;
    if (action === R.SETTLE_REQUEUE) this.leases.fenced(1);
  }

  /** The gathered settlements as one SETTLE record. */
  private readonly writeSettle = (): void => {
    const entries = this.settleEntries;
    const count = entries.length >>> 1;
    const w = this.writer;
    const size = R.SETTLE_HEADER + count * R.SETTLE_ENTRY;
    w.begin(size);
    const { buf } = w;
    let p = w.offset;
    buf[p] = R.A2S_SETTLE;
    buf[p + 1] = this.settleAction;
    writeU32LE(buf, p + 2, count);
    p += R.SETTLE_HEADER;
    for (let i = 0; i < entries.length; i += 2, p += R.SETTLE_ENTRY) {
      writeU32LE(buf, p, entries[i]);
      writeF64LE(buf, p + 4, entries[i + 1]);
    }
    // Acks of leased queues only: nothing waits on the shard for them (it delivers
    // nothing there), so they ride along with what wakes it next.
    const quiet = this.settleAction !== R.SETTLE_REQUEUE && this.leases.size > 0 && this.leases.holdsAll(entries);
    this.endRecord(quiet ? size : 0);
    entries.length = 0;
  };

  /**
   * A delivery for this consumer is in its connection's output (or held by its
   * channel): it no longer counts against the consumer's in-flight window.
   */
  credit(consumerId: number): void {
    this.credits.set(consumerId, (this.credits.get(consumerId) ?? 0) + 1);
  }

  /**
   * Written within and at the end of each batch of shard records, so before
   * anything else can reach the ring (a cancel comes from a socket event): a
   * cancel in the shard takes back exactly the deliveries the acceptor did not take.
   */
  private writeCredits(): void {
    if (this.credits.size === 0) return;
    // Waking the shard for every small CREDIT doubled its wake-ups (and this
    // thread's futex calls) per delivery batch. It needs the bell only when a
    // consumer's window is full: then all CREDIT_WINDOW of that consumer's
    // deliveries are credited after the shard last looked, which passes
    // CREDIT_EVERY for it and rings. Smaller credits ride along with whatever
    // rings next (a publish, a settle, a control record), unless the deliveries
    // were large (CREDIT_BYTES).
    if (this.writer.rings !== this.ringsSeen) {
      this.unrungCredits.clear(); // the shard was woken since: it reads what came before
      this.ringsSeen = this.writer.rings;
    }
    let wake = false;
    for (const [consumerId, written] of this.credits) {
      const unrung = (this.unrungCredits.get(consumerId) ?? 0) + written;
      if (unrung >= CREDIT_EVERY) wake = true;
      this.unrungCredits.set(consumerId, unrung);
    }
    R.beginCounts(this.writer, R.A2S_CREDIT, this.credits);
    this.credits.clear();
    if (!wake && this.unrungBytes < CREDIT_BYTES) return this.writer.endQuietly();
    this.unrungBytes = 0;
    this.writer.end();
  }

  /**
   * Ends the shard, once its store synced and closed its queues' files (at
   * most STOP_WAIT_MS); requests still awaiting it fail with `reason`.
   */
  async close(reason: Error): Promise<void> {
    if (this.ended === null) {
      let timer!: NodeJS.Timeout;
      const timeout = new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)));
      await Promise.race([this.request({ op: 'stop' }).catch(() => {}), timeout]);
      clearTimeout(timer);
    }
    this.abandon(reason);
    await this.worker?.terminate();
  }

  /**
   * Keeps the inline shard's timer at its earliest deadline. A later deadline
   * leaves an earlier timer armed: it wakes the shard, which re-arms.
   */
  private armDeadline(at: number, bell: Doorbell): void {
    if (at >= this.timerAt || this.ended !== null) return;
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.timerAt = at;
    // setTimeout fires at once past 2^31 - 1 ms: wake then and re-arm
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS);
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = null;
      this.timerAt = Infinity;
      bell.ring();
    }, delay);
    this.deadlineTimer.unref();
  }

  /** Stops reading the shard and fails every request awaiting it (and any later one) with `error`. */
  abandon(error: Error): void {
    this.ended ??= error;
    this.pump.stop();
    this.shardPump?.stop();
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    for (const request of this.pending.values()) request.reject(this.ended);
    this.pending.clear();
  }

  private stopped(reason: string): void {
    if (this.ended === null) this.events.onShardStopped(this, reason);
  }

  /** More than PUBLISH_WINDOW entries not yet taken (the shard then wakes this thread as it takes them). */
  private windowFull(): boolean {
    if (this.inFlight() <= R.PUBLISH_WINDOW || this.inFlight(true) <= R.PUBLISH_WINDOW) return false;
    return !this.windowReopened();
  }

  /**
   * Half the window or less in flight. Otherwise the shard is told to wake this
   * thread as it takes entries: a connection paused for a full ring may find the
   * window over half when the ring has room again, and must not wait for a
   * record that a shard with nothing to send never writes.
   */
  private windowReopened(): boolean {
    if (this.inFlight(true) > R.PUBLISH_WINDOW / 2) {
      this.writer.ring.setProducerWaiting(true);
      // TAKEN loaded again after the flag: a shard that took them just before saw no flag to wake us for.
      if (this.inFlight(true) > R.PUBLISH_WINDOW / 2) return false;
    }
    this.writer.ring.setProducerWaiting(false);
    return true;
  }

  /** Entries written but not yet taken, as of the last load of TAKEN or (`reload`) a fresh one. */
  private inFlight(reload = false): number {
    if (reload) this.takenSeen = this.writer.ring.taken;
    return (this.entriesSent - this.takenSeen) | 0;
  }

  private writeControl(requestId: number, control: ShardControl): void {
    const payload = R.packControl(control);
    const w = this.writer;
    w.begin(R.CONTROL_HEADER + payload.length);
    w.buf[w.offset] = R.A2S_CONTROL;
    writeU32LE(w.buf, w.offset + 1, requestId);
    payload.copy(w.buf, w.offset + R.CONTROL_HEADER);
    w.end();
    w.flush();
  }

  /** A view of `buf` where it is the ring this link reads (a record handed to a handler lies there, or in a buffer of its own). */
  viewOf(buf: Uint8Array): DataView | null {
    if (buf === this.input.data) return this.input.view;
    return buf === this.referencedBytes ? this.referencedView : null;
  }

  /**
   * The buffer `message`'s block lies in, at the offsets of its view, so that
   * the copies out of it go word-wise as they do out of the ring (viewOf).
   * Made once per buffer: a shard's blocks come one after another out of its slabs.
   */
  private referencedBlock(message: StoredMessage): Buffer {
    const view = message.view;
    if (view !== this.referencedView) {
      this.referencedView = view;
      this.referencedBytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    }
    return this.referencedBytes!;
  }

  private work(): boolean {
    let progress = false;
    if (this.writer.drainOverflow()) {
      progress = true;
      this.writer.flush();
    }
    if (this.ringStalled.size > 0 && !this.writer.backlogged && this.windowReopened()) {
      for (const conn of this.ringStalled) conn.unpause(PAUSE_RING);
      this.ringStalled.clear();
    }
    const input = this.input;
    let handled = 0;
    while (handled < BATCH) {
      const at = input.peek();
      if (at < 0) break;
      try {
        this.handle(input.data, at, at + input.recordSize);
      } catch (err) {
        this.recordFailed(input.data, at, err);
      }
      input.consume();
      // Credit part-way through a long batch too, so the shard refills its
      // consumers' windows while this thread is still writing to sockets.
      if (++handled % CREDIT_EVERY === 0 && this.credits.size > 0) {
        this.writeCredits();
        this.writer.flush();
      }
    }
    if (handled > 0) {
      progress = true;
      input.release();
      this.writeCredits();
      if (input.producerBlocked) this.shardBell.ring();
      this.events.onBatchEnd();
      this.writer.flush(); // the credits, if no one else wrote to this shard
    }
    return progress;
  }

  private handle(buf: Buffer, at: number, end: number): void {
    switch (buf[at]) {
      case R.S2A_DELIVER: {
        if (!R.isByReference(buf, at)) {
          this.unrungBytes += end - at;
          return this.events.onDeliver(this, buf, at, buf, R.deliveredBlockAt(buf, at, R.DELIVER_HEADER));
        }
        const message = this.handoff!.take();
        this.deliveredByReference++;
        this.unrungBytes += end - at + message.block.length;
        return this.events.onDeliver(this, buf, at, this.referencedBlock(message), message.at);
      }
      case R.S2A_REPLY:
        return this.resolve(readU32LE(buf, at + 1), R.unpackControl(buf, at + R.CONTROL_HEADER, end));
      case R.S2A_GET_OK: {
        const blockAt = R.deliveredBlockAt(buf, at, R.GET_OK_HEADER);
        const blockEnd = R.blockEnd(buf, blockAt);
        const result: GetResult = {
          redelivered: R.isRedelivered(buf, at),
          queueId: readU32LE(buf, at + 6),
          msgId: readF64LE(buf, at + 10),
          messageCount: readU32LE(buf, at + 18),
          // a record put together from pieces is a buffer of its own already
          block: buf === this.input.data ? Buffer.from(buf.subarray(blockAt, blockEnd)) : buf.subarray(blockAt, blockEnd),
        };
        return this.resolve(readU32LE(buf, at + 2), result);
      }
      case R.S2A_IMMEDIATE:
        return this.events.onImmediate(
          readU32LE(buf, at + 2),
          readU32LE(buf, at + 6),
          buf[at + 1] === 1,
          buf,
          at + R.IMMEDIATE_HEADER,
        );
      case R.S2A_CONFIRM: {
        const count = readU32LE(buf, at + 1);
        for (let i = 0, p = at + R.CONFIRM_HEADER; i < count; i++, p += R.CONFIRM_ENTRY) {
          this.events.onConfirm(this, readU32LE(buf, p), readU32LE(buf, p + 4), readU32LE(buf, p + 8));
        }
        return;
      }
      case R.S2A_QUEUE_FLOW: {
        const queueId = readU32LE(buf, at + 2);
        if (buf[at + 1] === 0) return this.queueCleared(queueId);
        if (!this.congestedQueues.has(queueId)) this.congestedQueues.set(queueId, new Set());
        return;
      }
      case R.S2A_LEASE:
        return this.leases.offered(readU32LE(buf, at + 1), this.events.consumer(readU32LE(buf, at + 5)), readF64LE(buf, at + 9), readF64LE(buf, at + 17), readU32LE(buf, at + 25));
      case R.S2A_DEAD_LETTER:
        return this.events.onDeadLetter(readU32LE(buf, at + 1), buf, at + R.DEAD_LETTER_HEADER, end);
      case R.S2A_QUEUE_EXPIRED:
        return this.events.onQueueExpired(readU32LE(buf, at + 1));
      case R.S2A_MEMORY: {
        this.queuedBytes = readF64LE(buf, at + 2);
        const heapAlarm = (buf[at + 1] & R.MEMORY_HEAP_ALARM) !== 0;
        const storeFailed = (buf[at + 1] & R.MEMORY_STORE_FAILED) !== 0;
        if (heapAlarm === this.heapAlarm && storeFailed === this.storeFailed) return;
        this.heapAlarm = heapAlarm;
        this.storeFailed = storeFailed;
        return this.events.onShardMemory();
      }
      case PIECE:
        return this.takePiece(buf, at, end);
      default:
        throw new Error(`acceptor: unknown record type ${buf[at]} from shard ${this.index}`);
    }
  }

  /** A piece of a large record; the record is handled once whole (its failure is its own, as any record's). */
  private takePiece(buf: Buffer, at: number, end: number): void {
    const whole = this.pieces.take(buf, at, end);
    if (whole === null) return;
    try {
      this.handle(whole, 0, whole.length);
    } catch (err) {
      this.recordFailed(whole, 0, err);
    }
  }

  /** A record's handler threw: the request or connection it was for fails, not the process. */
  private recordFailed(buf: Buffer, at: number, err: unknown): void {
    const type = buf[at];
    if (type === R.S2A_REPLY || type === R.S2A_GET_OK) {
      const requestId = readU32LE(buf, type === R.S2A_REPLY ? at + 1 : at + 2);
      const request = this.pending.get(requestId);
      if (request !== undefined) {
        this.pending.delete(requestId);
        return request.reject(err instanceof Error ? err : new Error(String(err)));
      }
    } else if (this.events.onRecordFailed(this, buf, at, err)) {
      return;
    }
    throw err; // no one to blame but the link: the pump reports it
  }

  private resolve(requestId: number, value: unknown): void {
    const request = this.pending.get(requestId);
    if (request === undefined) return;
    this.pending.delete(requestId);
    request.resolve(value);
  }
}

/** Passes every ring of a bell rung from another thread on to a bell of this one. */
function relay(from: SharedDoorbell, to: Doorbell): void {
  const wait = (): void =>
    from.sleep(from.arm(), () => {
      to.ring();
      wait();
    });
  wait();
}

/** An error as one line for the log. */
function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
