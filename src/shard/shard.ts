/**
 * A shard: the queues hashed to it, their messages and consumers. Plain logic
 * with no threads: it reads acceptor records and writes records back through a
 * RingWriter, whether it runs in a worker (shard-worker.ts) or inline.
 *
 * Durable queues of a broker with a data dir keep their persistent messages in
 * the shard's StoreWriter (opened at the first such declare): appended on
 * publish, acked when acked or dropped, marked when delivered, recovered at
 * declare. Their confirms wait for the fsync (ConfirmGate).
 */
import { RingWriter } from './ring-writer.js';
import { ConfirmBatch } from './confirm-batch.js';
import { ConfirmGate } from '../store/confirm-gate.js';
import { InlineSyncWriter } from '../store/inline-sync-writer.js';
import { recoverQueue, scanQueue } from '../store/recover.js';
import type { StoreWriter } from '../store/store-writer.js';
import { Deque } from './deque.js';
import { storedMessage, type MessageWalk } from './block-arena.js';
import type { BlockHandoff } from './block-handoff.js';
import { PAGING, type Paging } from './paged-backlog.js';
import { Backlog, CREDIT_WINDOW, ShardQueue, takesPlaces, type Consumer, type QueueEntry, type StoredMessage } from './queue.js';
import { ChannelLimits, ChannelSlot } from './channel-limits.js';
import * as R from './records.js';
import type { QueueConfig } from '../vhost/queue-arguments.js';
import { blockExpiration, expiresAt } from './expiry.js';
import { EXPIRY_SLICE, Lifecycles, QueueLifecycle, bodySize, type LifecycleHost } from './lifecycle.js';
import { deadLetterBlock, type DeathReason } from './dead-letter.js';
import { DEAD_LETTER_SLICE, DeadLetterOutbox, type DeadMessage } from './dead-letter-outbox.js';
import { withDeliveryCount } from './quorum.js';
import { withStreamOffset } from './block-rewrite.js';
import { READ_AHEAD_BYTES, ReadAheadBudget, StreamCursor } from './stream-cursor.js';
import { DEFAULT_SEGMENT_BYTES, type Retention, type StreamOffset, type StreamRecord } from './stream-log.js';
import { alignPad, alignSlack, copyBytes, copyWords, WORDS_BELOW } from '../protocol/copy-bytes.js';
import { log } from '../log/logger.js';
import { deliveryMode } from '../protocol/properties-validator.js';
import { readU16LE, readU32LE, writeU32LE } from '../protocol/uint32.js';
import { readF64LE, writeF64LE } from '../protocol/float64.js';

/** Control operations, msgpack-encoded in A2S_CONTROL records. */
export type ShardControl =
  /** dir: a durable queue's directory, when the broker has a data dir */
  /** config: from its x-arguments (absent: a plain classic queue) */
  | { op: 'declare'; queueId: number; name: string; dir?: string; config?: QueueConfig }
  /** its policy changed: the settings it runs with from now on (x-max-priority and single-active-consumer stay) */
  | { op: 'configure'; queueId: number; config: QueueConfig }
  | { op: 'delete'; queueId: number }
  /** a reset: many queues at once, one round trip; replies with the messages dropped in all */
  | { op: 'deleteMany'; queueIds: number[] }
  /** a simulated restart (faults.restart): these durable queues keep only their persistent messages; replies with the messages dropped */
  | { op: 'dropTransient'; queueIds: number[] }
  | { op: 'purge'; queueId: number }
  /** priority: x-priority (absent: 0) */
  /** limitSlot: its channel's slot in the ChannelLimits (a global prefetch), or -1 */
  /** offset: where a stream's consumer starts (x-stream-offset; absent: next) */
  | { op: 'consume'; queueId: number; consumerId: number; noAck: boolean; prefetch: number; limitSlot: number; priority?: number; offset?: StreamOffset }
  | { op: 'cancel'; consumerId: number }
  /** a channel's consumers here: their channel's global limit is in `slot`, where there may be room now */
  | { op: 'globalLimit'; consumerIds: number[]; slot: number }
  /** answered once the shard handled every record before it */
  | { op: 'fence' }
  | { op: 'flow'; consumerIds: number[]; active: boolean }
  | { op: 'get'; queueId: number; noAck: boolean }
  /** used: a redeclare, which restarts the queue's x-expires clock */
  | { op: 'count'; queueId: number; used?: boolean }
  /** every queue's counters, for the management API: see queueStats() */
  | { op: 'stats' }
  /** broker shutdown: the reply comes once the store synced and closed every queue */
  | { op: 'stop' };

export class Shard implements LifecycleHost {
  private readonly queues = new Map<number, ShardQueue>();
  private readonly consumers = new Map<number, Consumer>();
  /** Queues that may be able to deliver: they got messages or consumer credit. */
  private readonly pending = new Set<ShardQueue>();
  /** Ready messages in all this shard's queues, which the runner turns into flow control, and the buffers all held ones keep. */
  readonly backlog: Backlog;
  /** Confirm-mode publishes made safe this batch; written once per batch (flushConfirms). */
  private readonly confirms = new ConfirmBatch();
  /** the durable queues' disk, opened at the first declare that names a directory */
  private store: StoreWriter | null = null;
  /** confirms of publishes that wait for the store's fsync */
  private readonly gate = new ConfirmGate();
  /** the store failed (a write or fsync threw), or stopped: nothing more goes to disk */
  private storeEnded = false;
  /** the store failed: reported to the acceptor, whose disk alarm then has nothing left to protect */
  diskFailed = false;
  /** the stop request to answer once `durable` reaches `stopSeq` */
  private stopRequest = 0;
  private stopSeq = 0;
  /** queues whose paged-out messages wait in memory for their fsync (see PagedBacklog) */
  private readonly unsynced = new Set<ShardQueue>();
  /** directories of queues deleted here: a new queue there starts empty, whatever the disk still shows */
  private readonly destroyedDirs = new Set<string>();
  /** TTLs, x-expires and length limits of the queues that have them */
  private readonly lifecycles = new Lifecycles(this);
  /** the time this batch started (ms since the epoch): message TTLs count from it */
  private now = Date.now();
  /** the record being handled is a buffer of its own, not a view of the ring (see handleOwned) */
  private recordOwned = false;
  /** acceptor records handled so far: a lease offer names it (see offerLease) */
  private handled = 0;
  /** what its streams' consumers read ahead from segment files, bounded together */
  private readonly readAhead = new ReadAheadBudget(READ_AHEAD_BYTES);
  /** dead messages not yet written, a slice a batch */
  private readonly outbox = new DeadLetterOutbox();
  /** queue entries published this batch: as many maxlen dead letters go out besides the slice */
  private published = 0;

