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
import { Churn } from './vhost/churn.js';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import { join } from 'node:path';
import { Connection } from './acceptor/connection.js';
import { listen } from './acceptor/listen.js';
import type { Channel } from './acceptor/channel.js';
import { ConsumerRegistry, type ConsumerHost, type ConsumerRef } from './acceptor/consumer-registry.js';
import { ShardLink, type ShardEvents } from './acceptor/shard-link.js';
import { DeadLetterRouter } from './acceptor/dead-letter-router.js';
import { DEFAULT_WATERMARK, ResourceAlarm, watermarkBytes } from './acceptor/resource-alarm.js';
import { DEFAULT_DISK_FREE_LIMIT, DiskFree, diskFreeLimitBytes } from './acceptor/disk-free.js';
import { AmqpError, ReplyCode } from './protocol/errors.js';
import type { QueueRecord } from './routing/topology.js';
import { VHostService, type QueueHost } from './vhost/vhost-service.js';
import { DataDirLock } from './definitions/data-dir-lock.js';
import { DefinitionsFile, checkedDefinitions, loadDefinitions, readDefinitions } from './definitions/definitions-file.js';
import { applyDefinitions, exportDefinitions, type Definitions } from './definitions/rabbit-format.js';
import { S2A_DELIVER, S2A_IMMEDIATE, SETTLE_REQUEUE, isCounted, isRedelivered } from './shard/records.js';
import { ChannelLimits } from './shard/channel-limits.js';
import { InternalConfirms } from './acceptor/internal-confirms.js';
import { DirectReplyTo } from './acceptor/direct-reply-to.js';
import { ConsumerTimeout, DEFAULT_CONSUMER_TIMEOUT_MS } from './acceptor/consumer-timeout.js';
import { AccessControl, type Credentials, type PermissionSpec, type TopicPermissionSpec, type User } from './auth/access-control.js';
import { applyAccessDefinitions } from './definitions/access-definitions.js';
import { GlobalParameters, globalParameterEntries } from './definitions/global-parameters.js';
import type { VHostLimits } from './vhost/vhost-limits.js';
import type { VHostMetadata } from './vhost/vhost-metadata.js';
import { AuthAttempts } from './auth/auth-attempts.js';
import { reached, type UserLimits } from './auth/user-limits.js';
import { connectionLog, log } from './log/logger.js';
import { LogExchange } from './log/log-exchange.js';
import { Firehose } from './log/firehose.js';
import { WaitFor } from './rig/wait-for.js';
import { Faults, SHUTDOWN_FORCED } from './rig/faults.js';
import { Observers, type ObservedEvent, type ObservedEvents } from './rig/observers.js';
import { OutputScheduler } from './acceptor/output-scheduler.js';
import { readU32LE } from './protocol/uint32.js';
import { readF64LE } from './protocol/float64.js';

/**
 * Shard workers when not told: one per core beside the acceptor's, and none on
 * two cores or fewer. There the clients (a test process, a load generator)
 * take a core, so a shard thread has none of its own: it adds a cross-thread
 * wake-up to every consumer's round trip and runs no faster (docs/BENCHMARKS.md,
 * "Two cores: inline by default").
 */
export function defaultWorkers(cores = os.availableParallelism()): number {
  return cores <= 2 ? 0 : cores - 1;
}

