import { ConsumerUse } from './consumer-use.js';
import { Deque } from './deque.js';
import { IdWindow } from './id-window.js';
import { bodySize, type QueueLifecycle } from './lifecycle.js';
import { PriorityLanes } from './priority.js';
import { PAGING, PagedBacklog, type Paging } from './paged-backlog.js';
import { BlockArena, storedMessage } from './block-arena.js';
import type { PagedOut } from '../store/recover.js';
import type { ChannelSlot } from './channel-limits.js';
import type { StreamCursor } from './stream-cursor.js';
import { StreamLog, type Retention, type StreamRecord } from './stream-log.js';

/** A message as a shard keeps it: its block, copied out of the ring once. */
export interface StoredMessage {
  block: Buffer;
  /**
   * The whole buffer the block lies in, as a view (one per buffer: BlockArena
   * counts by it as each entry comes and goes; reading block.buffer costs a
   * call into V8's runtime), and where the block starts in it: for word-wise
   * copies out of it (copyWords).
   */
  view: DataView;
  at: number;
}

/** One queue's reference to a message; a fanout shares the message between entries. */
export interface QueueEntry {
  message: StoredMessage;
  id: number;
  redelivered: boolean;
  /** on disk in the queue's store (a persistent message in a durable queue): its ack is recorded there */
  persistent: boolean;
  /** when it expires at the head of its queue, ms since the epoch; 0: never (lifecycle.ts) */
  expiresAt: number;
  /** times it came back to a quorum queue (x-delivery-count; quorum.ts) */
  returns: number;
  /** while unacked: the consumer whose prefetch it counts against (null for basic.get, or once that consumer went) */
  consumer: Consumer | null;
}

/**
 * What a stream's unacked entry holds in place of a message: the record stays
 * in the log, and a consumer that holds whole chunks unacked (beyond its
 * prefetch, as RabbitMQ hands them out) must not hold their bodies as well.
 * RabbitMQ counts no unacked messages or bytes for a stream either.
 */
const STREAM_DELIVERY: StoredMessage = storedMessage(Buffer.alloc(0));

/**
 * Per-queue publisher flow control: a queue with consumers that holds more than
 * this many ready messages (or bytes) is congested, and its publishers wait
 * until it falls below half. A queue nobody reads fills freely, as in RabbitMQ,
 * up to the memory alarm.
 */
const CONGESTED_MESSAGES = 10_000;
const CONGESTED_BYTES = 64 * 1024 * 1024;
/**
 * A congested queue whose consumers take nothing for this long fills freely
 * too, until one of them takes a message: RabbitMQ does not hold publishers
 * back for a queue's length, and a consumer that acks only once its publisher
 * is done (or never) would otherwise wait on a publisher that waits on it.
 */
export const STALL_MS = 1000;

/**
 * What a ready entry costs in the V8 heap besides its block's bytes: the entry,
 * the StoredMessage, the Buffer object and the deque slot. Measured: 1M
 * one-byte messages through ShardQueue grow heapUsed by 185-200 bytes each.
 */
export const ENTRY_OVERHEAD = 200;

/**
 * What an unacked entry costs in the V8 heap besides its block's bytes.
 * Measured: 1M empty messages unacked to one consumer grow heapUsed by 250
 * bytes each (inline shard).
 */
export const UNACKED_OVERHEAD = 250;

/** What an empty ShardQueue costs in the V8 heap. Measured: 10,000 of them grow heapUsed by 1,476 bytes each. */
export const EMPTY_QUEUE_BYTES = 1500;

/** A shard's messages in memory: what the ready ones cost, which queues' congestion changed, and the buffers their blocks hold. */
export class Backlog {
  /** ready entries in memory, in all queues (paged-out ones, on disk only, are not: see PagedBacklog) */
  entries = 0;
  /** what they cost: block bytes plus ENTRY_OVERHEAD each */
  bytes = 0;
  /** delivered entries awaiting their ack, in memory as ready ones are */
  unackedEntries = 0;
  /** what they cost: block bytes plus UNACKED_OVERHEAD each */
  unackedBytes = 0;
  /** queues whose `congested` flipped since the runner last told the acceptor */
  readonly flowChanged = new Set<ShardQueue>();
  /** congested queues: their consumers are watched for a stall (STALL_MS) */
  readonly congested = new Set<ShardQueue>();
  /** queues whose consumers stalled while congested: not congested until one takes a message */
  readonly stalled = new Set<ShardQueue>();
  /** counts what every entry in memory, ready or unacked, holds of its block's buffer */
  readonly blocks: BlockArena;