  constructor(
    private readonly out: RingWriter,
    private readonly openStore: () => StoreWriter = () => new InlineSyncWriter(),
    /** the least waste worth a pass (see BlockArena) */
    minCompactionBytes?: number,
    /** the channels' global prefetch limits, shared with the acceptor and the other shards */
    private readonly limits = new ChannelLimits(),
    /** inline, where the acceptor takes delivered blocks by reference; null: every block goes into the ring */
    private readonly handoff: BlockHandoff | null = null,
  ) {
    this.backlog = new Backlog(minCompactionBytes);
  }

  private globalLimit(slot: number): ChannelSlot | null {
    return slot < 0 ? null : new ChannelSlot(this.limits, slot);
  }

  /** Copies out the blocks that hold sparse buffers alive, once they waste enough (BlockArena). */
  compactBlocks(): void {
    this.backlog.blocks.compactIfDue(this.walkMessages);
  }

  /** The arena's passes so far and the blocks they moved. */
  get compaction(): { passes: number; moved: number } {
    const { passes, moved } = this.backlog.blocks;
    return { passes, moved };
  }

  private readonly walkMessages: MessageWalk = (visit) => {
    for (const queue of this.queues.values()) queue.forEachMessage(visit);
  };

  /** The store's ring is full: leave PUBLISH records in the input ring, so the publishers wait. */
  get holdPublishes(): boolean {
    return this.store !== null && this.store.backlogged;
  }

  /** A batch begins at `now`. */
  advance(now: number): void {
    this.now = now;
    this.published = 0;
  }

  /** Writes every dead letter that waits, full ring or not: before a delete or a stop. */
  private writeAllDeadLetters(): void {
    this.outbox.drainAll(this.writeDeadLetter, this.answer);
  }

  /** Bytes held in memory: the queues' messages, ready and unacked, and dead letters not yet written. */
  get heldBytes(): number {
    return this.backlog.heldBytes + this.outbox.bytes;
  }

  /** What those cost in this thread's V8 heap. */
  get heapBytes(): number {
    return this.backlog.heapBytes + this.outbox.heapBytes;
  }

  /**
   * Ends a batch at `now`: queues over a length limit are trimmed, expired heads
   * and queues go, congested queues whose consumers stalled stop holding their
   * publishers back; then a turn's worth of the dead letters that wait are
   * written (DeadLetterOutbox), none past a full output ring. True if it wrote any.
   */
  settleLifecycles(now: number): boolean {
    this.lifecycles.settle(now);
    this.backlog.sweepStalls(now);
    return this.outbox.drain(this.published, this.outputFull, this.writeDeadLetter, this.answer) > 0;
  }

  /** When the shard must run next even if no record comes (ms since the epoch); Infinity: never. */
  nextDeadline(): number {
    // A full output ring waits for the acceptor, which rings when it made room.
    if (this.out.backlogged) return this.backlog.nextStallCheck();
    if (this.outbox.length > 0) return this.now;
    return Math.min(this.lifecycles.nextDeadline(), this.backlog.nextStallCheck());
  }

  /** Handles one acceptor record found at buf[at..end) (`view`: buf's, where the caller has one: copyWords). */
  handle(buf: Buffer, at: number, end: number, view: DataView | null = null): void {
    this.handled++;
    switch (buf[at]) {
      case R.A2S_PUBLISH:
        return this.publish(buf, at, view);
      case R.A2S_SETTLE:
        return this.settle(buf, at);
      case R.A2S_CREDIT:
        return this.credit(buf, at);
      case R.A2S_DIRECT:
        return this.direct(buf, at);
      case R.A2S_LEASE_END:
        return this.leaseEnded(readU32LE(buf, at + 1));
      case R.A2S_CONTROL: {
        const requestId = readU32LE(buf, at + 1);
        return this.control(requestId, R.unpackControl(buf, at + R.CONTROL_HEADER, end));
      }
      default:
        throw new Error(`shard: unknown record type ${buf[at]}`);
    }
  }

  /**
   * Handles a record that is a buffer of its own (put together from pieces):
   * a publish keeps its block without copying it out again.
   */
  handleOwned(record: Buffer): void {
    this.recordOwned = true;
    try {
      this.handle(record, 0, record.length);
    } finally {
      this.recordOwned = false;
    }
  }

  /** Delivers what it can; returns true if it delivered anything. */
  deliver(): boolean {
    let progress = false;
    for (const queue of this.pending) {
      if (this.deliverFrom(queue)) progress = true;
      if (this.out.backlogged) break;
    }
    return progress;
  }

  /** Delivers what its consumers take from one queue; returns true if it delivered anything. */
  private deliverFrom(queue: ShardQueue): boolean {
    if (queue.stream !== null) return this.deliverStream(queue);
    let progress = false;
    let expiring = false;
    while (!this.out.backlogged && queue.messageCount > 0) {
      if (queue.timed) {
        expiring = this.lifecycles.expireHead(queue, this.now, false, EXPIRY_SLICE);
        if (expiring || queue.messageCount === 0) break;
      }
      const consumer = queue.nextReadyConsumer();
      if (consumer === null) {
        queue.use.blocked(); // messages wait and no consumer has room
        break;
      }
      const entry = queue.take();
      if (entry === undefined) {
        // paged-out messages that could not be read back (logged)
        if (takesPlaces(consumer)) consumer.globalLimit!.giveBack();
        break;
      }
      if (!consumer.noAck) {
        queue.track(entry, consumer);
        // (a no-ack delivery is acked on disk when the acceptor wrote it: see credit)
        this.markDelivered(queue, entry);
        queue.delivered++;
      } else queue.deliveredNoAck++;
      if (entry.redelivered) queue.redelivered++;
      consumer.inFlight.push(entry);
      this.writeDeliver(consumer, entry);
      progress = true;
    }
    if (queue.timed) this.lifecycles.headChanged(queue);
    if (!queue.leased && queue.messageCount === 0 && queue.leasable) this.offerLease(queue);
    // With expired heads left it stays pending: the next turn drops the next slice.
    if (!this.out.backlogged && !expiring) this.pending.delete(queue);
    return progress || (expiring && !this.out.backlogged);
  }

