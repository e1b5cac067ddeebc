import { Deque } from './deque.js';

/** A message as a shard keeps it: its block, copied out of the ring once. */
export interface StoredMessage {
  block: Buffer;
}

/** One queue's reference to a message; a fanout shares the message between entries. */
export interface QueueEntry {
  message: StoredMessage;
  id: number;
  redelivered: boolean;
}

/**
 * Per-queue publisher flow control: a queue with consumers that holds more than
 * this many ready messages (or bytes) is congested, and its publishers wait
 * until it falls below half. A queue nobody reads fills freely, as in RabbitMQ,
 * up to the memory alarm.
 */
const CONGESTED_MESSAGES = 10_000;
const CONGESTED_BYTES = 64 * 1024 * 1024;

/**
 * What a ready entry costs in the V8 heap besides its block's bytes: the entry,
 * the StoredMessage, the Buffer object and the deque slot. Measured: 1M
 * one-byte messages through ShardQueue grow heapUsed by 185-200 bytes each.
 */
export const ENTRY_OVERHEAD = 200;

/** A shard's ready messages: what they cost, and which queues' congestion changed. */
export class Backlog {
  /** ready entries in all queues */
  entries = 0;
  /** what they cost: block bytes plus ENTRY_OVERHEAD each */
  bytes = 0;
  /** queues whose `congested` flipped since the runner last told the acceptor */
  readonly flowChanged = new Set<ShardQueue>();
}

export interface Consumer {
  readonly id: number;
  readonly queue: ShardQueue;
  readonly noAck: boolean;
  /** 0 = unlimited */
  readonly prefetch: number;
  unacked: number;
  /** false while the acceptor cannot write to the consumer's socket, or channel.flow is off */
  active: boolean;
}

interface Unacked {
  entry: QueueEntry;
  consumer: Consumer | null;
}

/** A queue's messages and consumers, owned by one shard. */
export class ShardQueue {
  private readonly ready = new Deque<QueueEntry>();
  /** Requeued entries, sorted by id, delivered before `ready` so order is kept. */
  private requeued: QueueEntry[] = [];
  private readonly unacked = new Map<number, Unacked>();
  private readyBytes = 0;
  /** true while publishers into this queue should wait for its consumers */
  congested = false;
  readonly consumers: Consumer[] = [];
  private nextConsumer = 0;
  private nextId = 1;

  constructor(
    readonly id: number,
    readonly name: string,
    private readonly backlog: Backlog,
  ) {}

  get messageCount(): number {
    return this.ready.length + this.requeued.length;
  }

  enqueue(message: StoredMessage): void {
    const entry = { message, id: this.nextId++, redelivered: false };
    this.ready.push(entry);
    this.account(entry, 1);
  }

  /** The next entry to hand out, or undefined. */
  take(): QueueEntry | undefined {
    const entry = this.requeued.length > 0 ? this.requeued.shift() : this.ready.shift();
    if (entry !== undefined) this.account(entry, -1);
    return entry;
  }

  /** Records an entry as delivered and awaiting ack. */
  track(entry: QueueEntry, consumer: Consumer | null): void {
    this.unacked.set(entry.id, { entry, consumer });
    if (consumer !== null) consumer.unacked++;
  }

  /** Removes an unacked entry; returns it (undefined if unknown) and frees its consumer's credit. */
  settle(id: number): QueueEntry | undefined {
    const unacked = this.unacked.get(id);
    if (unacked === undefined) return undefined;
    this.unacked.delete(id);
    if (unacked.consumer !== null) unacked.consumer.unacked--;
    return unacked.entry;
  }

  requeue(entry: QueueEntry): void {
    entry.redelivered = true;
    this.account(entry, 1);
    const list = this.requeued;
    let i = list.length;
    while (i > 0 && list[i - 1].id > entry.id) i--;
    list.splice(i, 0, entry);
  }

  /** Next consumer, round-robin, that may take a message now; null if none. */
  nextReadyConsumer(): Consumer | null {
    const n = this.consumers.length;
    for (let i = 0; i < n; i++) {
      const consumer = this.consumers[(this.nextConsumer + i) % n];
      if (hasCredit(consumer)) {
        this.nextConsumer = (this.nextConsumer + i + 1) % n;
        return consumer;
      }
    }
    return null;
  }

  /** Whether some consumer could take a message now (for immediate publishes). */
  hasReadyConsumer(): boolean {
    for (const consumer of this.consumers) {
      if (hasCredit(consumer)) return true;
    }
    return false;
  }

  addConsumer(consumer: Consumer): void {
    this.consumers.push(consumer);
    this.updateFlow();
  }

  private account(entry: QueueEntry, sign: 1 | -1): void {
    const bytes = entry.message.block.length;
    this.readyBytes += sign * bytes;
    this.backlog.entries += sign;
    this.backlog.bytes += sign * (bytes + ENTRY_OVERHEAD);
    if (sign > 0 ? !this.congested && this.consumers.length > 0 : this.congested) this.updateFlow();
  }

  /** Congested past the high mark while it has consumers; clear below half, or without consumers. */
  private updateFlow(): void {
    const count = this.messageCount;
    const congested = this.consumers.length > 0 && (this.congested
      ? count >= CONGESTED_MESSAGES / 2 || this.readyBytes >= CONGESTED_BYTES / 2
      : count > CONGESTED_MESSAGES || this.readyBytes > CONGESTED_BYTES);
    if (congested === this.congested) return;
    this.congested = congested;
    this.backlog.flowChanged.add(this);
  }

  removeConsumer(consumer: Consumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (this.consumers.length === 0) this.updateFlow();
    if (this.nextConsumer >= this.consumers.length) this.nextConsumer = 0;
    // Its unacked entries stay acknowledgeable; they no longer count against anyone.
    for (const unacked of this.unacked.values()) if (unacked.consumer === consumer) unacked.consumer = null;
  }

  /** Drops ready messages (not unacked ones); returns how many. */
  purge(): number {
    const count = this.messageCount;
    for (let entry = this.take(); entry !== undefined; entry = this.take());
    return count;
  }
}

function hasCredit(consumer: Consumer): boolean {
  return consumer.active && (consumer.prefetch === 0 || consumer.unacked < consumer.prefetch);
}
