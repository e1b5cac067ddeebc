/**
 * The broker: listeners, connections, the shard links and the topology they
 * share. It also carries shard records to the channel they belong to and
 * flushes every connection and ring that was written once per event-loop turn.
 *
 * A shard that stops (its worker exits, the inline shard throws) takes the
 * broker down: its queues and their messages are gone, so the broker closes
 * every connection with 541, stops listening and emits 'fatal' (an Error).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { Connection } from './acceptor/connection.js';
import type { Channel, ConsumerRef } from './acceptor/channel.js';
import { ShardLink, type ShardEvents } from './acceptor/shard-link.js';
import { DEFAULT_WATERMARK, MemoryAlarm, watermarkBytes } from './acceptor/memory-alarm.js';
import * as M from './protocol/methods.generated.js';
import { AmqpError, ReplyCode } from './protocol/errors.js';
import { VHost, type QueueRecord } from './routing/topology.js';
import { DELIVER_HEADER, S2A_DELIVER, S2A_IMMEDIATE, SETTLE_REQUEUE } from './shard/records.js';
import { shardOf } from './shard/placement.js';
import { queueDir } from './store/queue-dir.js';

export interface BrokerOptions {
  /** addresses to listen on; default 127.0.0.1 and ::1 */
  host?: string | string[];
  /** 0 picks a free port; default 5672 */
  port?: number;
  /** shard worker threads; 0 runs the one shard inline; default cores - 1, at least 1 */
  workers?: number;
  /** user name -> password; default guest/guest */
  users?: Record<string, string>;
  /** heartbeat the server proposes, seconds; default 60 */
  heartbeat?: number;
  /** largest message body accepted, bytes; default 16 MiB */
  maxMessageSize?: number;
  /**
   * memory alarm threshold: below 1 a fraction of the memory available (the
   * machine's, or the cgroup limit), else bytes ("2GB", "512MiB" too); default 0.4
   */
  memoryHighWatermark?: number | string;
  /** where durable queues keep their persistent messages; undefined: nothing on disk */
  dataDir?: string;
}

/** How long close() waits for clients to answer connection.close before dropping them. */
const SHUTDOWN_GRACE_MS = 1000;

const SHUTDOWN = new AmqpError(ReplyCode.CONNECTION_FORCED, 'broker shutdown', 0, 0, true);

interface PendingImmediate {
  channel: Channel;
  remaining: number;
  delivered: boolean;
}

export class Broker extends EventEmitter implements ShardEvents {
  readonly options: Required<Omit<BrokerOptions, 'dataDir'>> & Pick<BrokerOptions, 'dataDir'>;
  readonly vhosts = new Map<string, VHost>([['/', new VHost('/')]]);
  readonly links: ShardLink[];
  readonly connections = new Set<Connection>();
  /** by id, for a queue's exclusive owner */
  private readonly connectionsById = new Map<number, Connection>();
  readonly maxMessageSize: number;
  readonly memory: MemoryAlarm;
  private readonly servers: net.Server[] = [];
  private readonly consumers = new Map<number, ConsumerRef>();
  private readonly consumersByQueue = new Map<QueueRecord, Set<ConsumerRef>>();
  private readonly channels = new Map<number, Channel>();
  private readonly immediates = new Map<number, PendingImmediate>();
  private readonly dirtyConnections = new Set<Connection>();
  private readonly dirtyLinks = new Set<ShardLink>();
  private flushScheduled = false;
  private nextId = 1;
  private closing: Promise<void> | null = null;
  /** set when a shard stopped: the broker is failing and serves nothing more */
  private failure: Error | null = null;