export interface BrokerOptions {
  /** addresses to listen on; default 127.0.0.1 and ::1 */
  host?: string | string[];
  /** 0 picks a free port; default 5672 */
  port?: number;
  /** shard worker threads; 0 runs the one shard inline; default `defaultWorkers()` */
  workers?: number;
  /**
   * user name -> password, administrators with full access to the default
   * vhost; default guest/guest. Users a definitions file brings replace these.
   */
  users?: Record<string, string>;
  /** the vhost made at start, the default users' (RabbitMQ's default_vhost); default '/' */
  defaultVHost?: string;
  /** let 'guest' log in from other hosts than this one (RabbitMQ: loopback_users = []); default false */
  allowRemoteGuest?: boolean;
  /** open client connections allowed on the node (RabbitMQ's connection_max); default no limit */
  maxConnections?: number;
  /** amqps: a TLS listener on the same hosts, beside the plain one (RabbitMQ's ssl_listeners) */
  tls?: TlsOptions;
  /** heartbeat the server proposes, seconds; default 60 */
  heartbeat?: number;
  /** largest message body accepted, bytes; default 128 MiB (RabbitMQ 3.10's max_message_size) */
  maxMessageSize?: number;
  /**
   * each ring's data area between the acceptor and a shard, bytes; default
   * RING_BYTES. A record larger than half of it travels in pieces.
   */
  ringBytes?: number;
  /**
   * memory alarm threshold: below 1 a fraction of the memory available (the
   * machine's, or the cgroup limit), else bytes ("2GB", "512MiB" too); default 0.4
   */
  memoryHighWatermark?: number | string;
  /**
   * free disk space alarm threshold (RabbitMQ's disk_free_limit) for the data
   * dir's filesystem: bytes, or bytes with a unit ("1GB"); default 50000000. No
   * effect in memory
   */
  diskFreeLimit?: number | string;
  /**
   * where durable definitions and the persistent messages of durable queues are
   * kept (created if missing; one broker at a time); default none: everything in memory
   */
  dataDir?: string;
  /**
   * a RabbitMQ definitions file loaded at start, after the data dir's own
   * (RabbitMQ's load_definitions), or the same content as an object; what it
   * declares is then kept like any declare. Users, vhosts, permissions,
   * topic permissions and vhost limits in it are loaded too.
   */
  definitions?: string | Definitions;
  /**
   * RabbitMQ's consumer_timeout: a channel whose delivery stays unacked longer
   * is closed with 406; ms, 0 = never; default 30 minutes
   */
  consumerTimeoutMs?: number;
  /**
   * the management HTTP API's port (0 picks a free one); default none. Served by
   * startBroker() (src/management/), not by the Broker itself.
   */
  managementPort?: number;
}

export interface ResetOptions {
  /** only this vhost; default all */
  vhost?: string;
  /** leave client connections open (their consumers of deleted queues are cancelled); default false: closed with 320 */
  keepConnections?: boolean;
}

export interface TlsOptions {
  /** 0 picks a free port; default 5671 */
  port?: number;
  /** the server's certificate chain and key, PEM */
  cert: string | Buffer;
  key: string | Buffer;
  /**
   * CA certificates (PEM) that client certificates are checked against; with
   * them a client may present a certificate, and one that verifies may log in
   * with EXTERNAL (as the user named by its subject's CN)
   */
  ca?: string | Buffer;
  /** refuse clients without a certificate that verifies (RabbitMQ: verify_peer, fail_if_no_peer_cert); default false */
  verifyPeer?: boolean;
}

/** How long close() waits for clients to answer connection.close before dropping them. */
const SHUTDOWN_GRACE_MS = 1000;
/** RabbitMQ 3.10's default max_message_size. */
export const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024;
/**
 * Each ring's data area. Not sized from the largest message: larger records
 * travel in pieces (shard/pieces.ts). Small records fill it rarely: a full
 * credit window of 10 consumers is under 1 MiB of 16-byte deliveries, and
 * npm run bench showed no gain from 32 MiB (single, persistent, 2026-12-01).
 */
export const RING_BYTES = 8 * 1024 * 1024;

const SHUTDOWN = new AmqpError(ReplyCode.CONNECTION_FORCED, 'broker shutdown', 0, 0, true);

interface PendingImmediate {
  channel: Channel;
  remaining: number;
  delivered: boolean;
}

export class Broker extends EventEmitter implements ShardEvents, QueueHost, ConsumerHost {
  readonly options: Required<Omit<BrokerOptions, 'dataDir' | 'definitions' | 'tls' | 'managementPort'>> & Pick<BrokerOptions, 'dataDir' | 'definitions' | 'tls'>;
  /** the TLS listener's port, once listening (undefined without TLS) */
  tlsPort: number | undefined;
  readonly vhosts = new Map<string, VHostService>();
  /** users and permissions; change them through the broker's methods below */
  readonly access = new AccessControl();
  /** true while the users are the options' defaults: definitions that bring users replace them */
  private defaultUsers = true;
  /** between stopApp() and startApp() (rabbitmqctl stop_app, start_app) */
  appStopped = false;
  /** what rabbitmqctl shutdown (requestShutdown) does: startBroker() closes the whole broker, the CLI then exits */
  onShutdownRequest: () => void = () => void this.close();
  /** global runtime parameters (the cluster name among them), kept with the definitions */
  readonly globals = new GlobalParameters(() => this.definitions?.changed());
  /** logins by protocol, for /api/auth/attempts */
  readonly authAttempts = new AuthAttempts();
  readonly links: ShardLink[];
  /** basic.qos global=true: each limit shared by its channel's consumers on every shard */
  readonly channelLimits = new ChannelLimits();
  readonly connections = new Set<Connection>();
  /** connections, channels and queues created and gone (the management API's churn_rates) */
  readonly churn = new Churn();
  readonly maxMessageSize: number;
  readonly alarms: ResourceAlarm;
  private readonly servers: net.Server[] = [];
  readonly consumers = new ConsumerRegistry(this);
  readonly directReply = new DirectReplyTo();
  readonly consumerTimeout: ConsumerTimeout;
  /** for test rigs: wait for queue counts and connections, on the broker's events */
  readonly waitFor = new WaitFor(this);
  /** for test rigs: close, block, refuse or stall connections on demand */
  readonly faults = new Faults(this);
  /** for test rigs: which observing hooks ('publish', 'deliver', ...) have listeners; see on() */
  readonly observers = new Observers(this);
  private readonly channels = new Map<number, Channel>();
  private readonly deadLetters: DeadLetterRouter;
  /** publishes log lines to every vhost's amq.rabbitmq.log */
  readonly logExchange: LogExchange;
  /** rabbitmqctl trace_on: copies of publishes and deliveries to amq.rabbitmq.trace */
  readonly firehose: Firehose;
  private readonly immediates = new Map<number, PendingImmediate>();
  /** each batch's output, written once at its end */
  readonly output = new OutputScheduler(this.waitFor);
  private nextId = 1;
  /** the answers to the management API's publishes (they wait for them, as RabbitMQ's do) */
  readonly internalConfirms = new InternalConfirms(this.nextId++);
  private closing: Promise<void> | null = null;
  /** set when a shard stopped: the broker is failing and serves nothing more */
  private failure: Error | null = null;
  private lock: DataDirLock | null = null;
  /** the data dir's definitions file, written after changes to what is stored */
  private definitions: DefinitionsFile | null = null;