  constructor(minPassBytes?: number) {
    this.blocks = new BlockArena(minPassBytes);
  }

  /** What the entries in memory, ready or unacked, cost: their blocks and their heap. */
  get heldBytes(): number {
    return this.bytes + this.unackedBytes;
  }

  /** What the entries in memory, ready or unacked, cost in the V8 heap. */
  get heapBytes(): number {
    return this.entries * ENTRY_OVERHEAD + this.unackedEntries * UNACKED_OVERHEAD;
  }

  /**
   * End of a batch: a stalled queue whose consumers took a message holds its
   * publishers back again (if still over its mark); a congested one whose
   * consumers took nothing for STALL_MS stops doing so.
   */
  sweepStalls(now: number): void {
    for (const queue of this.stalled) queue.resumeIfTaken();
    for (const queue of this.congested) queue.stallIfIdle(now);
  }

  /** When a congested queue's stall is due (ms since the epoch); Infinity: none congested. */
  nextStallCheck(): number {
    let next = Infinity;
    for (const queue of this.congested) if (queue.stallCheckAt < next) next = queue.stallCheckAt;
    return next;
  }

  /** A deleted queue is watched no more. */
  forget(queue: ShardQueue): void {
    this.congested.delete(queue);
    this.stalled.delete(queue);
  }
}

/**
 * Deliveries a consumer may have in flight: sent in DELIVER records but not yet
 * written to its connection's output by the acceptor (which returns CREDIT).
 * Bounds what a cancel must take back, and what one consumer holds in the ring.
 */
export const CREDIT_WINDOW = 1024;

export interface Consumer {
  readonly id: number;
  readonly queue: ShardQueue;
  readonly noAck: boolean;
  /** basic.qos global=false when it subscribed; 0 = unlimited */
  readonly prefetch: number;
  /** x-priority on basic.consume: higher ones get messages first, lower ones when those have no room */
  readonly priority: number;
  /** its channel's global prefetch, shared with the channel's consumers on every shard; null: none */
  globalLimit: ChannelSlot | null;
  unacked: number;
  /** false while the acceptor cannot write to the consumer's socket */
  active: boolean;
  /** delivered, oldest first, and not yet credited back by the acceptor (see CREDIT_WINDOW) */
  readonly inFlight: Deque<QueueEntry>;
  /** a stream's consumer: where it reads (null elsewhere) */
  readonly cursor: StreamCursor | null;
}

/** Its deliveries take places under its channel's global limit: it acks, and the channel has one. */
export const takesPlaces = (consumer: Consumer): boolean => consumer.globalLimit !== null && !consumer.noAck;

/** A queue's messages and consumers, owned by one shard. */
export class ShardQueue {
  private readonly ready = new Deque<QueueEntry>();
  /**
   * Requeued entries, sorted by id, delivered before `ready`: every id in it is
   * older than all of `ready`, so this is each message's original position.
   */
  private requeued = new Deque<QueueEntry>();
  private readonly unacked = new IdWindow<QueueEntry>();
  /** what its ready messages in memory take (requeued and paged ones too), for congestion */
  private readyBytes = 0;
  /** what `ready` alone takes: the in-memory window of a paged queue */
  private windowBytes = 0;
  /** past the window, for a queue whose persistent messages are stored: see PagedBacklog */
  private pager: PagedBacklog | null = null;
  private paging = PAGING;
  /** true while publishers into this queue should wait for its consumers */
  congested = false;
  /** congested: when its consumers count as stalled if they take nothing before (0: set at the next sweep) */
  stallCheckAt = 0;
  /** what its consumers had taken (see `taken`) when stallCheckAt was set, or when they stalled */
  private takenAtCheck = 0;
  /** its consumers took nothing for STALL_MS while it was congested: it fills freely until they take one */
  private stalledConsumers = false;
  /** the acceptor was offered this queue's lease and has not given it back (see Shard.offerLease) */
  leased = false;
  /** its high mark (see CONGESTED_MESSAGES); a stored queue's is its paging window. Kept, not derived: updateFlow runs per enqueue */
  private congestMessages = CONGESTED_MESSAGES;
  private congestBytes = CONGESTED_BYTES;
  readonly consumers: Consumer[] = [];
  private nextConsumer = 0;
  private nextId = 1;
  /**
   * Its persistent messages are written to the shard's store (a durable queue
   * in a broker with a data dir); false again once deleted, or the store
   * stopped (unstore).
   */
  stored = false;
  /** its x-arguments (TTL, limits, dead-lettering) and their state; null: none */
  lifecycle: QueueLifecycle | null = null;
  /** its entries may expire: check the head before each delivery */
  timed = false;
  /** x-single-active-consumer: only the earliest consumer still subscribed gets messages */
  singleActiveConsumer = false;
  /** some consumer has an x-priority: `consumers` is sorted by it, highest first (stable) */
  private consumerPriorities = false;
  /** a priority queue (x-max-priority) keeps its ready entries here instead; null: a plain FIFO */
  private lanes: PriorityLanes | null = null;
  /** a stream (x-queue-type stream) keeps its messages here instead, read by its consumers without taking them; null: a queue */
  stream: StreamLog | null = null;
  /** Totals for the management API's message_stats: plain integer increments on the hot path. */
  published = 0;
  /** deliveries to consumers that ack */
  delivered = 0;
  /** deliveries to no-ack consumers */
  deliveredNoAck = 0;
  /** basic.get answers to be acked */
  got = 0;
  /** basic.get answers with no-ack */
  gotNoAck = 0;
  /** basic.get on an empty queue */
  getEmpty = 0;
  /** deliveries and gets of a message that was delivered before */
  redelivered = 0;
  acked = 0;
  /**
   * Body bytes (RabbitMQ's message_bytes count bodies only) and persistent
   * messages, ready (paged-out ones too) and unacked: integer adds where an
   * entry enters or leaves either, read by the management API's stats.
   */
  readyBodyBytes = 0;
  unackedBodyBytes = 0;
  readyPersistent = 0;
  readyPersistentBytes = 0;
  unackedPersistent = 0;
  unackedPersistentBytes = 0;
  /** the share of time it could deliver at once (consumer_capacity): blocked in Shard.deliver, unblocked where a consumer comes or gets room */
  readonly use = new ConsumerUse();
  /** the activity total the last stats read saw, and when it last changed (see Shard.queueStats) */
  activity = 0;
  activeAt = 0;