  constructor(options: BrokerOptions = {}) {
    super();
    const workers = options.workers ?? Math.max(1, os.availableParallelism() - 1);
    this.options = {
      host: options.host ?? ['127.0.0.1', '::1'],
      port: options.port ?? 5672,
      workers,
      users: options.users ?? { guest: 'guest' },
      heartbeat: options.heartbeat ?? 60,
      maxMessageSize: options.maxMessageSize ?? 16 * 1024 * 1024,
      memoryHighWatermark: options.memoryHighWatermark ?? DEFAULT_WATERMARK,
      dataDir: options.dataDir,
    };
    const watermark = watermarkBytes(this.options.memoryHighWatermark);
    this.maxMessageSize = this.options.maxMessageSize;
    // A record carries the body plus exchange, key, properties and queue ids: leave room.
    const ringBytes = 2 * (this.maxMessageSize + 1024 * 1024);
    const shards = Math.max(1, workers);
    this.links = Array.from({ length: shards }, (_, i) => new ShardLink(i, workers === 0, ringBytes, this));
    this.memory = new MemoryAlarm(watermark, this.links, this.connections);
    this.scheduledFlush = this.scheduledFlush.bind(this);
  }

  /** Listens on every configured host; resolves with the port. */
  async listen(): Promise<number> {
    const hosts = Array.isArray(this.options.host) ? this.options.host : [this.options.host];
    let port = this.options.port;
    for (const [i, host] of hosts.entries()) {
      const server = net.createServer((socket) => this.accept(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, () => resolve());
        });
      } catch (err) {
        // ::1 is missing on hosts without IPv6; the first address must work.
        if (i === 0) throw err;
        continue;
      }
      port = (server.address() as net.AddressInfo).port;
      this.servers.push(server);
    }
    return port;
  }

  /**
   * Stops listening, sends every client connection.close 320 CONNECTION_FORCED,
   * waits up to a second for their close-ok, drops what is left and ends the shards.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.memory.close();
    for (const server of this.servers) server.close();
    const ended = Promise.all([...this.connections].map((conn) => conn.shutdown(SHUTDOWN)));
    this.flushAll();
    let timer!: NodeJS.Timeout;
    await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)))]);
    clearTimeout(timer);
    for (const conn of this.connections) conn.socket.destroy();
    await Promise.all(this.links.map((link) => link.close(SHUTDOWN)));
  }

  /**
   * A shard is gone, and with it its queues' messages: fail fast rather than
   * accept work nobody can serve. One log line, every awaited request fails,
   * every client gets 541, the listeners close, and 'fatal' tells the owner.
   */
  onShardStopped(link: ShardLink, reason: string): void {
    if (this.failure !== null || this.closing !== null) return;
    console.error(`warren: shard ${link.index} stopped (${reason}); closing the broker — its queues' messages are lost`);
    const error = new AmqpError(ReplyCode.INTERNAL_ERROR, `shard ${link.index} stopped`, 0, 0, true);
    this.failure = new Error(`shard ${link.index} stopped (${reason})`);
    for (const server of this.servers) server.close();
    for (const l of this.links) l.abandon(error);
    // Publishes that shard never stored are nacked before their connections close.
    for (const channel of this.channels.values()) channel.failShard(link);
    this.flushAll();
    for (const conn of this.connections) conn.fail(error);
    this.flushAll();
    this.emit('fatal', this.failure);
  }

  /** A DELIVER or IMMEDIATE record could not be handled: its connection closes (541), nothing else. */
  onRecordFailed(link: ShardLink, buf: Buffer, at: number, err: unknown): boolean {
    let conn: Connection | undefined;
    if (buf[at] === S2A_DELIVER) {
      conn = this.consumers.get(buf.readUInt32LE(at + 2))?.channel.conn;
      // The message may not have reached the channel's unacked set: back to its queue
      // (a no-op for a no-ack delivery, or when the channel's release requeues it too).
      link.settle(SETTLE_REQUEUE, [buf.readUInt32LE(at + 6), buf.readDoubleLE(at + 10)]);
      this.linkDirty(link);
    } else if (buf[at] === S2A_IMMEDIATE) {
      conn = this.channels.get(buf.readUInt32LE(at + 2))?.conn;
    }
    if (conn === undefined) return false;
    conn.fail(err);
    return true;
  }

  authenticate(user: string, password: string): boolean {
    return Object.hasOwn(this.options.users, user) && this.options.users[user] === password;
  }

  private accept(socket: net.Socket): void {
    if (this.failure !== null || this.closing !== null) {
      socket.destroy();
      return;
    }
    const conn = new Connection(this.nextId++, socket, this);
    this.connections.add(conn);
    this.connectionsById.set(conn.id, conn);
  }

  connectionClosed(conn: Connection): void {
    this.connections.delete(conn);
    this.connectionsById.delete(conn.id);
    this.dirtyConnections.delete(conn);
    this.memory.forget(conn);
    for (const queue of conn.exclusiveQueues) {
      if (conn.vhost.queues.get(queue.name) === queue) this.dropQueue(queue, conn);
    }
  }

  // --- output batching ------------------------------------------------------

  markDirty(conn: Connection): void {
    this.dirtyConnections.add(conn);
    this.scheduleFlush();
  }

  linkDirty(link: ShardLink): void {
    this.dirtyLinks.add(link);
    this.scheduleFlush();
  }

  /** Writes a connection's output right away (before the socket is ended). */
  flushNow(conn: Connection): void {
    this.dirtyConnections.delete(conn);
    conn.flush();
  }

  onShardMemory(): void {
    this.memory.recheck();
  }

  /** The end of a batch of shard records: write what it produced now. */
  onBatchEnd(): void {
    this.flushAll();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.scheduledFlush);
  }

  private scheduledFlush(): void {
    this.flushScheduled = false;
    this.flushAll();
  }

  /**
   * Writes every dirty connection and rings every written shard. Called at the
   * end of each batch (a socket chunk, a run of shard records), and from a
   * scheduled turn for work that finished outside one (an awaited method).
   */
  flushAll(): void {
    for (const link of this.dirtyLinks) link.writer.flush();
    this.dirtyLinks.clear();
    for (const conn of this.dirtyConnections) conn.guard(conn.flush, undefined);
    this.dirtyConnections.clear();
  }

  // --- channels: immediate publishes and confirms -------------------------------

  registerChannel(channel: Channel): number {
    const ref = this.nextId++;
    this.channels.set(ref, channel);
    return ref;
  }

  unregisterChannel(channel: Channel): void {
    this.channels.delete(channel.ref);
  }

  /** An immediate publish went to `shards` shards; returns the id their answers carry. */
  expectImmediate(channel: Channel, shards: number): number {
    const id = this.nextId++;
    this.immediates.set(id, { channel, remaining: shards, delivered: false });
    return id;
  }

  onImmediate(_channelRef: number, publishId: number, delivered: boolean, buf: Buffer, blockAt: number): void {
    const pending = this.immediates.get(publishId);
    if (pending === undefined) return;
    pending.delivered ||= delivered;
    if (--pending.remaining > 0) return;
    this.immediates.delete(publishId);
    if (!pending.delivered && pending.channel.state === 'open') pending.channel.returnImmediate(buf, blockAt);
  }

  onConfirm(link: ShardLink, channelRef: number, stored: number, refused: number): void {
    this.channels.get(channelRef)?.confirmed(link, stored, refused); // gone: its client is too
  }

  // --- queues ------------------------------------------------------------------

  createQueue(vhost: VHost, name: string, spec: Pick<QueueRecord, 'durable' | 'exclusiveOwner' | 'autoDelete' | 'args'>): QueueRecord {
    const queue: QueueRecord = {
      kind: 'queue',
      id: this.nextId++,
      name,
      vhost: vhost.name,
      shard: shardOf(vhost.name, name, this.links.length),
      ...spec,
      boundFrom: new Set(),
      consumerCount: 0,
    };
    vhost.addQueue(queue);
    // The shard learns of it before any publish: same ring, earlier record.
    // A durable queue's directory: the shard recovers what it holds, and keeps persistent messages there.
    const dir = queue.durable && this.options.dataDir !== undefined ? queueDir(this.options.dataDir, vhost.name, name) : undefined;
    this.links[queue.shard].send({ op: 'declare', queueId: queue.id, name, dir });
    this.linkDirty(this.links[queue.shard]);
    return queue;
  }

  async messageCount(queue: QueueRecord): Promise<number> {
    const { messageCount } = await this.links[queue.shard].request({ op: 'count', queueId: queue.id });
    return messageCount;
  }

  /** Deletes a queue: its consumers are cancelled (notified if they can be); resolves with the messages dropped. */
  async deleteQueue(queue: QueueRecord): Promise<number> {
    const vhost = this.vhosts.get(queue.vhost)!;
    if (vhost.queues.get(queue.name) !== queue) return 0;
    vhost.deleteQueue(queue);
    if (queue.exclusiveOwner !== 0) this.connectionsById.get(queue.exclusiveOwner)?.exclusiveQueues.delete(queue);
    for (const consumer of [...(this.consumersByQueue.get(queue) ?? [])]) {
      this.forgetConsumer(consumer);
      const conn = consumer.channel.conn;
      if (conn.capabilities.consumerCancelNotify && consumer.channel.state === 'open') {
        M.writeBasicCancel(conn.out, consumer.channel.id, { consumerTag: consumer.tag, nowait: true });
        conn.dirty();
      }
    }
    this.consumersByQueue.delete(queue);
    const link = this.links[queue.shard];
    const { messageCount } = await link.request({ op: 'delete', queueId: queue.id });
    link.queueCleared(queue.id);
    return messageCount;
  }

  // --- consumers ----------------------------------------------------------------

  addConsumer(channel: Channel, queue: QueueRecord, tag: string, noAck: boolean, exclusive: boolean): ConsumerRef {
    const tagBytes = Buffer.from(tag);
    const consumer: ConsumerRef = {
      id: this.nextId++,
      channel,
      tag,
      tagShortstr: Buffer.concat([Buffer.from([tagBytes.length]), tagBytes]),
      queue,
      link: this.links[queue.shard],
      noAck,
      exclusive,
    };
    this.consumers.set(consumer.id, consumer);
    channel.consumers.set(tag, consumer);
    let set = this.consumersByQueue.get(queue);
    if (set === undefined) this.consumersByQueue.set(queue, (set = new Set()));
    set.add(consumer);
    queue.consumerCount++;
    // Prefetch does not apply to no-ack consumers; the shard bounds them by its credit window alone.
    const prefetch = noAck ? 0 : channel.prefetchCount;
    const globalPrefetch = noAck ? 0 : channel.globalPrefetch;
    consumer.link.send({ op: 'consume', queueId: queue.id, consumerId: consumer.id, noAck, prefetch, globalPrefetch });
    if (channel.consumersPaused) consumer.link.send({ op: 'flow', consumerIds: [consumer.id], active: false });
    this.linkDirty(consumer.link);
    return consumer;
  }

  hasExclusiveConsumer(queue: QueueRecord): boolean {
    for (const consumer of this.consumersByQueue.get(queue) ?? []) if (consumer.exclusive) return true;
    return false;
  }

  /** basic.cancel or channel close: an auto-delete queue goes with its last consumer. */
  cancelConsumer(consumer: ConsumerRef): void {
    if (!this.consumers.has(consumer.id)) return;
    this.forgetConsumer(consumer);
    this.consumersByQueue.get(consumer.queue)?.delete(consumer);
    consumer.link.send({ op: 'cancel', consumerId: consumer.id });
    this.linkDirty(consumer.link);
    const queue = consumer.queue;
    if (queue.autoDelete && queue.consumerCount === 0) this.dropQueue(queue, consumer.channel.conn);
  }

  /** Deletes a queue no method awaits (auto-delete, exclusive): a failure closes `conn`, not the process. */
  private dropQueue(queue: QueueRecord, conn: Connection): void {
    this.deleteQueue(queue).catch((err) => conn.fail(err));
  }

  private forgetConsumer(consumer: ConsumerRef): void {
    this.consumers.delete(consumer.id);
    consumer.channel.consumers.delete(consumer.tag);
    consumer.queue.consumerCount--;
  }

  onDeliver(link: ShardLink, buf: Buffer, at: number): void {
    const consumer = this.consumers.get(buf.readUInt32LE(at + 2));
    // Cancelled while this was in flight: the shard took it back when it saw the cancel.
    if (consumer === undefined) return;
    consumer.channel.deliver(consumer, buf[at + 1] === 1, buf.readUInt32LE(at + 6), buf.readDoubleLE(at + 10), buf, at + DELIVER_HEADER);
    link.credit(consumer.id);
  }
}
