/**
 * A shard: the queues hashed to it, their messages and consumers. Plain logic
 * with no threads: it reads acceptor records and writes records back through a
 * RingWriter, whether it runs in a worker (shard-worker.ts) or inline.
 */
import { RingWriter } from './ring-writer.js';
import { ConfirmBatch } from './confirm-batch.js';
import { Deque } from './deque.js';
import { Backlog, ShardQueue, prefetchLimit, type Consumer, type QueueEntry, type StoredMessage } from './queue.js';
import * as R from './records.js';

/** Control operations, msgpack-encoded in A2S_CONTROL records. */
export type ShardControl =
  | { op: 'declare'; queueId: number; name: string }
  | { op: 'delete'; queueId: number }
  | { op: 'purge'; queueId: number }
  | { op: 'consume'; queueId: number; consumerId: number; noAck: boolean; prefetch: number; globalPrefetch: number }
  | { op: 'cancel'; consumerId: number }
  /** basic.qos global=true: the channel's new limit for each of its consumers here */
  | { op: 'prefetch'; consumerIds: number[]; globalPrefetch: number }
  | { op: 'flow'; consumerIds: number[]; active: boolean }
  | { op: 'get'; queueId: number; noAck: boolean }
  | { op: 'count'; queueId: number };

export class Shard {
  private readonly queues = new Map<number, ShardQueue>();
  private readonly consumers = new Map<number, Consumer>();
  /** Queues that may be able to deliver: they got messages or consumer credit. */
  private readonly pending = new Set<ShardQueue>();
  /** Ready messages in all this shard's queues; the runner turns it into flow control. */
  readonly backlog = new Backlog();
  /** Confirm-mode publishes made safe this batch; written once per batch (flushConfirms). */
  private readonly confirms = new ConfirmBatch();

  constructor(private readonly out: RingWriter) {}

  /** Handles one acceptor record found at buf[at..end). */
  handle(buf: Buffer, at: number, end: number): void {
    switch (buf[at]) {
      case R.A2S_PUBLISH:
        return this.publish(buf, at, end);
      case R.A2S_SETTLE:
        return this.settle(buf, at);
      case R.A2S_CREDIT:
        return this.credit(buf, at);
      case R.A2S_CONTROL: {
        const requestId = buf.readUInt32LE(at + 1);
        return this.control(requestId, R.unpackControl(buf, at + R.CONTROL_HEADER, end));
      }
      default:
        throw new Error(`shard: unknown record type ${buf[at]}`);
    }
  }

  /** Delivers what it can; returns true if it delivered anything. */
  deliver(): boolean {
    let progress = false;
    for (const queue of this.pending) {
      while (!this.out.backlogged && queue.messageCount > 0) {
        const consumer = queue.nextReadyConsumer();
        if (consumer === null) break;
        const entry = queue.take()!;
        if (!consumer.noAck) queue.track(entry, consumer);
        consumer.inFlight.push(entry);
        this.writeDeliver(consumer, entry);
        progress = true;
      }
      if (this.out.backlogged) break;
      this.pending.delete(queue);
    }
    return progress;
  }

  private publish(buf: Buffer, at: number, end: number): void {
    const flags = buf[at + 1];
    const queueCount = buf.readUInt16LE(at + 2);
    const blockAt = at + R.PUBLISH_HEADER + 4 * queueCount;
    const message: StoredMessage = { block: Buffer.from(buf.subarray(blockAt, end)) };
    const immediate = (flags & R.PUBLISH_IMMEDIATE) !== 0;
    let delivered = false;
    for (let i = 0; i < queueCount; i++) {
      const queue = this.queues.get(buf.readUInt32LE(at + R.PUBLISH_HEADER + 4 * i));
      if (queue === undefined) continue; // deleted while the publish was in flight
      if (immediate && !queue.hasReadyConsumer()) continue;
      queue.enqueue(message);
      this.pending.add(queue);
      delivered = true;
    }
    if (immediate) this.writeImmediate(buf.readUInt32LE(at + 4), buf.readUInt32LE(at + 8), delivered, message.block);
    // Safe once held in memory (a queue deleted in flight counts too: RabbitMQ acks
    // those, routing succeeded), and after the IMMEDIATE answer: a return goes before
    // its ack. Persistent messages in durable queues will be safe once on disk: they
    // will call confirms.stored when their write completes instead.
    if ((flags & R.PUBLISH_CONFIRM) !== 0) this.confirms.stored(buf.readUInt32LE(at + 4));
  }

  /** Ends a batch: one CONFIRM record for the confirm-mode publishes it made safe. */
  flushConfirms(): void {
    this.confirms.write(this.out);
  }

  private settle(buf: Buffer, at: number): void {
    const action = buf[at + 1];
    const count = buf.readUInt32LE(at + 2);
    // Requeued entries are put back per queue, a batch at a time (see ShardQueue.requeue).
    const requeued = action === R.SETTLE_REQUEUE ? new Map<ShardQueue, QueueEntry[]>() : null;
    let p = at + R.SETTLE_HEADER;
    for (let i = 0; i < count; i++, p += R.SETTLE_ENTRY) {
      const queue = this.queues.get(buf.readUInt32LE(p));
      if (queue === undefined) continue;
      const entry = queue.settle(buf.readDoubleLE(p + 4));
      if (entry === undefined) continue;
      if (requeued !== null) {
        entry.redelivered = true;
        let batch = requeued.get(queue);
        if (batch === undefined) requeued.set(queue, (batch = []));
        batch.push(entry);
      }
      this.pending.add(queue);
    }
    if (requeued !== null) for (const [queue, batch] of requeued) queue.requeue(batch);
  }

