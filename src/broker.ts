/**
 * The broker, the composition root: listeners, connections, the shard links,
 * the vhost services (where topology changes are applied) and the consumer
 * registry. It also carries shard records to the channel they belong to and
 * flushes every connection and ring that was written once per event-loop turn.
 *
 * A shard that stops (its worker exits, the inline shard throws) takes the
 * broker down: its queues and their messages are gone, so the broker closes
 * every connection with 541, stops listening and emits 'fatal' (an Error).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { Connection } from './acceptor/connection.js';
import type { Channel } from './acceptor/channel.js';
import { ConsumerRegistry, type ConsumerHost } from './acceptor/consumer-registry.js';
import { ShardLink, type ShardEvents } from './acceptor/shard-link.js';
import { DEFAULT_WATERMARK, MemoryAlarm, watermarkBytes } from './acceptor/memory-alarm.js';
import { AmqpError, ReplyCode } from './protocol/errors.js';
import type { QueueRecord } from './routing/topology.js';
import { VHostService, type QueueHost } from './vhost/vhost-service.js';
import { DataDirLock } from './definitions/data-dir-lock.js';
import { DefinitionsFile, loadDefinitions, readDefinitions } from './definitions/definitions-file.js';
import { applyDefinitions, exportDefinitions, type Definitions } from './definitions/rabbit-format.js';
import { DELIVER_HEADER, S2A_DELIVER, S2A_IMMEDIATE, SETTLE_REQUEUE } from './shard/records.js';

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
  /**
   * where durable definitions and the persistent messages of durable queues are
   * kept (created if missing; one broker at a time); default none: everything in memory
   */
  dataDir?: string;
  /**
   * a RabbitMQ definitions file loaded at start, after the data dir's own
   * (RabbitMQ's load_definitions); what it declares is then kept like any declare
   */
  definitions?: string;
  /**
   * the management HTTP API's port (0 picks a free one); default none. Served by
   * startBroker() (src/management/), not by the Broker itself.
   */
  managementPort?: number;
}

/** How long close() waits for clients to answer connection.close before dropping them. */
const SHUTDOWN_GRACE_MS = 1000;

const SHUTDOWN = new AmqpError(ReplyCode.CONNECTION_FORCED, 'broker shutdown', 0, 0, true);

interface PendingImmediate {
  channel: Channel;
  remaining: number;
  delivered: boolean;
}