  /**
   * A stream's consumers read on from their offsets, each as far as its
   * prefetch lets it start a chunk (RabbitMQ hands out whole chunks), its
   * credit window and the output ring allow.
   */
  private deliverStream(queue: ShardQueue): boolean {
    const log = queue.stream!;
    let progress = false;
    for (const consumer of queue.consumers) {
      const cursor = consumer.cursor!;
      while (consumer.active && consumer.inFlight.length < CREDIT_WINDOW && !this.out.backlogged) {
        const full = consumer.unacked >= consumer.prefetch;
        // (its next record begins a chunk, known from the last pass: no need to read it again)
        if (full && cursor.chunkNext < 0) break;
        const record = log.read(cursor);
        if (record === undefined) break;
        if (full && (record.chunkStart || record.offset !== cursor.chunkNext)) {
          cursor.chunkNext = -1;
          break;
        }
        const entry = queue.deliverRecord(record, consumer);
        consumer.inFlight.push(entry);
        cursor.offset = cursor.chunkNext = record.offset + 1;
        this.writeDeliver(consumer, entry, deliveredBlock(record));
        progress = true;
      }
    }
    // A full ring stopped the pass: the next one starts with the next consumer, so none waits on the others.
    if (!this.out.backlogged) this.pending.delete(queue);
    else if (queue.consumers.length > 1) queue.consumers.push(queue.consumers.shift()!);
    return progress;
  }

  /**
   * Before a read of a queue (basic.get, a count, a purge): if it grew past a
   * drop-head limit in this batch, the deliveries due go first (its consumers
   * take what they can), then the excess, as at the end of the batch; then its
   * expired heads, now included (a TTL of 0 nobody took, which RabbitMQ drops
   * on arrival). So the read sees what RabbitMQ's would after those publishes.
   */
  private trimmedForRead(queue: ShardQueue | undefined): ShardQueue | undefined {
    if (queue === undefined) return queue;
    if (this.lifecycles.grewThisBatch(queue)) {
      if (this.pending.has(queue)) this.deliver();
      this.lifecycles.trim(queue);
    }
    if (queue.timed) this.lifecycles.expireHead(queue, this.now, true);
    return queue;
  }

  private publish(buf: Buffer, at: number, view: DataView | null): void {
    const flags = buf[at + 1];
    const queueCount = readU16LE(buf, at + 2);
    this.published += queueCount;
    const idsAt = at + R.PUBLISH_HEADER + 4 * queueCount;
    const leased = (flags & R.PUBLISH_LEASED) !== 0;
    const blockAt = (leased ? idsAt + 8 * queueCount : idsAt) + (flags >>> R.PUBLISH_PAD_SHIFT);
    // (the record may run on past the block: alignSlack)
    const end = R.blockEnd(buf, blockAt);
    const message = this.recordOwned ? storedMessage(buf.subarray(blockAt, end)) : this.backlog.blocks.copy(buf, view, blockAt, end);
    const immediate = (flags & R.PUBLISH_IMMEDIATE) !== 0;
    const persistent = (flags & R.PUBLISH_PERSISTENT) !== 0;
    let delivered = false;
    /** a queue's length limit refused it (x-overflow reject-publish): the publisher gets basic.nack */
    let refused = false;
    const ttl = blockExpiration(message.block);
    /** the store command that makes it safe (0: memory is enough), or -1: a durable queue's disk failed */
    let seq = 0;
    for (let i = 0; i < queueCount; i++) {
      const queue = this.queues.get(readU32LE(buf, at + R.PUBLISH_HEADER + 4 * i));
      if (queue === undefined) continue; // deleted while the publish was in flight
      const leasedId = leased ? readF64LE(buf, idsAt + 8 * i) : 0;
      if (leasedId !== 0) {
        // Delivered by the acceptor under the queue's lease (see offerLease): unacked from the start.
        const entry = queue.enqueueDelivered(message, persistent && queue.stored, leasedId);
        // Its expiration still counts if it comes back (RabbitMQ drops a requeued message whose time is up).
        if (ttl >= 0) this.admitted(queue, entry, ttl);
        seq = this.storeEntry(queue, entry, persistent, buf, blockAt, end, seq);
        if (entry.persistent) this.store!.delivered(queue.id, entry.id);
        delivered = true;
        continue;
      }
      if (immediate && !queue.hasReadyConsumer()) continue;
      if (queue.stream !== null) {
        seq = this.appendToStream(queue, message, buf, blockAt, end, seq);
        this.pending.add(queue);
        delivered = true;
        continue;
      }
      const lc = queue.lifecycle;
      if (lc !== null && lc.limited && lc.config.overflow !== 'drop-head' && lc.refuses(queue, bodySize(message.block))) {
        refused = true;
        if (lc.config.overflow === 'reject-publish-dlx') this.deadLetter(queue, message.block, 'maxlen');
        continue;
      }
      if (queue.isPriorityQueue && this.expiredOnArrival(queue, ttl, message.block)) {
        // As RabbitMQ drops it on arrival: dead letters in the order they came, not by priority.
        this.deadLetter(queue, message.block, 'expired');
        continue;
      }
      const entry = queue.enqueue(message, persistent && queue.stored);
      if (ttl >= 0 || lc !== null) this.admitted(queue, entry, ttl);
      seq = this.storeEntry(queue, entry, persistent, buf, blockAt, end, seq);
      this.pending.add(queue);
      // A consumer with room takes it now, before the batch's next publishes: priority
      // orders only what waits, and a length limit counts only what waits, as in
      // RabbitMQ, where each publish reaches the queue alone.
      if (queue.isPriorityQueue || (lc !== null && lc.limited)) this.deliverFrom(queue);
      delivered = true;
    }
    if (immediate) this.writeImmediate(readU32LE(buf, at + 4), readU32LE(buf, at + 8), delivered, message.block);
    // Safe once held in memory (a queue deleted in flight counts too: RabbitMQ acks
    // those, routing succeeded), and after the IMMEDIATE answer: a return goes before
    // its ack. A persistent message in a durable queue is safe once on disk: the
    // gate holds its confirm, and the channel's later ones, until the fsync.
    if ((flags & R.PUBLISH_CONFIRM) === 0) return;
    const channelRef = readU32LE(buf, at + 4);
    if (refused) {
      if (this.store === null) this.confirms.refused(channelRef);
      else this.gate.refused(channelRef, this.confirms);
    } else if (this.store === null) this.confirms.stored(channelRef);
    else if (seq < 0) this.confirms.refused(channelRef); // after refuseAll: nothing waits in the gate
    else this.gate.stored(channelRef, seq, this.store.durable, this.confirms);
  }