  constructor(options: BrokerOptions = {}) {
    super();
    const workers = options.workers ?? defaultWorkers();
    this.options = {
      host: options.host ?? ['127.0.0.1', '::1'],
      port: options.port ?? 5672,
      workers,
      users: options.users ?? { guest: 'guest' },
      defaultVHost: options.defaultVHost ?? '/',
      allowRemoteGuest: options.allowRemoteGuest ?? false,
      tls: options.tls,
      maxConnections: options.maxConnections ?? Infinity,
      heartbeat: options.heartbeat ?? 60,
      maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      ringBytes: options.ringBytes ?? RING_BYTES,
      memoryHighWatermark: options.memoryHighWatermark ?? DEFAULT_WATERMARK,
      diskFreeLimit: options.diskFreeLimit ?? DEFAULT_DISK_FREE_LIMIT,
      dataDir: options.dataDir,
      definitions: options.definitions,
      consumerTimeoutMs: options.consumerTimeoutMs ?? DEFAULT_CONSUMER_TIMEOUT_MS,
    };
    this.consumerTimeout = new ConsumerTimeout(this.options.consumerTimeoutMs);
    const watermark = watermarkBytes(this.options.memoryHighWatermark);
    this.maxMessageSize = this.options.maxMessageSize;
    const shards = Math.max(1, workers);
    this.links = Array.from({ length: shards }, (_, i) => new ShardLink(i, workers === 0, this.options.ringBytes, this, this.channelLimits));
    this.deadLetters = new DeadLetterRouter(this.links, (link) => this.output.linkDirty(link));
    const topologies = () => [...this.vhosts.values()].map((service) => service.topology);
    this.logExchange = new LogExchange(log, this, topologies);
    this.firehose = new Firehose(this, this, (name) => this.vhosts.get(name)?.topology, topologies);
    const disk = new DiskFree(this.options.dataDir ?? null, diskFreeLimitBytes(this.options.diskFreeLimit));
    this.alarms = new ResourceAlarm(watermark, this.links, this.connections, disk);
    this.addDefaults();
  }

  /** The default vhost, and the options' users: administrators with full access to it. */
  private addDefaults(): void {
    this.vhost(this.options.defaultVHost);
    for (const [name, password] of Object.entries(this.options.users)) {
      this.access.putUser(name, { password }, ['administrator']);
      this.access.setPermissions(name, this.options.defaultVHost, { configure: '.*', write: '.*', read: '.*' });
    }
    this.defaultUsers = true;
  }

