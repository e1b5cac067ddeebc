/**
 * The acceptor's consumers: by id (a DELIVER record names one) and by queue
 * (a deleted queue cancels its consumers). The shard holds their credit and
 * queue position; this holds who they are and where their deliveries go.
 */
import * as M from '../protocol/methods.generated.js';
import { viewOfBytes } from '../protocol/copy-bytes.js';
import { FRAME_METHOD } from '../protocol/constants.js';
import { OutputBuffer } from '../protocol/output-buffer.js';
import type { QueueRecord } from '../routing/topology.js';
import type { Channel } from './channel.js';
import type { Connection } from './connection.js';
import type { ShardLink } from './shard-link.js';
import type { OutputScheduler } from './output-scheduler.js';
import { typeOf } from '../vhost/queue-arguments.js';
import type { StreamOffset } from '../shard/stream-log.js';
import type { FieldTable } from '../protocol/field-types.js';

/** A consumer as the acceptor knows it; the shard holds its credit and queue position. */
export interface ConsumerRef extends PrewrittenDeliver {
  readonly id: number;
  readonly channel: Channel;
  readonly tag: string;
  readonly queue: QueueRecord;
  readonly link: ShardLink;
  readonly noAck: boolean;
  readonly exclusive: boolean;
  /** its channel's global prefetch holds it back (classic queues: RabbitMQ's quorum queues ignore it, its streams refuse it) */
  readonly globalLimited: boolean;
  /** basic.consume's arguments, as the management API shows them */
  readonly arguments: FieldTable;
}

/** What basic.consume asked for besides its queue and tag. */
export interface ConsumeOptions {
  noAck: boolean;
  exclusive: boolean;
  arguments: FieldTable;
  /** x-priority (0 when absent) */
  priority: number;
  /** a stream's x-stream-offset */
  offset?: StreamOffset;
}

/**
 * The start of each basic.deliver to a consumer, the same every time: the
 * frame's type, channel and size (to be filled in), the method id and the
 * consumer tag as a shortstr; with a view of it for word-wise copies (copyBytes).
 */
export interface PrewrittenDeliver {
  readonly deliverStart: Buffer;
  readonly deliverStartView: DataView;
}

export function prewrittenDeliver(channel: number, tag: string): PrewrittenDeliver {
  const out = new OutputBuffer(64);
  out.beginFrame(FRAME_METHOD, channel);
  out.u32(M.BASIC_DELIVER);
  out.shortstr(tag);
  const deliverStart = Buffer.from(out.take()); // exactly its bytes, not a view of the encoder's slab
  return { deliverStart, deliverStartView: viewOfBytes(deliverStart) };
}

export interface ConsumerHost {
  readonly links: readonly ShardLink[];
  readonly output: Pick<OutputScheduler, 'linkDirty'>;
  newId(): number;
  /** an auto-delete queue lost its last consumer (cancelled on `conn`) */
  queueUnused(queue: QueueRecord, conn: Connection): void;
}

export class ConsumerRegistry {
  private readonly byId = new Map<number, ConsumerRef>();
  private readonly byQueue = new Map<QueueRecord, Set<ConsumerRef>>();
  /** Consumers gone whose deliveries in flight count under their channel's global limit (see retire). */
  private readonly retired = new Map<number, Channel>();

  constructor(private readonly host: ConsumerHost) {}

  get(id: number): ConsumerRef | undefined {
    return this.byId.get(id);
  }

  add(channel: Channel, queue: QueueRecord, tag: string, { noAck, exclusive, arguments: args, priority, offset }: ConsumeOptions): ConsumerRef {
    const consumer: ConsumerRef = {
      id: this.host.newId(),
      channel,
      tag,
      ...prewrittenDeliver(channel.id, tag),
      queue,
      link: this.host.links[queue.shard],
      noAck,
      exclusive,
      globalLimited: typeOf(queue.args) === 'classic',
      arguments: args,
    };
    this.byId.set(consumer.id, consumer);
    channel.consumers.set(tag, consumer);
    let set = this.byQueue.get(queue);
    if (set === undefined) this.byQueue.set(queue, (set = new Set()));
    set.add(consumer);
    queue.consumerCount++;
    consumer.link.leases.end(queue.id); // a lease is for a queue's only consumer
    // Prefetch does not apply to no-ack consumers; the shard bounds them by its credit window
    // alone, and by a full global limit (RabbitMQ's limiter holds them back then too).
    const prefetch = noAck ? 0 : channel.prefetchCount;
    const limitSlot = consumer.globalLimited ? channel.limitSlot : -1;
    consumer.link.send({ op: 'consume', queueId: queue.id, consumerId: consumer.id, noAck, prefetch, limitSlot, priority, offset });
    if (channel.consumersPaused) consumer.link.send({ op: 'flow', consumerIds: [consumer.id], active: false });
    this.host.output.linkDirty(consumer.link);
    return consumer;
  }