  /**
   * Appends a publish's new entry to its queue's store when it goes there (a
   * persistent message in a stored queue: `entry.persistent`). Returns the
   * publish's store command as `publish` keeps it in `seq`: the last append,
   * or -1 once a durable queue's disk failed.
   */
  private storeEntry(queue: ShardQueue, entry: QueueEntry, persistent: boolean, buf: Buffer, blockAt: number, end: number, seq: number): number {
    if (entry.persistent) {
      const appended = this.store!.append(queue.id, entry.id, buf, blockAt, end, entry.expiresAt);
      if (queue.appended(entry, appended)) this.unsynced.add(queue);
      return seq >= 0 ? appended : seq;
    }
    return persistent && queue.dir !== undefined && this.storeEnded ? -1 : seq;
  }

  /** A publish into a stream: every message of a stored one goes to disk, as RabbitMQ writes them all; returns `seq` as storeEntry does. */
  private appendToStream(queue: ShardQueue, message: StoredMessage, buf: Buffer, blockAt: number, end: number, seq: number): number {
    if (!queue.stored) {
      queue.append(message, this.now);
      return queue.dir !== undefined && this.storeEnded ? -1 : seq;
    }
    let appended = 0;
    // Its store id is its offset + 1 (ids start at 1), and where a queue's message keeps its deadline, a stream's keeps its time.
    queue.append(message, this.now, (record) => (appended = this.store!.append(queue.id, record.offset + 1, buf, blockAt, end, record.time)));
    this.unsynced.add(queue); // its older runs leave memory once on disk
    return seq >= 0 ? appended : seq;
  }

  /**
   * Ends a batch: hands the store what the batch wrote (one group commit),
   * releases the confirms its fsyncs made safe, and writes one CONFIRM record.
   */
  flushConfirms(): void {
    const store = this.store;
    if (store !== null && !this.storeEnded) {
      try {
        store.flush();
      } catch (err) {
        log.error(`writing persistent messages failed, they are no longer stored: ${(err as Error).stack ?? err}`);
      }
      if (store.failed) this.storeFailed();
      else {
        const durable = store.durable;
        this.gate.release(durable, this.confirms);
        for (const queue of this.unsynced) if (!queue.release(durable)) this.unsynced.delete(queue);
        if (this.stopRequest !== 0 && durable >= this.stopSeq) this.stopped();
      }
    }
    this.confirms.write(this.out);
  }

  /** The disk failed: waiting confirms are refused, and so are later persistent publishes to durable queues. */
  private storeFailed(): void {
    this.storeEnded = true;
    this.diskFailed = true;
    this.gate.refuseAll(this.confirms);
    for (const queue of this.queues.values()) queue.unstore();
    if (this.stopRequest !== 0) this.stopped();
  }

  private stopped(): void {
    this.storeEnded = true;
    this.reply(this.stopRequest, {});
    this.stopRequest = 0;
  }

  /** Retention dropped a stream's records of offsets [from, to): so they go on disk. */
  private forgetRecords(queue: ShardQueue, from: number, to: number): void {
    if (queue.stored) this.store!.ackRange(queue.id, from + 1, to + 1);
  }

  /** An entry leaves its queue for good (acked, dropped, purged): so it does on disk. */
  private forget(queue: ShardQueue, entry: QueueEntry): void {
    if (entry.persistent && queue.stored) this.store!.ack(queue.id, entry.id);
  }

  private settle(buf: Buffer, at: number): void {
    const action = buf[at + 1];
    const count = readU32LE(buf, at + 2);
    // Requeued entries are put back per queue, a batch at a time (see ShardQueue.requeue).
    const requeued = action === R.SETTLE_REQUEUE ? new Map<ShardQueue, QueueEntry[]>() : null;
    // A priority queue's rejected entries are dead-lettered together, in RabbitMQ's order.
    let rejected: Map<ShardQueue, QueueEntry[]> | null = null;
    let p = at + R.SETTLE_HEADER;
    for (let i = 0; i < count; i++, p += R.SETTLE_ENTRY) {
      const queue = this.queues.get(readU32LE(buf, p));
      if (queue === undefined) continue;
      const entry = queue.settle(readF64LE(buf, p + 4));
      if (entry === undefined) continue;
      if (queue.stream !== null) {
        // A stream's delivery only held its consumer's prefetch (the acceptor refuses its nack and reject).
        if (action === R.SETTLE_ACK) queue.acked++;
        this.pending.add(queue);
        continue;
      }
      // A requeued persistent entry stays on disk as it is: it was appended once.
      if (requeued === null) {
        if (action === R.SETTLE_DROP && queue.isPriorityQueue) addToBatch((rejected ??= new Map()), queue, entry);
        else if (action === R.SETTLE_DROP) this.drop(queue, entry, 'rejected');
        else {
          if (action === R.SETTLE_ACK) queue.acked++;
          this.forget(queue, entry);
        }
      } else if (queue.lifecycle !== null && queue.lifecycle.quorum && this.returnedTooOften(queue.lifecycle, entry)) {
        this.drop(queue, entry, 'delivery_limit');
      } else {
        entry.redelivered = true;
        if (entry.expiresAt !== 0) this.lifecycles.soon(entry.expiresAt); // it may be at the head again
        addToBatch(requeued, queue, entry);
      }
      this.pending.add(queue);
    }
    if (rejected !== null) {
      for (const [queue, batch] of rejected) for (const entry of queue.rejectionOrder(batch)) this.drop(queue, entry, 'rejected');
    }
    if (requeued === null) return;
    for (const [queue, batch] of requeued) {
      queue.requeue(batch);
      this.lifecycles.requeued(queue);
    }
  }

  /** The acceptor wrote deliveries to their connections: they leave the consumers' in-flight windows. */
  private credit(buf: Buffer, at: number): void {
    const count = readU32LE(buf, at + 1);
    let p = at + R.COUNTS_HEADER;
    for (let i = 0; i < count; i++, p += R.COUNTS_ENTRY) {
      const consumer = this.consumers.get(readU32LE(buf, p));
      if (consumer === undefined) continue; // its queue was deleted
      const queue = consumer.queue;
      for (let n = readU32LE(buf, p + 4); n > 0; n--) {
        const entry = consumer.inFlight.shift()!;
        // A no-ack delivery is done once it is in its connection's output.
        if (consumer.noAck) this.forget(queue, entry);
      }
      queue.use.unblocked();
      this.pending.add(queue);
    }
  }