  /** The vhost's service, created on first use. */
  vhost(name: string): VHostService {
    let service = this.vhosts.get(name);
    if (service === undefined) {
      this.vhosts.set(name, (service = new VHostService(name, this)));
      this.firehose.created(service.topology);
      this.definitions?.changed();
    }
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
    let keptId = false;
    if (dir !== undefined && path !== undefined) {
      this.lock = DataDirLock.acquire(dir);
      const defs = readDefinitions(path);
      if (defs !== null) await this.replay(defs, path);
      keptId = defs?.global_parameters?.some((p) => p.name === 'internal_cluster_id') ?? false;
    }
    await this.loadDefinitionsOption();
    if (path === undefined) return;
    this.definitions = new DefinitionsFile(path, () => exportDefinitions(this.vhosts.values(), this.access, true, this.globals));
    // What the --definitions file added is kept, as RabbitMQ keeps what it loads.
    if (this.options.definitions !== undefined) this.definitions.changed();
    // A new data dir keeps its node's internal_cluster_id from the start, as RabbitMQ's.
    else if (!keptId) await this.definitions.writeNow();
  }

  /** The --definitions file (or object), checked whole before any of it is applied: a bad file changes nothing. */
  private async loadDefinitionsOption(): Promise<void> {
    const extra = this.options.definitions;
    if (typeof extra === 'string') await this.replay(loadDefinitions(extra), extra);
    else if (extra !== undefined) await this.replay(checkedDefinitions(extra), 'definitions');
  }

  private async replay(defs: Definitions, path: string): Promise<void> {
    try {
      await this.load(defs);
    } catch (err: any) {
      throw new Error(`${path}: ${err.message}`);
    }
  }

  /**
   * Applies checked definitions as RabbitMQ's import does: users, vhosts and
   * their limits, permissions, then exchanges, queues and bindings. Users in
   * them replace the default ones (RabbitMQ creates guest only when nothing
   * else brings users).
   */
  async load(defs: Definitions): Promise<void> {
    if (this.defaultUsers && (defs.users?.length ?? 0) > 0) {
      for (const user of this.access.listUsers()) this.access.deleteUser(user.name);
      this.defaultUsers = false;
    }
    applyAccessDefinitions(defs, this);
    for (const { name, value } of globalParameterEntries(defs.global_parameters)) this.globals.set(name, value);
    await applyDefinitions(defs, (name) => this.vhost(name));
  }

  /** Listens on every configured host (and the TLS port, if any); resolves with the plain port. */
  async listen(): Promise<number> {
    const port = await this.listenOn(this.options.port, () => net.createServer((socket) => this.accept(socket)));
    const options = this.options.tls;
    if (options !== undefined) {
      this.tlsPort = await this.listenOn(options.port ?? 5671, () => {
        const server = tls.createServer(
          // With a CA a client may present a certificate (for EXTERNAL); verifyPeer makes it a must.
          { cert: options.cert, key: options.key, ca: options.ca, requestCert: options.ca !== undefined, rejectUnauthorized: options.verifyPeer === true },
          (socket) => this.accept(socket),
        );
        // A failed TLS handshake concerns that client only.
        server.on('tlsClientError', () => {});
        return server;
      });
    }
    return port;
  }