  hasExclusive(queue: QueueRecord): boolean {
    for (const consumer of this.byQueue.get(queue) ?? []) if (consumer.exclusive) return true;
    return false;
  }

  /** basic.cancel or channel close: an auto-delete queue goes with its last consumer. */
  cancel(consumer: ConsumerRef): void {
    if (!this.byId.has(consumer.id)) return;
    this.forget(consumer);
    this.byQueue.get(consumer.queue)?.delete(consumer);
    consumer.link.leases.end(consumer.queue.id);
    consumer.link.send({ op: 'cancel', consumerId: consumer.id });
    this.host.output.linkDirty(consumer.link);
    const queue = consumer.queue;
    if (queue.autoDelete && queue.consumerCount === 0) this.host.queueUnused(queue, consumer.channel.conn);
  }

  /** Takes every consumer of `queue` out (it was deleted, or a fault cancels them); returns them, to be told with tellCancelled. */
  forgetAll(queue: QueueRecord): ReadonlySet<ConsumerRef> {
    const consumers = this.byQueue.get(queue) ?? new Set<ConsumerRef>();
    this.byQueue.delete(queue);
    this.host.links[queue.shard].leases.end(queue.id);
    for (const consumer of consumers) this.forget(consumer);
    return consumers;
  }

  /** basic.cancel to each consumer the broker cancelled, where its channel is open and understands it. */
  tellCancelled(consumers: Iterable<ConsumerRef>): void {
    for (const consumer of consumers) this.notifyCancelled(consumer);
  }

  /**
   * The broker cancels every consumer of a queue that stays (a test fault): each is told
   * with basic.cancel, its unacked deliveries stay unacked on its channel, as after a
   * client's own basic.cancel. The queue stays even if auto-delete. Returns how many.
   */
  cancelAll(queue: QueueRecord): number {
    const consumers = this.forgetAll(queue);
    for (const consumer of consumers) {
      consumer.link.send({ op: 'cancel', consumerId: consumer.id });
      this.host.output.linkDirty(consumer.link);
    }
    this.tellCancelled(consumers);
    return consumers.size;
  }

  /** basic.cancel from the broker, where the client understands it (consumer_cancel_notify). */
  private notifyCancelled(consumer: ConsumerRef): void {
    const conn = consumer.channel.conn;
    if (conn.capabilities.consumerCancelNotify && consumer.channel.state === 'open') {
      M.writeBasicCancel(conn.out, consumer.channel.id, { consumerTag: consumer.tag, nowait: true });
      conn.dirty();
    }
  }

  /**
   * A DELIVER record for a consumer no longer here: its shard takes it back.
   * One that took a place under its channel's global limit gives it back.
   */
  undelivered(consumerId: number, counted: boolean): void {
    if (counted) this.retired.get(consumerId)?.giveBack(1);
  }

  private forget(consumer: ConsumerRef): void {
    this.byId.delete(consumer.id);
    consumer.channel.consumers.delete(consumer.tag);
    consumer.queue.consumerCount--;
    if (!consumer.noAck && consumer.globalLimited && consumer.channel.limitSlot >= 0) this.retire(consumer);
  }

  /**
   * Its deliveries still in flight took places under its channel's global
   * limit: the channel is remembered for them (undelivered) until its shard
   * has handled the cancel (or the queue's delete), after which none come.
   */
  private retire(consumer: ConsumerRef): void {
    const channel = consumer.channel;
    this.retired.set(consumer.id, channel);
    channel.retiring++;
    consumer.link.whenHandled(() => {
      this.retired.delete(consumer.id);
      channel.retired();
    });
    this.host.output.linkDirty(consumer.link);
  }
}