  /**
   * The queue is empty and its one consumer may take more: the acceptor may
   * hand it the queue's next publishes itself, no round trip through this
   * thread (docs/ARCHITECTURE.md, "Leases"). The offer names how many acceptor
   * records this shard has handled: the acceptor takes it only if it wrote no
   * publish or requeue since, so nothing is on its way into the queue. For a
   * consumer that acks it names the ids the acceptor is to give those
   * publishes (this queue's next) and how many its prefetch leaves room for.
   */
  private offerLease(queue: ShardQueue): void {
    queue.leased = true;
    const consumer = queue.consumers[0];
    this.out.begin(R.LEASE_SIZE);
    const { buf, offset } = this.out;
    buf[offset] = R.S2A_LEASE;
    writeU32LE(buf, offset + 1, queue.id);
    writeU32LE(buf, offset + 5, consumer.id);
    writeF64LE(buf, offset + 9, this.handled);
    writeF64LE(buf, offset + 17, queue.nextEntryId);
    writeU32LE(buf, offset + 25, consumer.noAck || consumer.prefetch === 0 ? R.UNLIMITED_ROOM : consumer.prefetch - consumer.unacked);
    this.out.end();
  }

  /** The acceptor gave the lease back (or declined it): the queue's publishes come here again, and it may be offered anew. */
  private leaseEnded(queueId: number): void {
    const queue = this.queues.get(queueId);
    if (queue === undefined) return;
    queue.leased = false;
    this.pending.add(queue);
  }

  /** Publishes the acceptor delivered under a lease: they count as published and delivered here. */
  private direct(buf: Buffer, at: number): void {
    const count = readU32LE(buf, at + 1);
    for (let i = 0, p = at + R.COUNTS_HEADER; i < count; i++, p += R.COUNTS_ENTRY) {
      const queue = this.queues.get(readU32LE(buf, p));
      if (queue === undefined) continue;
      const delivered = readU32LE(buf, p + 4);
      queue.published += delivered;
      queue.deliveredNoAck += delivered;
    }
  }

  /** Deletes a queue with its messages (and its directory, if stored); returns how many messages went. */
  private deleteQueue(queueId: number): number {
    const queue = this.queues.get(queueId);
    if (queue === undefined) return 0;
    // Before the answer: the acceptor routes the queue's dead letters only until it has it.
    this.writeAllDeadLetters();
    const messageCount = queue.purge();
    queue.dropUnacked();
    if (queue.stored) {
      this.store!.destroy(queue.id);
      queue.stored = false;
      this.destroyedDirs.add(queue.dir!);
    }
    for (const consumer of queue.consumers) {
      this.consumers.delete(consumer.id);
      consumer.cursor?.close();
    }
    this.lifecycles.deleted(queue);
    this.backlog.forget(queue);
    this.queues.delete(queueId);
    this.pending.delete(queue);
    this.unsynced.delete(queue);
    return messageCount;
  }

  private control(requestId: number, c: ShardControl): void {
    switch (c.op) {
      case 'declare': {
        let queue = this.queues.get(c.queueId);
        if (queue === undefined) {
          const dir = c.dir ?? undefined; // msgpack may bring an absent dir back as null
          queue = new ShardQueue(c.queueId, c.name, this.backlog, dir);
          queue.activeAt = Date.now();
          if (c.config != null) this.configure(queue, c.config);
          this.queues.set(c.queueId, queue);
          if (dir !== undefined) this.openQueue(queue, dir);
        }
        return this.reply(requestId, { messageCount: this.trimmedForRead(queue)!.messageCount });
      }
      case 'configure': {
        const queue = this.queues.get(c.queueId);
        if (queue === undefined) return;
        if (queue.stream !== null) {
          queue.stream.retention = retentionOf(c.config);
          return;
        }
        const droppedHeads = (queue.lifecycle?.config.overflow ?? 'drop-head') === 'drop-head';
        this.setLimits(queue, c.config);
        return this.lifecycles.reconfigured(queue, droppedHeads);
      }
      case 'delete':
        return this.reply(requestId, { messageCount: this.deleteQueue(c.queueId) });
      case 'deleteMany': {
        let messageCount = 0;
        for (const queueId of c.queueIds) messageCount += this.deleteQueue(queueId);
        return this.reply(requestId, { messageCount });
      }
      case 'dropTransient': {
        let messageCount = 0;
        for (const queueId of c.queueIds) messageCount += this.queues.get(queueId)?.dropReady(isPersistent) ?? 0;
        return this.reply(requestId, { messageCount });
      }
      case 'purge': {
        const queue = this.trimmedForRead(this.queues.get(c.queueId));
        return this.reply(requestId, { messageCount: queue === undefined ? 0 : this.purge(queue) });
      }
      case 'consume': {
        const queue = this.queues.get(c.queueId);
        if (queue === undefined) return;
        const consumer: Consumer = {
          id: c.consumerId,
          queue,
          noAck: c.noAck,
          prefetch: c.prefetch,
          priority: c.priority ?? 0,
          globalLimit: this.globalLimit(c.limitSlot),
          unacked: 0,
          active: true,
          inFlight: new Deque(),
          cursor: queue.stream === null ? null : new StreamCursor(queue.stream.seek(c.offset ?? 'next'), this.readAhead),
        };
        this.consumers.set(consumer.id, consumer);
        queue.addConsumer(consumer);
        this.lifecycles.used(queue, this.now);
        this.pending.add(queue);
        return;
      }
      case 'cancel': {
        const consumer = this.consumers.get(c.consumerId);
        if (consumer === undefined) return;
        this.consumers.delete(consumer.id);
        // Credit for what the acceptor wrote came before this record; the rest never left.
        consumer.queue.requeueInFlight(consumer);
        if (consumer.queue.timed) this.lifecycles.soon(consumer.queue.peek()?.expiresAt ?? 0);
        consumer.queue.removeConsumer(consumer);
        this.lifecycles.used(consumer.queue, this.now);
        this.pending.add(consumer.queue);
        return;
      }
      case 'globalLimit':
        for (const id of c.consumerIds) {
          const consumer = this.consumers.get(id);
          if (consumer === undefined) continue;
          if (consumer.globalLimit === null) consumer.globalLimit = this.globalLimit(c.slot);
          consumer.queue.use.unblocked();
          this.pending.add(consumer.queue);
        }
        return;
      case 'fence':
        return this.outbox.fence(requestId, this.answer);
      case 'flow':
        for (const id of c.consumerIds) {
          const consumer = this.consumers.get(id);
          if (consumer === undefined) continue;
          consumer.active = c.active;
          if (!c.active) continue;
          consumer.queue.use.unblocked();
          this.pending.add(consumer.queue);
        }
        return;
      case 'get': {
        const queue = this.trimmedForRead(this.queues.get(c.queueId));
        if (queue !== undefined) this.lifecycles.used(queue, this.now);
        const entry = queue?.take();
        // And the new head, as RabbitMQ drops it before counting what is left for the get-ok.
        if (queue?.timed) this.lifecycles.expireHead(queue, this.now, true);
        if (queue === undefined || entry === undefined) {
          if (queue !== undefined) queue.getEmpty++;
          return this.reply(requestId, { empty: true });
        }
        if (entry.redelivered) queue.redelivered++;
        if (!c.noAck) {
          queue.track(entry, null);
          this.markDelivered(queue, entry);
          queue.got++;
        } else {
          this.forget(queue, entry);
          queue.gotNoAck++;
        }
        return this.writeGetOk(requestId, queue, entry);
      }
      case 'count': {
        const queue = this.trimmedForRead(this.queues.get(c.queueId));
        if (c.used && queue !== undefined) this.lifecycles.used(queue, this.now);
        return this.reply(requestId, { messageCount: queue?.messageCount ?? 0 });
      }
      case 'stats':
        return this.reply(requestId, { stats: this.queueStats() });
      case 'stop':
        this.writeAllDeadLetters();
        if (this.store === null || this.storeEnded) return this.reply(requestId, {});
        for (const queue of this.queues.values()) queue.unstore();
        this.stopRequest = requestId;
        this.stopSeq = this.store.requestStop();
        return;
    }
  }