  /** The acceptor wrote deliveries to their connections: they leave the consumers' in-flight windows. */
  private credit(buf: Buffer, at: number): void {
    const count = buf.readUInt32LE(at + 1);
    let p = at + R.CREDIT_HEADER;
    for (let i = 0; i < count; i++, p += R.CREDIT_ENTRY) {
      const consumer = this.consumers.get(buf.readUInt32LE(p));
      if (consumer === undefined) continue; // its queue was deleted
      for (let n = buf.readUInt32LE(p + 4); n > 0; n--) consumer.inFlight.shift();
      this.pending.add(consumer.queue);
    }
  }

  private control(requestId: number, c: ShardControl): void {
    switch (c.op) {
      case 'declare': {
        let queue = this.queues.get(c.queueId);
        if (queue === undefined) this.queues.set(c.queueId, (queue = new ShardQueue(c.queueId, c.name, this.backlog)));
        return this.reply(requestId, { messageCount: queue.messageCount });
      }
      case 'delete': {
        const queue = this.queues.get(c.queueId);
        const messageCount = queue?.purge() ?? 0;
        if (queue !== undefined) {
          for (const consumer of queue.consumers) this.consumers.delete(consumer.id);
          this.queues.delete(c.queueId);
          this.pending.delete(queue);
        }
        return this.reply(requestId, { messageCount });
      }
      case 'purge':
        return this.reply(requestId, { messageCount: this.queues.get(c.queueId)?.purge() ?? 0 });
      case 'consume': {
        const queue = this.queues.get(c.queueId);
        if (queue === undefined) return;
        const consumer: Consumer = {
          id: c.consumerId,
          queue,
          noAck: c.noAck,
          prefetch: c.prefetch,
          limit: prefetchLimit(c.prefetch, c.globalPrefetch),
          unacked: 0,
          active: true,
          inFlight: new Deque(),
        };
        this.consumers.set(consumer.id, consumer);
        queue.addConsumer(consumer);
        this.pending.add(queue);
        return;
      }
      case 'cancel': {
        const consumer = this.consumers.get(c.consumerId);
        if (consumer === undefined) return;
        this.consumers.delete(consumer.id);
        // Credit for what the acceptor wrote came before this record; the rest never left.
        consumer.queue.requeueInFlight(consumer);
        consumer.queue.removeConsumer(consumer);
        this.pending.add(consumer.queue);
        return;
      }
      case 'prefetch':
        for (const id of c.consumerIds) {
          const consumer = this.consumers.get(id);
          if (consumer === undefined) continue;
          consumer.limit = prefetchLimit(consumer.prefetch, c.globalPrefetch);
          this.pending.add(consumer.queue);
        }
        return;
      case 'flow':
        for (const id of c.consumerIds) {
          const consumer = this.consumers.get(id);
          if (consumer === undefined) continue;
          consumer.active = c.active;
          if (c.active) this.pending.add(consumer.queue);
        }
        return;
      case 'get': {
        const queue = this.queues.get(c.queueId);
        const entry = queue?.take();
        if (queue === undefined || entry === undefined) return this.reply(requestId, { empty: true });
        if (!c.noAck) queue.track(entry, null);
        return this.writeGetOk(requestId, queue, entry);
      }
      case 'count':
        return this.reply(requestId, { messageCount: this.queues.get(c.queueId)?.messageCount ?? 0 });
    }
  }

  private reply(requestId: number, value: unknown): void {
    if (requestId === 0) return; // sent without waiting for an answer
    const payload = R.packControl(value);
    this.out.begin(R.CONTROL_HEADER + payload.length);
    const { buf, offset } = this.out;
    buf[offset] = R.S2A_REPLY;
    buf.writeUInt32LE(requestId, offset + 1);
    payload.copy(buf, offset + R.CONTROL_HEADER);
    this.out.end();
  }

  private writeDeliver(consumer: Consumer, entry: QueueEntry): void {
    const block = entry.message.block;
    this.out.begin(R.DELIVER_HEADER + block.length);
    const { buf, offset } = this.out;
    buf[offset] = R.S2A_DELIVER;
    buf[offset + 1] = entry.redelivered ? 1 : 0;
    buf.writeUInt32LE(consumer.id, offset + 2);
    buf.writeUInt32LE(consumer.queue.id, offset + 6);
    buf.writeDoubleLE(entry.id, offset + 10);
    block.copy(buf, offset + R.DELIVER_HEADER);
    this.out.end();
  }

  private writeGetOk(requestId: number, queue: ShardQueue, entry: QueueEntry): void {
    const block = entry.message.block;
    this.out.begin(R.GET_OK_HEADER + block.length);
    const { buf, offset } = this.out;
    buf[offset] = R.S2A_GET_OK;
    buf[offset + 1] = entry.redelivered ? 1 : 0;
    buf.writeUInt32LE(requestId, offset + 2);
    buf.writeUInt32LE(queue.id, offset + 6);
    buf.writeDoubleLE(entry.id, offset + 10);
    buf.writeUInt32LE(queue.messageCount, offset + 18);
    block.copy(buf, offset + R.GET_OK_HEADER);
    this.out.end();
  }

  private writeImmediate(channelRef: number, publishId: number, delivered: boolean, block: Buffer): void {
    const size = R.IMMEDIATE_HEADER + (delivered ? 0 : block.length);
    this.out.begin(size);
    const { buf, offset } = this.out;
    buf[offset] = R.S2A_IMMEDIATE;
    buf[offset + 1] = delivered ? 1 : 0;
    buf.writeUInt32LE(channelRef, offset + 2);
    buf.writeUInt32LE(publishId, offset + 6);
    if (!delivered) block.copy(buf, offset + R.IMMEDIATE_HEADER);
    this.out.end();
  }
}