  constructor(
    readonly id: number,
    readonly name: string,
    private readonly backlog: Backlog,
    /** where its persistent messages live on disk; undefined: nowhere (not durable, or in memory) */
    readonly dir?: string,
  ) {}

  get messageCount(): number {
    if (this.lanes !== null) return this.lanes.length;
    if (this.stream !== null) return this.stream.length;
    return this.ready.length + this.requeued.length + (this.pager === null ? 0 : this.pager.length);
  }

  /**
   * Whether the acceptor could deliver this queue's publishes itself: one
   * active consumer with room under its own prefetch (none on its channel),
   * and no TTL, limit, dead-lettering or priority that a message would have
   * to pass through the queue for. (Empty is checked apart.)
   */
  get leasable(): boolean {
    return this.leaseShaped && underPrefetch(this.consumers[0]);
  }

  /** One consumer, on a channel without a global prefetch, and nothing a message must pass through the queue for: see leasable. */
  private get leaseShaped(): boolean {
    return this.lifecycle === null && this.lanes === null && this.stream === null && this.consumers.length === 1 && this.consumers[0].globalLimit === null;
  }

  /** the id the next message into it gets */
  get nextEntryId(): number {
    return this.nextId;
  }

  get isPriorityQueue(): boolean {
    return this.lanes !== null;
  }

  /** Whether a message with this block would be the next one out (of a priority queue: nothing waits in its lane or above). */
  wouldLead(block: Buffer): boolean {
    return this.lanes === null ? this.messageCount === 0 : this.lanes.wouldLead(block);
  }

  /** Entries rejected together, in the order they are dead-lettered (a priority queue's highest first). */
  rejectionOrder(entries: QueueEntry[]): QueueEntry[] {
    return this.lanes === null ? entries : this.lanes.rejectionOrder(entries);
  }

  /** Makes it a priority queue (at declare, while it is empty): it is never paged (see Shard.openQueue). */
  prioritize(maxPriority: number): void {
    this.lanes = new PriorityLanes(maxPriority);
  }

  /** delivered (or got) and not yet acked, rejected or requeued */
  get unackedCount(): number {
    return this.unacked.size;
  }

  /**
   * `persistent`: it goes to the queue's store (the caller appends it, then calls
   * `appended`). Past a full window a persistent message starts the paged part,
   * and while that is not empty every message goes there, to keep the order.
   */
  enqueue(message: StoredMessage, persistent = false): QueueEntry {
    this.published++;
    const entry: QueueEntry = { message, id: this.nextId++, redelivered: false, persistent, expiresAt: 0, returns: 0, consumer: null };
    const pager = this.pager;
    if (this.lanes !== null) this.lanes.push(entry);
    else if (pager !== null && (pager.length > 0 || (persistent && this.windowFull()))) pager.push(entry);
    else this.pushReady(entry);
    this.account(entry, 1);
    this.countReady(entry, 1);
    return entry;
  }