  /**
   * Every queue's counters as one flat array, QUEUE_STATS_FIELDS numbers per
   * queue: id, ready, unacked, published, delivered (acked mode), delivered
   * no-ack, got (acked mode), got no-ack, get-empty, redelivered, acked;
   * body bytes ready, body bytes unacked, persistent messages, their body
   * bytes, paged-out messages, their body bytes; idle since (ms since the
   * epoch, 0 while active), consumer capacity (0 to 1, 0 without consumers; see ConsumerUse).
   *
   * Idle: none of its totals moved since the previous stats read. The time is
   * that of the read that last saw them move (or the declare): stamped per
   * read, so it is as fine as the reads are frequent, never per message.
   */
  private queueStats(): number[] {
    const stats: number[] = [];
    const now = Date.now();
    for (const q of this.queues.values()) {
      const activity = q.published + q.delivered + q.deliveredNoAck + q.got + q.gotNoAck + q.getEmpty + q.redelivered + q.acked;
      const idle = activity === q.activity;
      if (!idle) {
        q.activity = activity;
        q.activeAt = now;
      }
      stats.push(
        // (a stream's messages stay in its log, ready, as RabbitMQ counts them: none unacked)
        q.id, q.messageCount, q.stream === null ? q.unackedCount : 0, q.published, q.delivered, q.deliveredNoAck, q.got, q.gotNoAck, q.getEmpty, q.redelivered, q.acked,
        q.readyBodyBytes, q.unackedBodyBytes, q.readyPersistent + q.unackedPersistent, q.readyPersistentBytes + q.unackedPersistentBytes,
        q.pagedOut, q.pagedOutBytes, idle ? q.activeAt : 0, q.consumers.length > 0 ? q.use.capacity() : 0,
      );
    }
    return stats;
  }

  /**
   * A durable queue declared: what its directory holds comes back, in order
   * (delivered but unacked ones redelivered), and its store opens after it.
   */
  private openQueue(queue: ShardQueue, dir: string): void {
    if (this.storeEnded) return; // its persistent publishes are refused
    this.store ??= this.openStore();
    if (queue.stream !== null) this.openStream(queue, dir);
    else if (this.destroyedDirs.delete(dir)) {
      // Deleted in this run: the store may not have removed the files yet.
      this.store.open(queue.id, dir);
      queue.page(1, [], null, this.pagingOf(queue));
    } else {
      // Only a window's worth comes into memory; the rest is read back in turn.
      const recovery = recoverQueue(dir, this.pagingOf(queue));
      for (const warning of recovery.warnings) log.warning(`queue '${queue.name}': ${warning}`);
      for (const m of recovery.messages) this.recovered(queue, queue.restore(storedMessage(m.block), m.id, m.delivered, m.expiresAt));
      // Heads read back later may have deadlines: the queue's heads are watched.
      if (recovery.timed && !queue.timed) this.lifecycles.watch(queue);
      queue.startIdsAt(recovery.nextId);
      this.store.open(queue.id, dir, recovery.segments);
      const seqs = recovery.segments.map((s) => s.seq);
      // The store's first append opens the segment after the last one recovered.
      queue.page(seqs.length > 0 ? seqs[seqs.length - 1] + 1 : 1, seqs, recovery.pagedOut, this.pagingOf(queue));
    }
    queue.stored = true;
    this.pending.add(queue);
  }

  /**
   * A stream declared: its log comes back, offsets and times as they were, its
   * records left on disk (read back by the consumers that reach them).
   */
  private openStream(queue: ShardQueue, dir: string): void {
    const stream = queue.stream!;
    const disk = { dir, label: `stream '${queue.name}'`, nextSeq: 1, segmentSize: PAGING.segmentSize, windowBytes: PAGING.bytes };
    if (this.destroyedDirs.delete(dir)) {
      this.store!.open(queue.id, dir, [], disk.segmentSize);
      return stream.storeAt(disk);
    }
    const scan = scanQueue(dir, (m) => queue.restoreRecord(m.seq, m.id - 1, m.expiresAt, m.block));
    for (const warning of scan.warnings) log.warning(`${disk.label}: ${warning}`);
    stream.startAt(scan.nextId - 1);
    this.store!.open(queue.id, dir, scan.segments, disk.segmentSize);
    // The store's first append opens the segment after the last one recovered.
    if (scan.segments.length > 0) disk.nextSeq = scan.segments[scan.segments.length - 1].seq + 1;
    stream.storeAt(disk);
  }