export class Broker extends EventEmitter implements ShardEvents, QueueHost, ConsumerHost {
  readonly options: Required<Omit<BrokerOptions, 'dataDir' | 'definitions' | 'managementPort'>> & Pick<BrokerOptions, 'dataDir' | 'definitions'>;
  readonly vhosts = new Map<string, VHostService>();
  readonly links: ShardLink[];
  readonly connections = new Set<Connection>();
  readonly maxMessageSize: number;
  readonly memory: MemoryAlarm;
  private readonly servers: net.Server[] = [];
  readonly consumers = new ConsumerRegistry(this);
  private readonly channels = new Map<number, Channel>();
  private readonly immediates = new Map<number, PendingImmediate>();
  private readonly dirtyConnections = new Set<Connection>();
  private readonly dirtyLinks = new Set<ShardLink>();
  private flushScheduled = false;
  private nextId = 1;
  private closing: Promise<void> | null = null;
  /** set when a shard stopped: the broker is failing and serves nothing more */
  private failure: Error | null = null;
  private lock: DataDirLock | null = null;
  /** the data dir's definitions file, written after changes to what is stored */
  private definitions: DefinitionsFile | null = null;

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
      definitions: options.definitions,
    };
    const watermark = watermarkBytes(this.options.memoryHighWatermark);
    this.maxMessageSize = this.options.maxMessageSize;
    // A record carries the body plus exchange, key, properties and queue ids: leave room.
    const ringBytes = 2 * (this.maxMessageSize + 1024 * 1024);
    const shards = Math.max(1, workers);
    this.links = Array.from({ length: shards }, (_, i) => new ShardLink(i, workers === 0, ringBytes, this));
    this.memory = new MemoryAlarm(watermark, this.links, this.connections);
    this.scheduledFlush = this.scheduledFlush.bind(this);
    this.vhost('/');
  }

  /** The vhost's service, created on first use. */
  vhost(name: string): VHostService {
    let service = this.vhosts.get(name);
    if (service === undefined) this.vhosts.set(name, (service = new VHostService(name, this)));
    return service;
  }

  /**
   * With a data dir: locks it and replays its definitions through apply(). Then
   * the --definitions file, if any, the same way. Then, with a data dir, keeps
   * its file up to date. Before listen(), so clients see the recovered topology.
   */
  async openDataDir(): Promise<void> {
    const dir = this.options.dataDir;
    const path = dir === undefined ? undefined : join(dir, 'definitions.json');
    if (dir !== undefined && path !== undefined) {
      this.lock = DataDirLock.acquire(dir);
      const defs = readDefinitions(path);
      if (defs !== null) await this.replay(defs, path);
    }
    const extra = this.options.definitions;
    // Checked whole before any of it is applied: a bad file changes nothing.
    if (extra !== undefined) await this.replay(loadDefinitions(extra), extra);
    if (path === undefined) return;
    this.definitions = new DefinitionsFile(path, () => exportDefinitions(this.vhosts.values()));
    // What the --definitions file added is kept, as RabbitMQ keeps what it loads.
    if (extra !== undefined) this.definitions.changed();
  }

  private async replay(defs: Definitions, path: string): Promise<void> {
    try {
      await applyDefinitions(defs, (name) => this.vhost(name));
    } catch (err: any) {
      throw new Error(`${path}: ${err.message}`);
    }
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
    // What was stored when the shutdown began is kept: closing connections deletes
    // auto-delete and exclusive queues, which a restart should not forget.
    const saved = this.definitions?.close();
    for (const server of this.servers) server.close();
    const ended = Promise.all([...this.connections].map((conn) => conn.shutdown(SHUTDOWN)));
    this.flushAll();
    let timer!: NodeJS.Timeout;
    await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)))]);
    clearTimeout(timer);
    for (const conn of this.connections) conn.socket.destroy();
    await Promise.all(this.links.map((link) => link.close(SHUTDOWN)));
    await saved;
    this.lock?.release();
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
  }

  connectionClosed(conn: Connection): void {
    this.connections.delete(conn);
    this.dirtyConnections.delete(conn);
    this.memory.forget(conn);
    // Before open-ok a connection has no vhost, and no queues.
    const service = conn.service as VHostService | undefined;
    if (service !== undefined) for (const queue of [...service.exclusiveQueues(conn.id)]) this.dropQueue(queue, conn);
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

  // --- queues and consumers -------------------------------------------------------

  /** QueueHost: where durable queues keep their persistent messages. */
  get dataDir(): string | undefined {
    return this.options.dataDir;
  }

  /** QueueHost and ConsumerHost: a broker-wide id for a queue, consumer or channel. */
  newId(): number {
    return this.nextId++;
  }

  /** QueueHost: what is stored changed (see VHost.onStoredChange). */
  topologyChanged(): void {
    this.definitions?.changed();
  }

  /** QueueHost: a deleted queue's consumers are cancelled (notified if they can be). */
  queueDeleted(queue: QueueRecord): void {
    this.consumers.queueDeleted(queue);
  }

  /** ConsumerHost: an auto-delete queue goes with its last consumer. */
  queueUnused(queue: QueueRecord, conn: Connection): void {
    this.dropQueue(queue, conn);
  }

  /** Deletes a queue no method awaits (auto-delete, exclusive): a failure closes `conn`, not the process. */
  private dropQueue(queue: QueueRecord, conn: Connection): void {
    this.vhosts.get(queue.vhost)!.dropQueue(queue).catch((err) => conn.fail(err));
  }

  onDeliver(link: ShardLink, buf: Buffer, at: number): void {
    const consumer = this.consumers.get(buf.readUInt32LE(at + 2));
    // Cancelled while this was in flight: the shard took it back when it saw the cancel.
    if (consumer === undefined) return;
    consumer.channel.deliver(consumer, buf[at + 1] === 1, buf.readUInt32LE(at + 6), buf.readDoubleLE(at + 10), buf, at + DELIVER_HEADER);
    link.credit(consumer.id);
  }
}