  /**
   * A publish the acceptor delivered to its one consumer under its lease, as
   * message `id` (Shard.offerLease named the ids): unacked from the start.
   */
  enqueueDelivered(message: StoredMessage, persistent: boolean, id: number): QueueEntry {
    this.published++;
    this.delivered++;
    this.nextId = id + 1;
    const entry: QueueEntry = { message, id, redelivered: false, persistent, expiresAt: 0, returns: 0, consumer: null };
    this.track(entry, this.consumers.length === 1 ? this.consumers[0] : null);
    return entry;
  }

  /**
   * Makes it a stream (at declare, while it is empty); `dropped`: retention
   * dropped the records of offsets [from, to) (the caller forgets them on disk).
   */
  makeStream(retention: Retention, dropped: (from: number, to: number) => void): void {
    this.stream = new StreamLog(retention, {
      held: (message, sign) => this.holdRecord(message, sign),
      counted: (count, bodyBytes) => this.countStreamReady(count, bodyBytes),
      dropped,
    });
  }

  /** Appends a message to its stream at `time` (see StreamLog.append). */
  append(message: StoredMessage, time: number, write?: (record: StreamRecord) => number): StreamRecord {
    this.published++;
    return this.stream!.append(message, time, write);
  }

  /** A stream's record found on disk at declare, in store segment `seq`: it stays there. */
  restoreRecord(seq: number, offset: number, time: number, block: Buffer): void {
    this.stream!.restoreOnDisk(seq, offset, time, block.length, bodySize(block));
  }

  /**
   * A stream's record delivered to `consumer`: unacked under an id of its own
   * (several consumers may hold one record), whose ack frees the consumer's
   * prefetch and nothing else; the record stays in the log, and the entry
   * holds no message (STREAM_DELIVERY).
   */
  deliverRecord(record: StreamRecord, consumer: Consumer): QueueEntry {
    const entry: QueueEntry = { message: STREAM_DELIVERY, id: this.nextId++, redelivered: false, persistent: false, expiresAt: 0, returns: 0, consumer: null };
    this.track(entry, consumer);
    this.delivered++;
    return entry;
  }

  /** A stream's record came into memory (1) or left it (-1): as a ready message's, it counts for the memory alarm. */
  private holdRecord(message: StoredMessage, sign: 1 | -1): void {
    this.backlog.blocks.count(message, sign);
    this.backlog.entries += sign;
    this.backlog.bytes += sign * (message.block.length + ENTRY_OVERHEAD);
  }

  /** Records came into its stream or left it: they count as ready ones, in memory or not. */
  private countStreamReady(count: number, bodyBytes: number): void {
    this.readyBodyBytes += bodyBytes;
    // All of a stored stream's messages are on disk (whatever the store's state now).
    if (this.dir !== undefined) {
      this.readyPersistent += count;
      this.readyPersistentBytes += bodyBytes;
    }
  }

  /** Calls `visit` on each message it holds in memory, ready or unacked, for BlockArena's passes. */
  forEachMessage(visit: (message: StoredMessage) => void): void {
    this.stream?.forEachMessage(visit);
    const entryVisit = (entry: QueueEntry): void => visit(entry.message);
    this.ready.forEach(entryVisit);
    this.requeued.forEach(entryVisit);
    this.lanes?.forEach(entryVisit);
    this.pager?.forEachInMemory(entryVisit);
    for (const entry of this.unacked.values()) if (entry.message !== STREAM_DELIVERY) visit(entry.message);
  }

  /** ready messages that live on disk only (paged out), and their body bytes */
  get pagedOut(): number {
    if (this.stream !== null) return this.stream.pagedOut;
    return this.pager === null ? 0 : this.pager.onDiskCount;
  }

  get pagedOutBytes(): number {
    if (this.stream !== null) return this.stream.pagedOutBodyBytes;
    return this.pager === null ? 0 : this.pager.onDiskBodyBytes;
  }