  /**
   * A message read back at declare: it keeps the deadline it was given at its
   * publish, as in RabbitMQ (one past it expires at the end of the batch); one
   * written without a deadline (by an older warren, or before a policy gave
   * its queue a TTL) is admitted as a new one.
   */
  private recovered(queue: ShardQueue, entry: QueueEntry): void {
    if (entry.expiresAt === 0) return this.admitted(queue, entry);
    if (!queue.timed) this.lifecycles.watch(queue);
    this.lifecycles.soon(entry.expiresAt);
    this.lifecycles.grew(queue);
  }

  /**
   * A message entered a queue with arguments, or with an expiration: its
   * expiry is set (from now), and a drop-head limit is enforced at the end
   * of the batch.
   */
  private admitted(queue: ShardQueue, entry: QueueEntry, ttl = blockExpiration(entry.message.block)): void {
    const lc = queue.lifecycle;
    if (ttl >= 0 || (lc !== null && lc.config.messageTtl !== undefined)) {
      entry.expiresAt = expiresAt(lc === null ? null : lc.config, ttl, this.now);
      if (!queue.timed) this.lifecycles.watch(queue);
      this.lifecycles.soon(entry.expiresAt);
    }
    this.lifecycles.grew(queue);
  }

  /**
   * An entry goes out to be acked: on disk it is marked, so that after a crash
   * it comes back redelivered. Once is enough: a redelivered entry has its mark
   * (it was delivered before, or recovered with one), and a message requeued
   * again and again must not grow its segment's ack file without end.
   */
  private markDelivered(queue: ShardQueue, entry: QueueEntry): void {
    if (entry.persistent && queue.stored && !entry.redelivered) this.store!.delivered(queue.id, entry.id);
  }

  /**
   * Whether a message published now with `ttl` (-1: none) would expire before any
   * consumer of the queue could take it (a TTL of 0) as the queue's head: RabbitMQ
   * looks at the heads only, so one behind others waits its turn. Not when it
   * takes the queue over a drop-head limit: RabbitMQ drops the head for that first (maxlen).
   */
  private expiredOnArrival(queue: ShardQueue, ttl: number, block: Buffer): boolean {
    const lc = queue.lifecycle;
    const config = lc?.config ?? null;
    if (ttl < 0 && config?.messageTtl === undefined) return false;
    if (lc !== null && lc.limited && lc.wouldOverflow(queue, bodySize(block))) return false;
    return expiresAt(config, ttl, this.now) <= this.now && !queue.hasReadyConsumer() && queue.wouldLead(block);
  }

  /**
   * A priority queue, or one with a message TTL, is held in memory whole (its
   * lanes and expiries live there): an unbounded window. Others page as usual.
   */
  private pagingOf(queue: ShardQueue): Paging {
    const config = queue.lifecycle?.config;
    const inMemory = queue.isPriorityQueue || config?.messageTtl !== undefined;
    return inMemory ? { ...PAGING, messages: Infinity, bytes: Infinity } : PAGING;
  }

  /** A queue's arguments take effect: its TTLs are watched, its limits and dead-lettering apply. */
  private configure(queue: ShardQueue, config: QueueConfig): void {
    if (config.type === 'stream') return queue.makeStream(retentionOf(config), (from, to) => this.forgetRecords(queue, from, to));
    if (config.maxPriority !== undefined) queue.prioritize(config.maxPriority);
    queue.singleActiveConsumer = config.singleActiveConsumer;
    this.setLimits(queue, config);
  }

  /**
   * TTLs, x-expires (counted from now, as RabbitMQ restarts its timer),
   * length limits and dead-lettering; a queue with none costs a null check.
   */
  private setLimits(queue: ShardQueue, config: QueueConfig): void {
    const plain = config.type === 'classic' && config.messageTtl === undefined && config.expires === undefined && config.maxLength === undefined &&
      config.maxLengthBytes === undefined && config.deadLetterExchange === undefined && config.deliveryLimit === undefined;
    queue.lifecycle = plain ? null : new QueueLifecycle(config, this.now);
    if (config.messageTtl !== undefined || config.expires !== undefined) this.lifecycles.watch(queue);
  }

  /**
   * LifecycleHost: an entry leaves its queue for good, rejected, expired or
   * over a limit: it is dead-lettered if the queue says where, and forgotten.
   */
  drop(queue: ShardQueue, entry: QueueEntry, reason: DeathReason): void {
    this.deadLetter(queue, entry.message.block, reason);
    this.forget(queue, entry);
  }

  /** A quorum queue's message came back: counted, and past x-delivery-limit it is not requeued. */
  private returnedTooOften(lc: QueueLifecycle, entry: QueueEntry): boolean {
    entry.returns++;
    return lc.config.deliveryLimit !== undefined && entry.returns > lc.config.deliveryLimit;
  }

  /** LifecycleHost: whether dead letters would overflow the output ring, or more wait than a turn writes. */
  get outputBacklogged(): boolean {
    return this.out.backlogged || this.outbox.length >= DEAD_LETTER_SLICE;
  }

  /** LifecycleHost: a queue was unused for its x-expires: the acceptor deletes it. */
  queueExpired(queue: ShardQueue): void {
    this.out.begin(R.QUEUE_EXPIRED_SIZE);
    const { buf, offset } = this.out;
    buf[offset] = R.S2A_QUEUE_EXPIRED;
    writeU32LE(buf, offset + 1, queue.id);
    this.out.end();
  }

  /** A dead message for the acceptor to route, when the queue has a dead-letter exchange; written at the batch's end. */
  private deadLetter(queue: ShardQueue, block: Buffer, reason: DeathReason): void {
    const config = queue.lifecycle?.config;
    if (config?.deadLetterExchange === undefined) return;
    this.outbox.push({ queueId: queue.id, queue: queue.name, config, block, reason, at: Date.now() });
  }

  /** A DEAD_LETTER record. */
  private readonly writeDeadLetter = (message: DeadMessage): void => {
    let dead: Buffer | null;
    try {
      dead = deadLetterBlock(message.block, message.queue, message.config, message.reason, message.at);
    } catch (err) {
      // Properties that passed the acceptor's check but do not decode (none known):
      // the message is dropped rather than the shard.
      log.error(`could not dead-letter a message from queue '${message.queue}': ${(err as Error).message}`);
      return;
    }
    if (dead === null) return;
    this.out.begin(R.DEAD_LETTER_HEADER + dead.length);
    const { buf, offset } = this.out;
    buf[offset] = R.S2A_DEAD_LETTER;
    writeU32LE(buf, offset + 1, message.queueId);
    dead.copy(buf, offset + R.DEAD_LETTER_HEADER);
    this.out.end();
  };