  private async listenOn(port: number, create: () => net.Server): Promise<number> {
    const hosts = Array.isArray(this.options.host) ? this.options.host : [this.options.host];
    for (const [i, host] of hosts.entries()) {
      const server = create();
      try {
        await listen(server, port, host, `listener on ${host}`);
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
    this.alarms.close();
    this.logExchange.close();
    this.consumerTimeout.stop();
    // What was stored when the shutdown began is kept: closing connections deletes
    // auto-delete and exclusive queues, which a restart should not forget.
    const saved = this.definitions?.close();
    for (const server of this.servers) server.close();
    this.faults.endDroppedStalls();
    await this.disconnectAll(SHUTDOWN);
    await Promise.all(this.links.map((link) => link.close(SHUTDOWN)));
    await saved;
    this.lock?.release();
  }

  /**
   * Sends every client connection.close with `error`, waits up to a second for
   * their close-ok and drops the ones that did not answer.
   */
  async disconnectAll(error: AmqpError): Promise<void> {
    const ended = Promise.all([...this.connections].map((conn) => conn.shutdown(error)));
    this.output.flushAll();
    let timer!: NodeJS.Timeout;
    await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)))]);
    clearTimeout(timer);
    for (const conn of this.connections) conn.socket.destroy();
  }

  /**
   * A shard is gone, and with it its queues' messages: fail fast rather than
   * accept work nobody can serve. One log line, every awaited request fails,
   * every client gets 541, the listeners close, and 'fatal' tells the owner.
   */
  onShardStopped(link: ShardLink, reason: string): void {
    if (this.failure !== null || this.closing !== null) return;
    log.error(`shard ${link.index} stopped (${reason}); closing the broker — its queues' messages are lost`);
    const error = new AmqpError(ReplyCode.INTERNAL_ERROR, `shard ${link.index} stopped`, 0, 0, true);
    this.failure = new Error(`shard ${link.index} stopped (${reason})`);
    for (const server of this.servers) server.close();
    for (const l of this.links) l.abandon(error);
    // Publishes that shard never stored are nacked before their connections close.
    for (const channel of this.channels.values()) channel.failShard(link);
    this.internalConfirms.failShard(link);
    this.output.flushAll();
    for (const conn of this.connections) conn.fail(error);
    this.output.flushAll();
    this.emit('fatal', this.failure);
  }

  /** A DELIVER or IMMEDIATE record could not be handled: its connection closes (541), nothing else. */
  onRecordFailed(link: ShardLink, buf: Buffer, at: number, err: unknown): boolean {
    let conn: Connection | undefined;
    if (buf[at] === S2A_DELIVER) {
      conn = this.consumers.get(readU32LE(buf, at + 2))?.channel.conn;
      // The message may not have reached the channel's unacked set: back to its queue
      // (a no-op for a no-ack delivery, or when the channel's release requeues it too).
      link.settle(SETTLE_REQUEUE, [readU32LE(buf, at + 6), readF64LE(buf, at + 10)]);
      this.output.linkDirty(link);
    } else if (buf[at] === S2A_IMMEDIATE) {
      conn = this.channels.get(readU32LE(buf, at + 2))?.conn;
    }
    if (conn === undefined) return false;
    conn.fail(err);
    return true;
  }

  /**
   * SASL PLAIN / AMQPLAIN: the user if the password is theirs and, for
   * 'guest' (RabbitMQ's loopback_users), the client is on this host.
   */
  authenticate(name: string, password: string, remoteAddress: string | undefined): User | null {
    const user = this.access.authenticate(name, password);
    if (user === null) return null;
    if (name === 'guest' && !this.options.allowRemoteGuest && !isLoopback(remoteAddress)) return null;
    return user;
  }

  /**
   * SASL EXTERNAL (RabbitMQ's rabbitmq_auth_mechanism_ssl with
   * ssl_cert_login_from = common_name): a client certificate that verified
   * against the CA names an existing user by its subject's CN.
   */
  authenticateCertificate(socket: tls.TLSSocket): User | null {
    if (!socket.authorized) return null;
    const cn = socket.getPeerCertificate().subject?.CN;
    const name = Array.isArray(cn) ? cn[0] : cn;
    if (name === undefined) return null;
    const user = this.access.user(name);
    if (user === undefined) return null;
    if (name === 'guest' && !this.options.allowRemoteGuest && !isLoopback(socket.remoteAddress)) return null;
    return user;
  }

  /**
   * connection.open: RabbitMQ's checks in its order (the node's connection
   * limit, the vhost's, which also finds an unknown vhost, then the user's
   * access); 530 if refused.
   */
  openVHost(conn: Connection, name: string): VHostService {
    if (this.faults.refusing === 'not-allowed') {
      throw new AmqpError(ReplyCode.NOT_ALLOWED, 'connection refused: the broker refuses connections (a test fault)', 0, 0, true);
    }
    const max = this.options.maxConnections;
    if (max !== Infinity && this.openConnections() >= max) {
      throw new AmqpError(ReplyCode.NOT_ALLOWED, `connection refused: node connection limit (${max}) is reached`, 0, 0, true);
    }
    const service = this.vhosts.get(name);
    if (service === undefined) throw new AmqpError(ReplyCode.NOT_ALLOWED, `vhost ${name} not found`, 0, 0, true);
    const limit = service.limits?.maxConnections;
    if (reached(limit, service.connections.size)) {
      throw new AmqpError(ReplyCode.NOT_ALLOWED, `access to vhost '${name}' refused for user '${conn.user}': connection limit (${limit}) is reached`, 0, 0, true);
    }
    const userLimit = this.access.user(conn.user)?.limits.maxConnections;
    if (userLimit !== undefined && reached(userLimit, this.userConnections(conn.user))) {
      throw new AmqpError(ReplyCode.NOT_ALLOWED, `connection refused for user '${conn.user}': user connection limit (${userLimit}) is reached`, 0, 0, true);
    }
    if (!this.access.mayUseVHost(conn.user, name)) {
      throw new AmqpError(ReplyCode.NOT_ALLOWED, `access to vhost '${name}' refused for user '${conn.user}'`, 0, 0, true);
    }
    service.connections.add(conn);
    return service;
  }

  /** A user's connections past connection.open. */
  private userConnections(user: string): number {
    let open = 0;
    for (const service of this.vhosts.values()) for (const conn of service.connections) if (conn.user === user) open++;
    return open;
  }

  /** Connections past connection.open, in every vhost. */
  private openConnections(): number {
    let open = 0;
    for (const service of this.vhosts.values()) open += service.connections.size;
    return open;
  }

  // --- users, vhosts and permissions: every change goes through these -------------

  /** Creates a user, or replaces its password (or hash) and tags. */
  putUser(name: string, credentials: Credentials, tags: readonly string[] = [], limits?: UserLimits): void {
    this.access.putUser(name, credentials, tags, limits);
    this.accessChanged();
  }

  /** max-connections and max-channels for one user (RabbitMQ's user limits); a negative or absent value is no limit. */
  setUserLimits(name: string, limits: UserLimits): void {
    const user = this.mustHaveUser(name);
    this.putUser(name, { passwordHash: user.passwordHash.toString('base64'), hashingAlgorithm: user.hashingAlgorithm }, user.tags, limits);
  }

  /** channel.open: a user's max-channels over all its connections (530, as RabbitMQ). */
  checkChannelLimit(conn: Connection): void {
    const limit = this.access.user(conn.user)?.limits.maxChannels;
    if (limit === undefined || limit < 0) return;
    let open = 0;
    for (const other of this.connections) if (other.user === conn.user) open += other.channelCount;
    if (reached(limit, open)) {
      throw new AmqpError(ReplyCode.NOT_ALLOWED, `number of channels opened for user '${conn.user}' has reached the maximum allowed user limit of (${limit})`, 0, 0, true);
    }
  }

  changePassword(name: string, password: string): void {
    const user = this.mustHaveUser(name);
    this.putUser(name, { password }, user.tags);
  }

  setUserTags(name: string, tags: readonly string[]): void {
    const user = this.mustHaveUser(name);
    this.access.putUser(name, { passwordHash: user.passwordHash.toString('base64'), hashingAlgorithm: user.hashingAlgorithm }, tags);
    this.accessChanged();
  }

  /** Deletes a user and its permissions; its connections are closed (320), as RabbitMQ does. */
  deleteUser(name: string): void {
    this.mustHaveUser(name);
    this.access.deleteUser(name);
    this.accessChanged();
    const closing = new AmqpError(ReplyCode.CONNECTION_FORCED, `user '${name}' is deleted`, 0, 0, true);
    for (const conn of this.connections) if (conn.user === name && conn.state === 'open') conn.fail(closing);
    this.output.flushAll();
  }

  /** Creates a vhost with its amq.* exchanges (an existing one is kept as it is). */
  addVHost(name: string, limits?: VHostLimits): VHostService {
    const service = this.vhost(name);
    if (limits !== undefined) this.setVHostLimits(name, limits);
    return service;
  }

  /**
   * Deletes a vhost: its connections are closed (320), its queues deleted in
   * their shards with their messages (and directories), its permissions dropped.
   */
  async deleteVHost(name: string): Promise<void> {
    const service = this.vhosts.get(name);
    if (service === undefined) throw new Error(`no vhost '${name}'`);
    this.vhosts.delete(name);
    this.firehose.deleted(service.topology);
    this.access.forgetVHost(name);
    this.accessChanged();
    const closing = new AmqpError(ReplyCode.CONNECTION_FORCED, `vhost '${name}' is deleted`, 0, 0, true);
    for (const conn of service.connections) conn.fail(closing);
    this.output.flushAll();
    await service.deleteAll();
  }

  /**
   * A test rig's reset, of one vhost or all: every queue with its messages,
   * every exchange but the default ones, every binding and every policy go (see
   * VHostService.reset). Unless `keepConnections`, their client connections
   * are closed first (320), and the sockets of those dropped during a stall
   * (any vhost's). Users, vhosts and permissions stay.
   */
  async reset(options: ResetOptions = {}): Promise<void> {
    let services: VHostService[];
    if (options.vhost === undefined) services = [...this.vhosts.values()];
    else {
      const service = this.vhosts.get(options.vhost);
      if (service === undefined) throw new Error(`no vhost '${options.vhost}'`);
      services = [service];
    }
    if (options.keepConnections !== true) {
      const closing = new AmqpError(ReplyCode.CONNECTION_FORCED, 'broker reset', 0, 0, true);
      for (const service of services) for (const conn of service.connections) conn.fail(closing);
      this.faults.endDroppedStalls();
      this.output.flushAll();
    }
    await Promise.all(services.map((service) => service.reset()));
  }

  /**
   * rabbitmqctl stop_app: every client is closed with 320 and RabbitMQ's shutdown
   * text, new ones are refused (reset) until startApp(). The management API stays.
   */
  async stopApp(): Promise<void> {
    this.appStopped = true;
    await this.disconnectAll(SHUTDOWN_FORCED);
  }

  /** rabbitmqctl shutdown and stop: the broker closes (its management API too), after the caller's answer. */
  requestShutdown(): void {
    setImmediate(this.onShutdownRequest);
  }

  /** rabbitmqctl start_app: clients are accepted again. */
  startApp(): void {
    this.appStopped = false;
  }

  /**
   * rabbitmqctl reset, once the app is stopped: a new node's state, as
   * RabbitMQ's. Every vhost is deleted (queues, messages, exchanges,
   * policies, limits) and every user; the default vhost and users are made
   * again, and the --definitions file is applied again, as RabbitMQ imports
   * its definitions when it starts.
   */
  async resetNode(): Promise<void> {
    if (!this.appStopped) throw new Error('the broker is running: stop it first (stop_app)');
    for (const name of [...this.vhosts.keys()]) await this.deleteVHost(name);
    for (const user of this.access.listUsers()) this.access.deleteUser(user.name);
    this.globals.clear();
    this.addDefaults();
    await this.loadDefinitionsOption();
    this.definitions?.changed();
  }

  /** RabbitMQ's set_disk_free_limit: bytes, or bytes with a unit ("1GB"); in memory it is only shown. */
  setDiskFreeLimit(limit: number | string): void {
    this.alarms.setDiskFreeLimit(diskFreeLimitBytes(limit));
  }

  /** RabbitMQ's set_vm_memory_high_watermark, as --memory-high-watermark takes it; 0 blocks every publisher. */
  setMemoryHighWatermark(value: number | string): void {
    this.alarms.setMemoryLimit(watermarkBytes(value));
  }

  /**
   * max-connections and max-queues (RabbitMQ's vhost-limits parameter, replaced
   * whole); a negative or absent value is no limit; null clears the parameter.
   */
  setVHostLimits(name: string, limits: VHostLimits | null): void {
    this.mustHaveVHost(name).limits = limits === null ? null : { ...limits };
    this.accessChanged();
  }

  /** A vhost's description and tags, replaced (vhost-metadata.ts). */
  setVHostMetadata(name: string, metadata: VHostMetadata): void {
    this.mustHaveVHost(name).metadata = { description: metadata.description, tags: [...metadata.tags] };
    this.definitions?.changed();
  }

  /** rabbitmqctl trace_on / trace_off (log/firehose.ts); not kept across a restart, as in RabbitMQ 3.10.8. */
  setVHostTracing(name: string, on: boolean): void {
    this.firehose.setTracing(this.mustHaveVHost(name).topology, on);
  }

  setPermissions(user: string, vhost: string, spec: PermissionSpec): void {
    this.mustHaveVHost(vhost);
    this.access.setPermissions(user, vhost, spec);
    this.accessChanged();
  }

  clearPermissions(user: string, vhost: string): void {
    this.access.clearPermissions(user, vhost);
    this.accessChanged();
  }

  setTopicPermissions(user: string, vhost: string, spec: TopicPermissionSpec): void {
    this.mustHaveVHost(vhost);
    this.access.setTopicPermissions(user, vhost, spec);
    this.accessChanged();
  }

  clearTopicPermissions(user: string, vhost: string, exchange?: string): void {
    this.access.clearTopicPermissions(user, vhost, exchange);
    this.accessChanged();
  }

  private mustHaveUser(name: string): User {
    const user = this.access.user(name);
    if (user === undefined) throw new Error(`no user '${name}'`);
    return user;
  }

  private mustHaveVHost(name: string): VHostService {
    const service = this.vhosts.get(name);
    if (service === undefined) throw new Error(`no vhost '${name}'`);
    return service;
  }

  /** Users, permissions and limits are stored with the definitions; explicit changes end the defaults. */
  private accessChanged(): void {
    this.defaultUsers = false;
    this.definitions?.changed();
  }

  private accept(socket: net.Socket): void {
    if (this.failure !== null || this.closing !== null || this.appStopped || this.faults.refusing === 'reset') {
      socket.destroy();
      return;
    }
    const conn = new Connection(this.nextId++, socket, this);
    this.connections.add(conn);
    this.churn.connectionCreated++;
    connectionLog.info(`accepting AMQP connection ${conn.id} (${conn.name})`);
  }

  connectionClosed(conn: Connection): void {
    this.connections.delete(conn);
    this.churn.connectionClosed++;
    this.output.forget(conn);
    this.alarms.forget(conn);
    if (this.waitFor.active) this.waitFor.poke();
    // Before open-ok a connection has no vhost, and no queues.
    const service = conn.service as VHostService | undefined;
    if (service === undefined) return;
    connectionLog.info(`closing AMQP connection ${conn.id} (${conn.name}, vhost: '${service.name}', user: '${conn.user}')`);
    service.connections.delete(conn);
    for (const queue of [...service.exclusiveQueues(conn.id)]) this.dropQueue(queue, conn);
    if (this.observers.close) this.observers.onClose(conn);
  }

  onShardMemory(): void {
    this.alarms.recheck();
  }

  /** The end of a batch of shard records: write what it produced now. */
  onBatchEnd(): void {
    this.output.flushAll();
  }

  // --- channels: immediate publishes and confirms -------------------------------

  registerChannel(channel: Channel): number {
    const ref = this.nextId++;
    this.channels.set(ref, channel);
    this.churn.channelCreated++;
    return ref;
  }

  unregisterChannel(channel: Channel): void {
    this.channels.delete(channel.ref);
    this.churn.channelClosed++;
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
    if (channelRef === this.internalConfirms.ref) this.internalConfirms.confirmed(link, stored, refused);
    else this.channels.get(channelRef)?.confirmed(link, stored, refused); // gone: its client is too
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

  /** QueueHost: a deleted queue's consumers are cancelled; the function returned notifies those that can be. */
  queueDeleted(queue: QueueRecord): () => void {
    this.churn.queueDeleted++;
    const cancelled = this.consumers.forgetAll(queue);
    return () => this.consumers.tellCancelled(cancelled);
  }

  /** ConsumerHost: an auto-delete queue goes with its last consumer. */
  queueUnused(queue: QueueRecord, conn: Connection): void {
    this.dropQueue(queue, conn);
  }

  /** Deletes a queue no method awaits (auto-delete, exclusive): a failure closes `conn`, not the process. */
  private dropQueue(queue: QueueRecord, conn: Connection): void {
    // A deleted vhost's queues went with it.
    this.vhosts.get(queue.vhost)?.dropQueue(queue).catch((err) => conn.fail(err));
  }

  /** The first vhost whose `pick` finds a queue, with that queue. */
  private findQueue(pick: (service: VHostService) => QueueRecord | undefined): { service: VHostService; queue: QueueRecord } | undefined {
    for (const service of this.vhosts.values()) {
      const queue = pick(service);
      if (queue !== undefined) return { service, queue };
    }
    return undefined;
  }

  /** A dead message from a queue (one being deleted too): routed through that queue's vhost. Never throws: it runs in the shard pump. */
  onDeadLetter(queueId: number, buf: Buffer, blockAt: number, end: number): void {
    const found = this.findQueue((service) => service.deadLetterSource(queueId));
    if (found === undefined) return; // its vhost was deleted meanwhile
    try {
      this.deadLetters.route(found.service.topology, buf, blockAt, end);
    } catch (err) {
      log.error(`dead-lettering a message from queue '${found.queue.name}' failed: ${(err as Error).stack ?? err}`);
    }
  }

  /** A queue unused for its x-expires is deleted, unless a consumer came meanwhile (the shard then re-arms). */
  onQueueExpired(queueId: number): void {
    const found = this.findQueue((service) => service.queueById(queueId));
    if (found === undefined || found.queue.consumerCount > 0) return;
    found.service.dropQueue(found.queue).catch((err) => log.error(`deleting expired queue '${found.queue.name}' failed: ${err}`));
  }

  consumer(id: number): ConsumerRef | undefined {
    return this.consumers.get(id);
  }

  onDeliver(link: ShardLink, buf: Buffer, at: number, block: Buffer, blockAt: number): void {
    const consumerId = readU32LE(buf, at + 2);
    const consumer = this.consumers.get(consumerId);
    // Cancelled while this was in flight: the shard took it back when it saw the cancel.
    if (consumer === undefined) return this.consumers.undelivered(consumerId, isCounted(buf, at));
    consumer.channel.deliver(consumer, isRedelivered(buf, at), isCounted(buf, at), readU32LE(buf, at + 6), readF64LE(buf, at + 10), block, blockAt);
    link.credit(consumer.id);
  }
}

/**
 * The observing hooks' types (src/rig/observers.ts), beside EventEmitter's own
 * signatures ('fatal' and the rest).
 */
export interface Broker {
  on<K extends ObservedEvent>(event: K, listener: (event: ObservedEvents[K]) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<K extends ObservedEvent>(event: K, listener: (event: ObservedEvents[K]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  off<K extends ObservedEvent>(event: K, listener: (event: ObservedEvents[K]) => void): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** Whether a peer address is this host's loopback (IPv4, IPv6, or IPv4-mapped IPv6). */
function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