  /**
   * A stored queue from now on: past the window its persistent messages stay on
   * disk. `nextSeq`, `recovered`, `pagedOut`: see PagedBacklog.
   */
  page(nextSeq: number, recovered: readonly number[], pagedOut: PagedOut | null, paging: Paging = PAGING): void {
    this.paging = paging;
    // A queue that is only behind its consumers should not go to disk and back.
    this.congestMessages = Math.min(CONGESTED_MESSAGES, paging.messages);
    this.congestBytes = Math.min(CONGESTED_BYTES, paging.bytes);
    const account = (entry: QueueEntry, sign: 1 | -1) => this.account(entry, sign);
    // Messages on disk are persistent: a loss takes them from both counts.
    const lost = (count: number, bodyBytes: number) => {
      this.readyBodyBytes -= bodyBytes;
      this.readyPersistent -= count;
      this.readyPersistentBytes -= bodyBytes;
    };
    this.pager = new PagedBacklog(this.dir!, `queue '${this.name}'`, nextSeq, recovered, pagedOut, account, lost, paging.segmentSize);
    if (pagedOut !== null) {
      // Recovered messages left on disk are ready (and persistent) without passing `restore`.
      this.readyBodyBytes += pagedOut.bodyBytes;
      this.readyPersistent += pagedOut.count;
      this.readyPersistentBytes += pagedOut.bodyBytes;
    }
  }

  /**
   * The store took the last enqueued entry with command `seq`. Returns true if
   * it waits in memory for that command's fsync: call `release` after the next.
   */
  appended(entry: QueueEntry, seq: number): boolean {
    return this.pager !== null && this.pager.appended(entry, seq);
  }

  /** Its messages are no longer written to disk (the store stopped or failed): a stream's new records stay in memory. */
  unstore(): void {
    this.stored = false;
    this.stream?.keepInMemory();
  }

  /** The store is durable up to command `durable`: waiting paged messages leave the heap. True if some still wait. */
  release(durable: number): boolean {
    if (this.stream !== null) return this.stream.release(durable);
    return this.pager !== null && this.pager.release(durable);
  }

  /** A message read back from disk at declare: its id and deadline are kept, ids go on after it. */
  restore(message: StoredMessage, id: number, redelivered: boolean, expiresAt: number): QueueEntry {
    const entry: QueueEntry = { message, id, redelivered, persistent: true, expiresAt, returns: 0, consumer: null };
    this.nextId = id + 1;
    if (this.lanes !== null) this.lanes.push(entry);
    else this.pushReady(entry);
    this.account(entry, 1);
    this.countReady(entry, 1);
    return entry;
  }

  /** Recovery found ids up to nextId - 1 on disk, acked ones too: new ids start above them. */
  startIdsAt(nextId: number): void {
    this.nextId = Math.max(this.nextId, nextId);
  }

  /** The next entry to hand out, or undefined. */
  take(): QueueEntry | undefined {
    let entry: QueueEntry | undefined;
    if (this.lanes !== null) entry = this.lanes.shift();
    else if (this.requeued.length > 0) entry = this.requeued.shift();
    else {
      if (this.pager !== null && this.pager.length > 0 && this.windowLow()) this.fill();
      entry = this.ready.shift();
      if (entry !== undefined) this.windowBytes -= entry.message.block.length;
    }
    if (entry !== undefined) {
      this.account(entry, -1);
      this.countReady(entry, -1);
    }
    return entry;
  }

  /** The next entry to hand out, left in place (read back from disk if the window ran dry: its deadline counts). */
  peek(): QueueEntry | undefined {
    if (this.lanes !== null) return this.lanes.peek();
    if (this.requeued.length > 0) return this.requeued.at(0);
    if (this.ready.length === 0 && this.pager !== null && this.pager.length > 0) this.fill();
    return this.ready.at(0);
  }

  private pushReady(entry: QueueEntry): void {
    this.ready.push(entry);
    this.windowBytes += entry.message.block.length;
  }

  private windowFull(): boolean {
    return this.ready.length >= this.paging.messages || this.windowBytes >= this.paging.bytes;
  }

  /** Below half a window: time to read the next half back (never while the window is full). */
  private windowLow(): boolean {
    return this.ready.length <= this.paging.messages / 2 && this.windowBytes <= this.paging.bytes / 2;
  }

  /** Brings messages from past the window into it until it is full or nothing is left. */
  private fill(): void {
    const pager = this.pager!;
    while (!this.windowFull()) {
      const entry = pager.shift(this.paging.messages - this.ready.length, this.paging.bytes - this.windowBytes);
      if (entry === undefined) return;
      this.pushReady(entry);
    }
  }

  /** Records an entry as delivered and awaiting ack. */
  track(entry: QueueEntry, consumer: Consumer | null): void {
    entry.consumer = consumer;
    this.unacked.set(entry.id, entry);
    if (consumer !== null) consumer.unacked++;
    this.countUnacked(entry, 1);
  }