  private readonly answer = (requestId: number): void => this.reply(requestId, {});

  private readonly outputFull = (): boolean => this.out.backlogged;

  /** Drops the ready messages (not unacked ones), on disk too; returns how many. */
  private purge(queue: ShardQueue): number {
    if (!queue.stored) return queue.purge();
    const store = this.store!;
    return queue.purge({ ack: (id) => store.ack(queue.id, id), dropFrom: (segment) => store.dropFrom(queue.id, segment) });
  }

  private reply(requestId: number, value: unknown): void {
    if (requestId === 0) return; // sent without waiting for an answer
    const payload = R.packControl(value);
    this.out.begin(R.CONTROL_HEADER + payload.length);
    const { buf, offset } = this.out;
    buf[offset] = R.S2A_REPLY;
    writeU32LE(buf, offset + 1, requestId);
    payload.copy(buf, offset + R.CONTROL_HEADER);
    this.out.end();
  }

  /** What a delivery carries: the block as published, or with x-delivery-count for a quorum queue. */
  /**
   * A quorum queue's message as it goes out, with its x-delivery-count: on every
   * basic.get, and to a consumer once it has come back (RabbitMQ 3.10.8 counts
   * from the first return; a first delivery to a consumer has no such header).
   */
  private deliveredBlock(queue: ShardQueue, entry: QueueEntry, forGet = false): Buffer {
    const block = entry.message.block;
    if (queue.lifecycle === null || !queue.lifecycle.quorum || (entry.returns === 0 && !forGet)) return block;
    try {
      return withDeliveryCount(block, entry.returns);
    } catch {
      return block; // properties that do not decode (see deadLetter): as published
    }
  }

  private writeDeliver(consumer: Consumer, entry: QueueEntry, block = this.deliveredBlock(consumer.queue, entry)): void {
    const handoff = this.handoff;
    if (handoff !== null && handoff.fits(block.length)) {
      handoff.push(block === entry.message.block ? entry.message : storedMessage(block));
      this.out.begin(R.DELIVER_HEADER);
      this.out.buf[this.out.offset] = R.S2A_DELIVER;
      this.out.buf[this.out.offset + 1] = (entry.redelivered ? 1 : 0) | R.DELIVER_BY_REFERENCE;
    } else this.beginWithBlock(R.S2A_DELIVER, R.DELIVER_HEADER, entry, block);
    const { buf, offset } = this.out;
    // It took a place under its channel's global limit: the acceptor gives it back at the settle.
    if (takesPlaces(consumer)) buf[offset + 1] |= R.DELIVER_COUNTED;
    writeU32LE(buf, offset + 2, consumer.id);
    writeU32LE(buf, offset + 6, consumer.queue.id);
    writeF64LE(buf, offset + 10, entry.id);
    this.out.end();
  }

  private writeGetOk(requestId: number, queue: ShardQueue, entry: QueueEntry): void {
    this.beginWithBlock(R.S2A_GET_OK, R.GET_OK_HEADER, entry, this.deliveredBlock(queue, entry, true));
    const { buf, offset } = this.out;
    writeU32LE(buf, offset + 2, requestId);
    writeU32LE(buf, offset + 6, queue.id);
    writeF64LE(buf, offset + 10, entry.id);
    writeU32LE(buf, offset + 18, queue.messageCount);
    this.out.end();
  }

  /**
   * Begins a DELIVER or GET_OK record of `headerSize` bytes then `block`: its
   * type, the redelivered flag with the pad that places the block for its
   * copy (alignPad), and the block; the caller writes the rest of the header.
   */
  private beginWithBlock(type: number, headerSize: number, entry: QueueEntry, block: Buffer): void {
    const slack = alignSlack(block.length);
    this.out.begin(headerSize + block.length + slack);
    const { buf, offset } = this.out;
    const pad = alignPad(block, 0, buf, offset + headerSize, slack);
    buf[offset] = type;
    buf[offset + 1] = (entry.redelivered ? 1 : 0) | (pad << R.DELIVER_PAD_SHIFT);
    const message = entry.message;
    // (a block rewritten for delivery is not the message's: deliveredBlock)
    if (block.length < WORDS_BELOW && block === message.block) copyWords(message.view, message.at, this.out.view, offset + headerSize + pad, block.length);
    else copyBytes(block, 0, block.length, buf, offset + headerSize + pad);
  }

  private writeImmediate(channelRef: number, publishId: number, delivered: boolean, block: Buffer): void {
    const size = R.IMMEDIATE_HEADER + (delivered ? 0 : block.length);
    this.out.begin(size);
    const { buf, offset } = this.out;
    buf[offset] = R.S2A_IMMEDIATE;
    buf[offset + 1] = delivered ? 1 : 0;
    writeU32LE(buf, offset + 2, channelRef);
    writeU32LE(buf, offset + 6, publishId);
    if (!delivered) block.copy(buf, offset + R.IMMEDIATE_HEADER);
    this.out.end();
  }
}

const restartView = new R.BlockView();

/** What a simulated restart keeps: a message on disk, or one published with delivery-mode 2. */
function isPersistent(entry: QueueEntry): boolean {
  if (entry.persistent) return true;
  const v = restartView.read(entry.message.block, 0);
  return v.propertiesEnd - v.propertiesAt >= 2 && deliveryMode(entry.message.block, v.propertiesAt) === 2;
}

/** What a stream's delivery carries: the block with its offset in `x-stream-offset` (a long, as RabbitMQ's). */
function deliveredBlock(record: StreamRecord): Buffer {
  try {
    return withStreamOffset(record.message.block, record.offset);
  } catch {
    return record.message.block; // properties that do not decode (see deadLetter): as published
  }
}

/** A stream's retention from its arguments and policies. */
function retentionOf(config: QueueConfig): Retention {
  return { maxBytes: config.maxLengthBytes, maxAge: config.maxAge, segmentBytes: config.segmentBytes ?? DEFAULT_SEGMENT_BYTES };
}

function addToBatch(batches: Map<ShardQueue, QueueEntry[]>, queue: ShardQueue, entry: QueueEntry): void {
  const batch = batches.get(queue);
  if (batch === undefined) batches.set(queue, [entry]);
  else batch.push(entry);
}
