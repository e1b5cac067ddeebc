/**
 * A shard's queue features that depend on time and size: message TTL, queue
 * TTL (x-expires) and length limits. The shard calls in at a few seams (a
 * publish, a delivery, the end of each batch); queues without arguments and
 * messages without an expiration cost a null check.
 *
 * Deadlines: a timed queue's next one is its head's expiry, or when it will
 * have been unused for x-expires; the shard's next is the earliest of its
 * timed queues'. The runner sleeps until then at most; no timer per message.
 */
import type { QueueConfig } from '../vhost/queue-arguments.js';
import type { DeathReason } from './dead-letter.js';
import type { QueueEntry, ShardQueue } from './queue.js';
import { readU32LE } from '../protocol/uint32.js';

/** A queue's arguments and the state they need in the shard. */
export class QueueLifecycle {
  /** the last consume, cancel, basic.get or redeclare (for x-expires) */
  lastUsed: number;
  /** the acceptor was told the queue expired; it deletes it (or a consumer came) */
  expiryReported = false;
  readonly limited: boolean;
  /** a quorum queue: deliveries carry x-delivery-count (quorum.ts) */
  readonly quorum: boolean;
  /** a quorum queue with reject-publish went over its limit: publishes are refused until it is at 80% (see refuses) */
  private quorumBlocked = false;

  constructor(
    readonly config: QueueConfig,
    now: number,
  ) {
    this.lastUsed = now;
    this.limited = config.maxLength !== undefined || config.maxLengthBytes !== undefined;
    this.quorum = config.type === 'quorum';
  }


  /** Whether one more message of `bodySize` bytes would pass a limit (RabbitMQ's will_overflow). */
  wouldOverflow(queue: ShardQueue, bodySize: number): boolean {
    const { maxLength, maxLengthBytes } = this.config;
    return (maxLength !== undefined && queue.messageCount + 1 > maxLength) || (maxLengthBytes !== undefined && queue.readyBodyBytes + bodySize > maxLengthBytes);
  }

  /**
   * reject-publish: whether a publish of `bodySize` bytes is refused. A classic
   * queue refuses one that would pass a limit. A quorum queue (rabbit_fifo) takes
   * the one that goes over, then refuses publishes until it is back at 80% of
   * its limits.
   */
  refuses(queue: ShardQueue, bodySize: number): boolean {
    if (!this.quorum) return this.wouldOverflow(queue, bodySize);
    if (this.quorumBlocked && this.belowSoftLimit(queue)) this.quorumBlocked = false;
    if (this.quorumBlocked) return true;
    this.quorumBlocked = this.wouldOverflow(queue, bodySize);
    return false;
  }

  private belowSoftLimit(queue: ShardQueue): boolean {
    const { maxLength, maxLengthBytes } = this.config;
    return (maxLength === undefined || queue.messageCount <= Math.trunc(maxLength * 0.8)) && (maxLengthBytes === undefined || queue.readyBodyBytes <= Math.trunc(maxLengthBytes * 0.8));
  }

  overLimit(queue: ShardQueue): boolean {
    const { maxLength, maxLengthBytes } = this.config;
    return (maxLength !== undefined && queue.messageCount > maxLength) || (maxLengthBytes !== undefined && queue.readyBodyBytes > maxLengthBytes);
  }
}

/** The body size of a message block. */
export function bodySize(block: Buffer): number {
  const routingKeyAt = 1 + block[0];
  const propsLenAt = routingKeyAt + 1 + block[routingKeyAt];
  return block.length - (propsLenAt + 8 + readU32LE(block, propsLenAt));
}

/** What the shard does with a message that leaves its queue for good, and with a queue that expired. */
export interface LifecycleHost {
  drop(queue: ShardQueue, entry: QueueEntry, reason: DeathReason): void;
  queueExpired(queue: ShardQueue): void;
  /** whether its output ring is full (dead letters wait while it is) */
  readonly outputBacklogged: boolean;
}

/**
 * Expired messages that an end-of-batch sweep, or a delivery pass over one
 * queue, drops at most; and none while the shard's output ring is full. A
 * backlog that expires at once (a delay queue's) goes a slice a turn, so the
 * shard serves its other records in between and its dead letters do not pile
 * up in the rings' overflow. 3M empty messages dead-lettered on expiry held an
 * inline broker for 100 s and grew it to 5.8 GB; a slice at a time, other
 * clients are answered in 20-30 ms meanwhile, at about 60k dead letters a
 * second, under 1.3 GB.
 */
export const EXPIRY_SLICE = 256;

/** Whether the queue has a length limit with x-overflow drop-head. */
function dropsHead(queue: ShardQueue): boolean {
  const lc = queue.lifecycle;
  return lc !== null && lc.limited && lc.config.overflow === 'drop-head';
}

/** The shard's timed queues and its queues over a length limit, handled at the end of a batch. */
export class Lifecycles {
  /** queues with a TTL, an x-expires or messages with an expiration */
  private readonly timed = new Set<ShardQueue>();
  /** queues with a drop-head limit that got messages this batch */
  private readonly grown = new Set<ShardQueue>();
  /**
   * No timed queue has anything to do before this (ms since the epoch): the
   * earliest deadline as of the last sweep, lowered by every new one since.
   * Sweeping only then keeps a shard of many timed queues cheap per batch.
   */
  private due = Infinity;
  /** expired messages dropped in this sweep */
  private dropped = 0;

  constructor(private readonly host: LifecycleHost) {}

