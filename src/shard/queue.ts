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
 * Ready messages across a shard's queues, for publisher flow control. Only
 * queues with consumers count towards messages/bytes: a queue nobody reads
 * may fill up as in RabbitMQ, while consumers that fall behind slow their
 * publishers down. totalBytes counts every queue, as a memory bound.
 */
export class Backlog {
  messages = 0;
  bytes = 0;
  totalBytes = 0;
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
    if (this.consumers.length === 0) this.countInBacklog(1);
    this.consumers.push(consumer);
  }

  private account(entry: QueueEntry, sign: 1 | -1): void {
    const bytes = sign * entry.message.block.length;
    this.readyBytes += bytes;
    this.backlog.totalBytes += bytes;
    if (this.consumers.length > 0) {
      this.backlog.messages += sign;
      this.backlog.bytes += bytes;
    }
  }

  /** A queue's ready messages enter (or leave) the backlog when it gains (or loses) its consumers. */
  private countInBacklog(sign: 1 | -1): void {
    this.backlog.messages += sign * this.messageCount;
    this.backlog.bytes += sign * this.readyBytes;
  }

  removeConsumer(consumer: Consumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (this.consumers.length === 0) this.countInBacklog(-1);
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