  /** The queue is deleted: its unacked entries leave memory with it (their acks will find no queue). */
  dropUnacked(): void {
    for (const entry of this.unacked.values()) this.countUnacked(entry, -1);
  }

  /** Removes an unacked entry; returns it (undefined if unknown) and frees its consumer's credit. */
  settle(id: number): QueueEntry | undefined {
    const entry = this.unacked.delete(id);
    if (entry === undefined) return undefined;
    if (entry.consumer !== null) {
      entry.consumer.unacked--;
      entry.consumer = null;
      this.use.unblocked();
    }
    this.countUnacked(entry, -1);
    return entry;
  }

  /**
   * Puts entries back at their original position. O(1) per entry when the batch
   * lies wholly after or before what is already requeued (a channel settles in
   * tag order, so a close, recover or nack-multiple does); otherwise one O(n + k)
   * merge. The caller sets `redelivered`.
   */
  requeue(batch: QueueEntry[]): void {
    const k = batch.length;
    if (k === 0) return;
    if (this.lanes !== null) this.lanes.requeue(batch);
    else this.requeueInOrder(batch);
    // After insertion, so that a congestion check counts the whole batch.
    for (let i = 0; i < k; i++) {
      this.account(batch[i], 1);
      this.countReady(batch[i], 1);
    }
  }

  private requeueInOrder(batch: QueueEntry[]): void {
    const k = batch.length;
    if (!ascending(batch)) batch.sort(byId);
    const list = this.requeued;
    if (list.length === 0 || batch[0].id > list.at(list.length - 1)!.id) {
      for (let i = 0; i < k; i++) list.push(batch[i]);
    } else if (batch[k - 1].id < list.at(0)!.id) {
      for (let i = k - 1; i >= 0; i--) list.unshift(batch[i]);
    } else {
      this.requeued = merge(list, batch);
    }
  }

  /**
   * A cancelled consumer's deliveries that never reached its connection go
   * back, in order, as they were (the client never saw them).
   */
  requeueInFlight(consumer: Consumer): void {
    const batch: QueueEntry[] = [];
    // A stream's deliveries stay in its log: they are only let go.
    const requeues = this.stream === null;
    for (let entry = consumer.inFlight.shift(); entry !== undefined; entry = consumer.inFlight.shift()) {
      if (!consumer.noAck) {
        // Skip one the acceptor settled already (basic.recover crossing the cancel).
        if (this.unacked.get(entry.id)?.consumer !== consumer) continue;
        this.settle(entry.id);
      }
      if (requeues) batch.push(entry);
    }
    this.requeue(batch);
  }

  /** Next consumer, round-robin, that may take a message now (a place under its channel's global limit taken: deliver to it); null if none. */
  nextReadyConsumer(): Consumer | null {
    const n = this.consumers.length;
    if (this.singleActiveConsumer) return n > 0 && mayTake(this.consumers[0]) ? this.consumers[0] : null;
    if (this.consumerPriorities) return this.nextByPriority();
    for (let i = 0; i < n; i++) {
      const consumer = this.consumers[(this.nextConsumer + i) % n];
      if (mayTake(consumer)) {
        this.nextConsumer = (this.nextConsumer + i + 1) % n;
        return consumer;
      }
    }
    return null;
  }

  /**
   * With consumer priorities: round-robin among the highest-priority consumers
   * that have room, as RabbitMQ does; lower ones only when all above are full.
   */
  private nextByPriority(): Consumer | null {
    const consumers = this.consumers;
    const n = consumers.length;
    for (let start = 0; start < n; ) {
      let end = start + 1;
      while (end < n && consumers[end].priority === consumers[start].priority) end++;
      const size = end - start;
      const from = this.nextConsumer >= start && this.nextConsumer < end ? this.nextConsumer - start : 0;
      for (let i = 0; i < size; i++) {
        const at = start + ((from + i) % size);
        if (mayTake(consumers[at])) {
          this.nextConsumer = at + 1 < end ? at + 1 : start;
          return consumers[at];
        }
      }
      start = end;
    }
    return null;
  }

  /**
   * Whether some consumer could take a message now (for immediate publishes).
   * A full credit window does not count: the message waits for the socket, not a client.
   */
  hasReadyConsumer(): boolean {
    if (this.singleActiveConsumer) return this.consumers.length > 0 && couldTake(this.consumers[0]);
    for (const consumer of this.consumers) {
      if (couldTake(consumer)) return true;
    }
    return false;
  }