  /** The queue has deadlines from now on (its arguments, or a message with an expiration). */
  watch(queue: ShardQueue): void {
    queue.timed = true;
    this.timed.add(queue);
    const lc = queue.lifecycle;
    if (lc !== null && lc.config.expires !== undefined) this.soon(lc.lastUsed + lc.config.expires);
  }

  /** Something may happen at `at` (an entry's expiry, a queue's x-expires). */
  soon(at: number): void {
    if (at !== 0 && at < this.due) this.due = at;
  }

  /** A consume, cancel, basic.get or redeclare: the queue's x-expires starts again. */
  used(queue: ShardQueue, now: number): void {
    const lc = queue.lifecycle;
    if (lc === null) return;
    lc.lastUsed = now;
    lc.expiryReported = false;
    if (lc.config.expires !== undefined) this.soon(now + lc.config.expires);
  }

  /** It got messages: over a drop-head limit, its head goes at the batch's end (reject-publish refused them). */
  grew(queue: ShardQueue): void {
    if (dropsHead(queue)) this.grown.add(queue);
  }

  /**
   * Unacked messages came back: over a drop-head limit, its head goes now, before
   * any delivery, as in RabbitMQ's requeue_and_run. With reject-publish they stay.
   */
  requeued(queue: ShardQueue): void {
    if (dropsHead(queue)) this.trim(queue);
  }

  deleted(queue: ShardQueue): void {
    this.timed.delete(queue);
    this.grown.delete(queue);
  }

  /**
   * Drops expired heads: before a delivery (strictly before `now`, so that a
   * TTL of 0 still reaches a consumer waiting in the batch it was published in),
   * or at the end of a batch and for basic.get (`now` included). At most `max`,
   * and with a limit none while the output is backlogged: true when it stopped
   * with expired heads left.
   */
  expireHead(queue: ShardQueue, now: number, inclusive: boolean, max = Infinity): boolean {
    for (let n = 0, head = queue.peek(); head !== undefined && head.expiresAt !== 0; head = queue.peek(), n++) {
      if (inclusive ? head.expiresAt > now : head.expiresAt >= now) {
        this.soon(head.expiresAt);
        return false;
      }
      if (n >= max || (max !== Infinity && this.host.outputBacklogged)) return true;
      this.host.drop(queue, queue.take()!, 'expired');
      this.dropped++;
    }
    return false;
  }

  private trimHead(queue: ShardQueue): void {
    // A policy may have changed the limit or the overflow since the queue grew.
    if (dropsHead(queue)) this.dropOverLimit(queue);
  }

  /** Drops the queue's head while it is over its limits. */
  private dropOverLimit(queue: ShardQueue): void {
    while (queue.lifecycle!.overLimit(queue)) this.host.drop(queue, queue.take()!, 'maxlen');
    if (queue.timed) this.headChanged(queue);
  }

  /** Entries were taken from a timed queue: its new head's expiry may come before `due`. */
  headChanged(queue: ShardQueue): void {
    const head = queue.peek();
    if (head !== undefined) this.soon(head.expiresAt);
  }

  /** Whether the queue got messages this batch and may be over its drop-head limit. */
  grewThisBatch(queue: ShardQueue): boolean {
    return this.grown.has(queue);
  }

  /** Drops the queue's head while it is over its limit (now, not at the end of the batch). */
  trim(queue: ShardQueue): void {
    this.grown.delete(queue);
    this.trimHead(queue);
  }

  /**
   * A policy changed the queue's settings. Over a new limit, its head goes now
   * if it dropped heads before or does from now on: RabbitMQ applies the limits
   * under the old overflow, then the new overflow (3.10.8: reject-publish to
   * drop-head and back both trim; reject-publish to reject-publish does not).
   */
  reconfigured(queue: ShardQueue, droppedHeads: boolean): void {
    const lc = queue.lifecycle;
    if (lc === null || !lc.limited || !(droppedHeads || lc.config.overflow === 'drop-head')) return;
    this.grown.delete(queue);
    this.dropOverLimit(queue);
  }

  /** End of a batch: trims queues over a limit, expires heads, reports unused queues past x-expires. */
  settle(now: number): void {
    for (const queue of this.grown) this.trimHead(queue);
    this.grown.clear();
    if (now < this.due) return;
    this.dropped = 0;
    for (const queue of this.timed) {
      // Expired ones left: the rest of the sweep in the next turns (its deadline has passed).
      if (this.expireHead(queue, now, true, EXPIRY_SLICE - this.dropped)) break;
      const lc = queue.lifecycle;
      const expires = lc?.config.expires;
      if (expires === undefined || lc!.expiryReported || queue.consumers.length > 0) continue;
      if (now >= lc!.lastUsed + expires) {
        lc!.expiryReported = true;
        this.host.queueExpired(queue);
      }
    }
    this.due = this.earliest();
  }

  /** The earliest deadline of the timed queues (ms since the epoch), Infinity when none. */
  nextDeadline(): number {
    return this.due;
  }

  private earliest(): number {
    let next = Infinity;
    for (const queue of this.timed) {
      const head = queue.peek();
      if (head !== undefined && head.expiresAt !== 0 && head.expiresAt < next) next = head.expiresAt;
      const lc = queue.lifecycle;
      const expires = lc?.config.expires;
      if (expires !== undefined && !lc!.expiryReported && queue.consumers.length === 0) next = Math.min(next, lc!.lastUsed + expires);
    }
    return next;
  }
}
