/**
 * Leases (docs/ARCHITECTURE.md, "Leases"). While a queue is empty and its one
 * consumer has room for more, its shard offers the acceptor a lease on it;
 * holding it, the acceptor delivers the queue's publishes itself: basic.publish
 * to basic.deliver in one turn of this thread. For a no-ack consumer there is
 * no ring record and no wake-up of the shard, which hears only the counts (a
 * DIRECT record that rides along with its next wake-up). For a consumer that
 * acks, the publish still goes to the shard, which keeps it as unacked under
 * the id the lease gave it, but the delivery does not wait for the shard: the
 * lease names the queue's next ids and how many deliveries the consumer's
 * prefetch leaves room for; acks of what it delivered give room back, and it
 * ends when room runs out. Acks of leased queues reach the shard quietly too.
 *
 * Order makes it safe. An offer names how many of this link's records the
 * shard had handled; it is taken only if no publish or requeue was written
 * after that (so the queue is still empty) and this thread's own view agrees:
 * the consumer is still the queue's only one, on an open channel that is not
 * paused and has no channel-wide prefetch. A lease is given back with a
 * LEASE_END record written before the record that ends it: a publish that
 * must pass through the queue (immediate, a dead letter, the management API),
 * a requeue into it, another consumer, the consumer's cancel. A paused or
 * closing channel, a global prefetch or used-up room ends it at the next
 * publish, which then goes through the shard.
 */
import type { ConsumerRef } from './consumer-registry.js';
import type { RingWriter } from '../shard/ring-writer.js';
import * as R from '../shard/records.js';
import { writeU32LE } from '../protocol/uint32.js';

/** A lease held: where the queue's publishes go, and for a consumer that acks, their ids and how many more it may take. */
interface Lease {
  readonly consumer: ConsumerRef;
  /** the first id it gave: an ack from here on frees room it took */
  readonly firstId: number;
  nextId: number;
  room: number;
}

export class DirectLeases {
  /** queue id -> its lease */
  private readonly held = new Map<number, Lease>();
  /** queue id -> deliveries made since the last DIRECT record */
  private readonly delivered = new Map<number, number>();
  /** the writer's record count after the last publish or requeue: an offer made before it is stale */
  private fence = 0;
  /** publishes delivered under this link's leases so far */
  deliveries = 0;

  constructor(private readonly writer: RingWriter) {}

  get size(): number {
    return this.held.size;
  }

  holds(queueId: number): boolean {
    return this.held.has(queueId);
  }

  /**
   * The consumer a publish into `queueId` goes to directly; undefined: it goes
   * through the shard (a lease whose channel is paused or closing is given back).
   */
  consumerFor(queueId: number): ConsumerRef | undefined {
    const lease = this.held.get(queueId);
    if (lease === undefined) return undefined;
    if (lease.room > 0 && deliverable(lease.consumer)) return lease.consumer;
    this.end(queueId);
    return undefined;
  }

  /** A publish into `queueId` was delivered under its lease to a no-ack consumer. */
  countDelivery(queueId: number): void {
    this.deliveries++;
    this.delivered.set(queueId, (this.delivered.get(queueId) ?? 0) + 1);
  }

  /** A publish into `queueId` is delivered under its lease to a consumer that acks: its message id. */
  takeId(queueId: number): number {
    const lease = this.held.get(queueId)!;
    this.deliveries++;
    lease.room--;
    return lease.nextId++;
  }

  /**
   * Message `msgId` of `queueId` was acked or dropped: if this lease gave it,
   * its consumer has room for one more. (One the shard delivered before is
   * left out: the offer's room had counted it, but so might another
   * consumer's on the same channel, which this cannot tell apart.)
   */
  settled(queueId: number, msgId: number): void {
    const lease = this.held.get(queueId);
    if (lease !== undefined && msgId >= lease.firstId) lease.room++;
  }

  /** Whether every queue of `entries`, (queueId, msgId) flat, is leased. */
  holdsAll(entries: readonly number[]): boolean {
    for (let i = 0; i < entries.length; i += 2) if (!this.held.has(entries[i])) return false;
    return true;
  }

  /**
   * The shard offers `queueId`'s lease for `consumer` (undefined: no longer
   * known here), having handled `position` of this link's records, with the
   * queue's next message id and the consumer's `room` (R.UNLIMITED_ROOM: no
   * prefetch). Taken or declined; a declined offer is answered with LEASE_END,
   * so the shard may offer again. One that was only stale rings: the records
   * after it may leave the queue empty again, and the next offer should be
   * here before the next publish, not wait for it. (One declined for the
   * consumer's sake is quiet: the shard would offer again at once, and the
   * record that changes the consumer wakes it anyway.)
   */
  offered(queueId: number, consumer: ConsumerRef | undefined, position: number, nextId: number, room: number): void {
    if (consumer === undefined || consumer.queue.id !== queueId || consumer.queue.consumerCount !== 1 || !deliverable(consumer)) this.writeEnd(queueId, false);
    else if (this.fence > position) this.writeEnd(queueId, true);
    else this.held.set(queueId, { consumer, firstId: nextId, nextId, room: room === R.UNLIMITED_ROOM ? Infinity : room });
  }

  /** Gives back `queueId`'s lease, if held, before a record that must reach the queue itself. */
  end(queueId: number): void {
    if (this.held.delete(queueId)) this.writeEnd(queueId, false);
  }

  /**
   * A publish or requeue was written (`next` 0), or is the next record (1, a
   * gathered SETTLE): an offer made before the shard handled it is stale.
   */
  fenced(next: 0 | 1): void {
    this.fence = this.writer.records + next;
  }

  /** One DIRECT record with the deliveries since the last one. Quiet: counts need no wake-up. */
  writeCounts(): void {
    if (this.delivered.size === 0) return;
    R.beginCounts(this.writer, R.A2S_DIRECT, this.delivered);
    this.delivered.clear();
    this.writer.endQuietly();
  }

  /** Quiet unless `ring`: the shard acts on it (offers again) with the records that follow, which wake it. */
  private writeEnd(queueId: number, ring: boolean): void {
    const w = this.writer;
    w.begin(R.LEASE_END_SIZE);
    w.buf[w.offset] = R.A2S_LEASE_END;
    writeU32LE(w.buf, w.offset + 1, queueId);
    if (ring) w.end();
    else w.endQuietly();
  }
}

/** Its channel takes deliveries now, and has no global prefetch (which the shards keep, and the lease's room does not know). */
function deliverable(consumer: ConsumerRef): boolean {
  const channel = consumer.channel;
  return channel.state === 'open' && !channel.consumersPaused && channel.limitSlot < 0;
}