  addConsumer(consumer: Consumer): void {
    if (consumer.priority !== 0 && !this.singleActiveConsumer) this.consumerPriorities = true;
    if (this.consumerPriorities) {
      // after every consumer of the same or a higher priority: the order within a priority is arrival
      let at = this.consumers.length;
      while (at > 0 && this.consumers[at - 1].priority < consumer.priority) at--;
      this.consumers.splice(at, 0, consumer);
    } else this.consumers.push(consumer);
    this.updateFlow();
    this.use.unblocked();
  }

  private account(entry: QueueEntry, sign: 1 | -1): void {
    this.backlog.blocks.count(entry.message, sign);
    const bytes = entry.message.block.length;
    this.readyBytes += sign * bytes;
    this.backlog.entries += sign;
    this.backlog.bytes += sign * (bytes + ENTRY_OVERHEAD);
    if (sign > 0 ? !this.congested && this.consumers.length > 0 : this.congested) this.updateFlow();
  }

  /**
   * An entry became ready (1) or stopped being ready (-1): its body and
   * persistence counts. Apart from `account`, which follows the heap (a paged
   * out message leaves it but stays ready).
   */
  private countReady(entry: QueueEntry, sign: 1 | -1): void {
    const size = sign * bodySize(entry.message.block);
    this.readyBodyBytes += size;
    if (entry.persistent) {
      this.readyPersistent += sign;
      this.readyPersistentBytes += size;
    }
  }

  private countUnacked(entry: QueueEntry, sign: 1 | -1): void {
    this.backlog.unackedEntries += sign;
    if (entry.message === STREAM_DELIVERY) {
      // Only the entry is held (a consumer may hold thousands: the memory alarm counts them).
      this.backlog.unackedBytes += sign * UNACKED_OVERHEAD;
      return;
    }
    this.backlog.blocks.count(entry.message, sign);
    this.backlog.unackedBytes += sign * (entry.message.block.length + UNACKED_OVERHEAD);
    const size = sign * bodySize(entry.message.block);
    this.unackedBodyBytes += size;
    if (entry.persistent) {
      this.unackedPersistent += sign;
      this.unackedPersistentBytes += size;
    }
  }

  /**
   * Congested past the high mark while it has consumers that take messages;
   * clear below half, or without (taking) consumers. A queue whose one consumer
   * takes without a limit of its own (no-ack, or no prefetch) clears only once
   * empty: then the shard offers its lease (Shard.offerLease) before its
   * publishers go on, and their publishes go straight to the consumer
   * (direct-leases.ts), about half the work of a trip through the queue. Cleared
   * at half, a publisher quicker than its consumer would fill it again before
   * it emptied, and it would never be leased again.
   */
  private updateFlow(): void {
    const count = this.messageCount;
    // A stream's consumers take nothing out: its length says nothing of them.
    const congested = this.stream === null && this.consumers.length > 0 && !this.stalledConsumers && (this.congested
      ? count >= this.congestMessages / 2 || this.readyBytes >= this.congestBytes / 2 || (count > 0 && this.clearsOnlyEmpty)
      : count > this.congestMessages || this.readyBytes > this.congestBytes);
    if (congested === this.congested) return;
    this.congested = congested;
    this.backlog.flowChanged.add(this);
    if (!congested) this.backlog.congested.delete(this);
    else {
      this.stallCheckAt = 0;
      this.backlog.congested.add(this);
    }
  }

  /** Its one consumer takes without a limit of its own, and nothing keeps it from a lease (see updateFlow). */
  private get clearsOnlyEmpty(): boolean {
    if (!this.leaseShaped) return false;
    const consumer = this.consumers[0];
    return consumer.noAck || consumer.prefetch === 0;
  }

  /** Messages its consumers (and basic.get) took: deliveries, gets and acks. */
  private taken(): number {
    return this.delivered + this.deliveredNoAck + this.got + this.gotNoAck + this.acked;
  }

  /** Congested: stalls once its consumers took nothing for STALL_MS (Backlog.sweepStalls). */
  stallIfIdle(now: number): void {
    const taken = this.taken();
    if (this.stallCheckAt === 0 || taken !== this.takenAtCheck) {
      this.stallCheckAt = now + STALL_MS;
      this.takenAtCheck = taken;
    } else if (now >= this.stallCheckAt) {
      this.stalledConsumers = true;
      this.backlog.stalled.add(this);
      this.updateFlow();
    }
  }

  /** Stalled: congested again (if over its mark) once something was taken. */
  resumeIfTaken(): void {
    if (this.taken() === this.takenAtCheck) return;
    this.stalledConsumers = false;
    this.backlog.stalled.delete(this);
    this.updateFlow();
  }

