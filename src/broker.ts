/**
 * The broker: listeners, connections, the shard links and the topology they
 * share. It also carries shard records to the channel they belong to and
 * flushes every connection and ring that was written once per event-loop turn.
 */
import net from 'node:net';
import os from 'node:os';
import { Connection } from './acceptor/connection.js';
import type { Channel, ConsumerRef } from './acceptor/channel.js';
import { ShardLink, type ShardEvents } from './acceptor/shard-link.js';
import { DEFAULT_WATERMARK, MemoryAlarm, watermarkBytes } from './acceptor/memory-alarm.js';
import * as M from './protocol/methods.generated.js';
import { VHost, type QueueRecord } from './routing/topology.js';
import { DELIVER_HEADER, SETTLE_REQUEUE } from './shard/records.js';
import { shardOf } from './shard/placement.js';

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
}

interface PendingImmediate {
  channel: Channel;
  remaining: number;
  delivered: boolean;
}

export class Broker implements ShardEvents {
  readonly options: Required<BrokerOptions>;
  readonly vhosts = new Map<string, VHost>([['/', new VHost('/')]]);
  readonly links: ShardLink[];
  readonly connections = new Set<Connection>();
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
  private readonly ticker: NodeJS.Timeout;
  private nextId = 1;

  constructor(options: BrokerOptions = {}) {
    const workers = options.workers ?? Math.max(1, os.availableParallelism() - 1);
    this.options = {
      host: options.host ?? ['127.0.0.1', '::1'],
      port: options.port ?? 5672,
      workers,
      users: options.users ?? { guest: 'guest' },
      heartbeat: options.heartbeat ?? 60,
      maxMessageSize: options.maxMessageSize ?? 16 * 1024 * 1024,
      memoryHighWatermark: options.memoryHighWatermark ?? DEFAULT_WATERMARK,
    };
    const watermark = watermarkBytes(this.options.memoryHighWatermark);
    this.maxMessageSize = this.options.maxMessageSize;
    // A record carries the body plus exchange, key, properties and queue ids: leave room.
    const ringBytes = 2 * (this.maxMessageSize + 1024 * 1024);
    const shards = Math.max(1, workers);
    this.links = Array.from({ length: shards }, (_, i) => new ShardLink(i, workers === 0, ringBytes, this));
    this.memory = new MemoryAlarm(watermark, this.links, this.connections);
    this.scheduledFlush = this.scheduledFlush.bind(this);
    this.ticker = setInterval(() => {
      const now = Date.now();
      for (const conn of this.connections) conn.tick(now);
    }, 1000);
    this.ticker.unref();
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

  async close(): Promise<void> {
    clearInterval(this.ticker);
    this.memory.close();
    for (const server of this.servers) server.close();
    for (const conn of this.connections) conn.socket.destroy();
    await Promise.all(this.links.map((link) => link.close()));
  }

  authenticate(user: string, password: string): boolean {
    return Object.hasOwn(this.options.users, user) && this.options.users[user] === password;
  }

  private accept(socket: net.Socket): void {
    const conn = new Connection(this.nextId++, socket, this);
    this.connections.add(conn);
  }

  connectionClosed(conn: Connection): void {
    this.connections.delete(conn);
    this.dirtyConnections.delete(conn);
    this.memory.forget(conn);
    for (const queue of conn.exclusiveQueues) {
      if (conn.vhost.queues.get(queue.name) === queue) void this.deleteQueue(queue);
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
    for (const conn of this.dirtyConnections) conn.flush();
    this.dirtyConnections.clear();
  }

  // --- channels and immediate publishes ------------------------------------------

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
    this.links[queue.shard].send({ op: 'declare', queueId: queue.id, name });
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
    const prefetch = noAck ? 0 : channel.prefetchCount;
    consumer.link.send({ op: 'consume', queueId: queue.id, consumerId: consumer.id, noAck, prefetch });
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
    if (queue.autoDelete && queue.consumerCount === 0) void this.deleteQueue(queue);
  }

  private forgetConsumer(consumer: ConsumerRef): void {
    this.consumers.delete(consumer.id);
    consumer.channel.consumers.delete(consumer.tag);
    consumer.queue.consumerCount--;
  }

  onDeliver(link: ShardLink, buf: Buffer, at: number): void {
    const consumer = this.consumers.get(buf.readUInt32LE(at + 2));
    const queueId = buf.readUInt32LE(at + 6);
    const msgId = buf.readDoubleLE(at + 10);
    if (consumer === undefined) {
      // Cancelled while this was in flight: the message goes back (a no-op for no-ack ones).
      link.settle(SETTLE_REQUEUE, [queueId, msgId]);
      this.linkDirty(link);
      return;
    }
    consumer.channel.deliver(consumer, buf[at + 1] === 1, queueId, msgId, buf, at + DELIVER_HEADER);
  }
}