  removeConsumer(consumer: Consumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (i === 0 && this.singleActiveConsumer) this.activateNext();
    if (this.consumers.length === 0) this.updateFlow();
    if (this.nextConsumer >= this.consumers.length) this.nextConsumer = 0;
    // Its unacked entries stay acknowledgeable; they no longer count against anyone.
    for (const entry of this.unacked.values()) if (entry.consumer === consumer) entry.consumer = null;
    consumer.cursor?.close();
  }

  /**
   * The active consumer of a single-active-consumer queue left: the waiting one
   * with the highest x-priority takes over, the earliest of those, as in
   * RabbitMQ 3.10 (priority does not unseat an active one, only picks the next).
   */
  private activateNext(): void {
    const consumers = this.consumers;
    let best = 0;
    for (let i = 1; i < consumers.length; i++) if (consumers[i].priority > consumers[best].priority) best = i;
    if (best > 0) consumers.unshift(...consumers.splice(best, 1));
  }

  /**
   * A simulated broker restart (faults.restart): drops the ready messages
   * `keep` refuses, in memory only (on-disk ones are persistent); the rest keep
   * their order. Returns how many went.
   */
  dropReady(keep: (entry: QueueEntry) => boolean): number {
    let dropped = 0;
    if (this.stream !== null) return 0; // every message of a stream is kept, as RabbitMQ writes them all to disk
    const sift = (list: Deque<QueueEntry> | PriorityLanes, window: boolean) => {
      const all: QueueEntry[] = [];
      for (let entry = list.shift(); entry !== undefined; entry = list.shift()) all.push(entry);
      for (const entry of all) {
        if (keep(entry)) {
          list.push(entry);
          continue;
        }
        dropped++;
        if (window) this.windowBytes -= entry.message.block.length;
        this.account(entry, -1);
        this.countReady(entry, -1);
      }
    };
    if (this.lanes !== null) sift(this.lanes, false);
    sift(this.requeued, false);
    sift(this.ready, true);
    if (this.pager !== null) dropped += this.pager.dropTransients((entry) => this.countReady(entry, -1));
    return dropped;
  }

  /**
   * Drops ready messages (not unacked ones); returns how many. `stored`: the
   * queue's store, which is told of each persistent one (`ack`) and of the
   * paged-out segments that go whole (`dropFrom`); without it (a queue deleted,
   * or not stored) nothing is read back from disk.
   */
  purge(stored?: { ack(id: number): void; dropFrom(segment: number): void }): number {
    const count = this.messageCount;
    if (this.stream !== null) this.stream.clear();
    else if (this.pager !== null) {
      if (stored === undefined) this.pager.discard();
      else this.pager.purge((id) => stored.ack(id), (segment) => stored.dropFrom(segment));
    }
    for (let entry = this.take(); entry !== undefined; entry = this.take()) if (stored !== undefined && entry.persistent) stored.ack(entry.id);
    // The pager dropped its part without `take`: nothing is ready now.
    this.readyBodyBytes = this.readyPersistent = this.readyPersistentBytes = 0;
    return count;
  }
}

/**
 * Whether the consumer takes the next message: it has credit and room under
 * its prefetch, and its channel's global limit lets it (taking a place there
 * when it acks: the caller delivers to it, or gives the place back).
 */
function mayTake(consumer: Consumer): boolean {
  if (consumer.inFlight.length >= CREDIT_WINDOW || !underPrefetch(consumer)) return false;
  return consumer.globalLimit === null || consumer.globalLimit.take(!consumer.noAck);
}

/** Room under both prefetch limits, taking nothing. */
function couldTake(consumer: Consumer): boolean {
  return underPrefetch(consumer) && (consumer.globalLimit === null || consumer.globalLimit.hasRoom());
}

function underPrefetch(consumer: Consumer): boolean {
  return consumer.active && (consumer.prefetch === 0 || consumer.unacked < consumer.prefetch);
}

const byId = (a: QueueEntry, b: QueueEntry): number => a.id - b.id;

function ascending(batch: QueueEntry[]): boolean {
  for (let i = 1; i < batch.length; i++) if (batch[i - 1].id > batch[i].id) return false;
  return true;
}

/** Two id-sorted runs as one. */
function merge(list: Deque<QueueEntry>, batch: QueueEntry[]): Deque<QueueEntry> {
  const merged = new Deque<QueueEntry>();
  let i = 0;
  for (let entry = list.shift(); entry !== undefined; entry = list.shift()) {
    while (i < batch.length && batch[i].id < entry.id) merged.push(batch[i++]);
    merged.push(entry);
  }
  while (i < batch.length) merged.push(batch[i++]);
  return merged;
}
