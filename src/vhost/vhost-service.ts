/**
 * One vhost's topology service: the only place where exchanges, queues and
 * bindings are declared, deleted, bound and unbound, with RabbitMQ's rules,
 * reply codes and texts. AMQP handlers, definitions import and recovery replay
 * all call apply(); it knows nothing of channels or connections (an owner is a
 * plain connection id), so any of them can.
 *
 * Changes to the routing model (VHost) are in force when apply() returns or
 * resolves; queue contents live in the shards, told through the queue host.
 */
import { randomBytes } from 'node:crypto';
import { ChannelStats } from '../acceptor/channel-stats.js';
import type { Churn } from './churn.js';
import { queueDir } from '../store/queue-dir.js';
import { comparedArguments, parseQueueArguments, typeOf, type QueueConfig, type QueueProperties } from './queue-arguments.js';
import { effectiveDefinition, effectiveQueueConfig, matchPolicy, policyAlternate, sameSettings, type Policy, type PolicyKind } from './policy.js';
import { validateHeadersArgs } from '../routing/headers.js';
import { ReplyCode, channelError, connectionError } from '../protocol/errors.js';
import { isExchangeType } from '../routing/exchange-type.js';
import type { FieldTable, FieldValue } from '../protocol/field-types.js';
import { wireTypeName } from '../protocol/field-table.js';
import { VHost, type Destination, type ExchangeRecord, type QueueRecord } from '../routing/topology.js';
import { canonicalTable } from '../routing/field-equality.js';
import { shardOf } from '../shard/placement.js';
import type { ShardLink } from '../acceptor/shard-link.js';
import type { Connection } from '../acceptor/connection.js';
import type { VHostLimits } from './vhost-limits.js';
import { initialMetadata, type VHostMetadata } from './vhost-metadata.js';
import type { OutputScheduler } from '../acceptor/output-scheduler.js';
import type {
  ExchangeBindingCommand,
  ExchangeDeclareCommand,
  ExchangeDeleteCommand,
  ImmediateCommand,
  MessagesRemoved,
  QueueBindingCommand,
  QueueDeclareCommand,
  QueueDeclared,
  QueueDeleteCommand,
  QueuePurgeCommand,
  ShardCommand,
  TopologyCommand,
} from './commands.js';

/** What a vhost needs from the broker to keep queues in shards. */
export interface QueueHost {
  readonly links: readonly ShardLink[];
  /** the ring of `link` was written: ring it this turn */
  readonly output: Pick<OutputScheduler, 'linkDirty'>;
  /** a broker-wide id (queue ids share the space with consumer ids) */
  newId(): number;
  /**
   * `queue` left the routing model: its consumers are gone at once. The function
   * returned tells them so (where they can be told); call it once the shard has
   * deleted the queue, so basic.cancel goes just before queue.delete-ok, as RabbitMQ's does.
   */
  queueDeleted(queue: QueueRecord): () => void;
  /** something kept across restarts changed (a durable exchange, queue or binding) */
  topologyChanged(): void;
  /** where durable queues keep their persistent messages; undefined: in memory */
  readonly dataDir: string | undefined;
  /** counts queues declared and created (the host counts deletions, in queueDeleted) */
  readonly churn: Churn;
}

export class VHostService {
  /** the routing model, read on the publish path */
  readonly topology: VHost;
  /** exclusive queues by owning connection id, deleted when it goes */
  private readonly exclusive = new Map<number, Set<QueueRecord>>();
  /** queues by id, for what a shard reports about a queue (expired, dead letters) */
  private readonly queuesById = new Map<number, QueueRecord>();
  /** queues taken out of the model whose shard has not yet answered their delete */
  private readonly leaving = new Map<number, QueueRecord>();
  /** the connections opened to this vhost (max-connections, and closed when it is deleted) */
  readonly connections = new Set<Connection>();
  /** message_stats totals of its channels that closed (the management API adds the open ones) */
  readonly closedChannels = new ChannelStats();
  /** the vhost-limits parameter: null when there is none (RabbitMQ keeps one of no limits once its last limit is deleted) */
  limits: VHostLimits | null = null;
  /** description and tags (vhost-metadata.ts) */
  metadata: VHostMetadata;
  /** policies and operator policies by name (policy.ts); set and cleared with setPolicy() and clearPolicy() */
  private readonly policyMaps: Record<PolicyKind, Map<string, Policy>> = { policy: new Map(), operator: new Map() };

  constructor(
    readonly name: string,
    private readonly host: QueueHost,
  ) {
    this.topology = new VHost(name);
    this.metadata = initialMetadata(name);
    this.topology.onStoredChange = () => host.topologyChanged();
  }

  apply(command: QueueDeclareCommand): Promise<QueueDeclared>;
  apply(command: QueueDeleteCommand | QueuePurgeCommand): Promise<MessagesRemoved>;
  apply(command: ImmediateCommand): void;
  apply(command: TopologyCommand): void | Promise<QueueDeclared | MessagesRemoved>;
  apply(command: TopologyCommand): void | Promise<QueueDeclared | MessagesRemoved> {
    switch (command.kind) {
      case 'exchange.declare':
        return this.declareExchange(command);
      case 'exchange.delete':
        return this.deleteExchange(command);
      case 'queue.declare':
        return this.declareQueue(command);
      case 'queue.delete':
        return this.deleteQueue(command);
      case 'queue.purge':
        return this.purgeQueue(command);
      case 'bind':
      case 'unbind':
        return this.bindQueue(command);
      case 'exchange.bind':
      case 'exchange.unbind':
        return this.bindExchange(command);
      default:
        throw new Error(`unknown topology command ${(command as ShardCommand).kind}`);
    }
  }

  /** A queue `owner` may use: it exists and is not another connection's exclusive queue. */
  queue(name: string, owner: number): QueueRecord {
    const queue = this.topology.queues.get(name);
    if (queue === undefined) throw queueNotFound(this.name, name);
    checkOwner(queue, owner);
    return queue;
  }

  /** The exclusive queues `owner` holds (deleted with dropQueue when it goes). */
  exclusiveQueues(owner: number): ReadonlySet<QueueRecord> {
    return this.exclusive.get(owner) ?? new Set();
  }

  /** The queue with this id, if it still exists here. */
  queueById(id: number): QueueRecord | undefined {
    return this.queuesById.get(id);
  }

  /**
   * The queue with this id, also while its shard deletes it: the dead letters
   * of messages it rejected before the delete come back first (its shard writes
   * them before it answers), and go where they would have, as in RabbitMQ.
   */
  deadLetterSource(id: number): QueueRecord | undefined {
    return this.queuesById.get(id) ?? this.leaving.get(id);
  }

  /** `used`: a redeclare, which restarts the queue's x-expires clock. */
  async messageCount(queue: QueueRecord, used = false): Promise<number> {
    const { messageCount } = await this.host.links[queue.shard].request({ op: 'count', queueId: queue.id, used });
    return messageCount;
  }

  /**
   * Deletes this very queue record (not whatever has its name by the time a
   * caller gets here): consumers are cancelled, bindings removed; resolves
   * with the messages dropped. Auto-delete and exclusive-owner cleanup use it.
   */
  async dropQueue(queue: QueueRecord): Promise<number> {
    const tellCancelled = this.forgetQueue(queue);
    if (tellCancelled === undefined) return 0;
    const link = this.host.links[queue.shard];
    try {
      const { messageCount } = await link.request({ op: 'delete', queueId: queue.id });
      link.queueCleared(queue.id);
      return messageCount;
    } finally {
      this.leaving.delete(queue.id);
      tellCancelled();
    }
  }

  /**
   * Takes a queue out of the routing model and cancels its consumers; returns
   * what tells them so, or undefined if the queue was already gone.
   */
  private forgetQueue(queue: QueueRecord): (() => void) | undefined {
    if (this.topology.queues.get(queue.name) !== queue) return undefined;
    this.topology.deleteQueue(queue);
    this.queuesById.delete(queue.id);
    this.leaving.set(queue.id, queue);
    if (queue.exclusiveOwner !== 0) {
      const owned = this.exclusive.get(queue.exclusiveOwner);
      owned?.delete(queue);
      if (owned?.size === 0) this.exclusive.delete(queue.exclusiveOwner);
    }
    return this.host.queueDeleted(queue);
  }

  /** The vhost is being deleted: every queue goes, with its messages, in its shard. */
  async deleteAll(): Promise<void> {
    await this.deleteQueues([...this.topology.queues.values()]);
  }

  /**
   * A test rig's reset: every queue (with its messages), every exchange but
   * the default ones, every binding and every policy go; resolves with the
   * messages dropped. The routing model changes at once; each shard gets one
   * request for all its queues.
   */
  async reset(): Promise<number> {
    const removed = this.deleteQueues([...this.topology.queues.values()]);
    for (const exchange of [...this.topology.exchanges.values()]) {
      if (exchange.name !== '' && !exchange.name.startsWith('amq.')) this.topology.deleteExchange(exchange);
    }
    // What is left: the default exchanges, and bindings among them.
    for (const exchange of this.topology.exchanges.values()) {
      for (const binding of [...exchange.matcher.bindings()]) this.topology.unbind(exchange, binding.destination, binding.routingKey, binding.args);
    }
    const maps = Object.values(this.policyMaps);
    if (maps.some((map) => map.size > 0)) {
      for (const map of maps) map.clear();
      this.applyPolicies(); // the default exchanges lose theirs
    }
    return removed;
  }

  /**
   * A simulated broker restart (faults.restart): what a restart would lose goes.
   * Non-durable and exclusive queues and non-durable exchanges (with their
   * bindings) are deleted; the durable queues left keep only their persistent
   * messages (delivery-mode 2), one request per shard. Resolves with the messages dropped.
   */
  async dropTransient(): Promise<number> {
    const queues = [...this.topology.queues.values()];
    const removed = this.deleteQueues(queues.filter((queue) => !queue.durable || queue.exclusiveOwner !== 0));
    for (const exchange of [...this.topology.exchanges.values()]) if (!exchange.durable) this.topology.deleteExchange(exchange);
    const byShard = new Map<number, number[]>();
    for (const queue of this.topology.queues.values()) {
      let ids = byShard.get(queue.shard);
      if (ids === undefined) byShard.set(queue.shard, (ids = []));
      ids.push(queue.id);
    }
    const dropped = await Promise.all(
      [...byShard].map(async ([shard, queueIds]) => (await this.host.links[shard].request({ op: 'dropTransient', queueIds })).messageCount as number),
    );
    return (await removed) + dropped.reduce((a, b) => a + b, 0);
  }

  /** Deletes queues, one request per shard for all of its queues. */
  private async deleteQueues(queues: QueueRecord[]): Promise<number> {
    const byShard = new Map<number, number[]>();
    const tellCancelled: (() => void)[] = [];
    for (const queue of queues) {
      const tell = this.forgetQueue(queue);
      if (tell === undefined) continue;
      tellCancelled.push(tell);
      let ids = byShard.get(queue.shard);
      if (ids === undefined) byShard.set(queue.shard, (ids = []));
      ids.push(queue.id);
    }
    try {
      const counts = await Promise.all(
        [...byShard].map(async ([shard, queueIds]) => {
          const link = this.host.links[shard];
          const { messageCount } = await link.request({ op: 'deleteMany', queueIds });
          for (const id of queueIds) link.queueCleared(id);
          return messageCount as number;
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    } finally {
      for (const ids of byShard.values()) for (const id of ids) this.leaving.delete(id);
      for (const tell of tellCancelled) tell();
    }
  }

  // --- policies -------------------------------------------------------------------

  policies(kind: PolicyKind = 'policy'): Iterable<Policy> {
    return this.policyMaps[kind].values();
  }

  /** Adds or replaces a policy (checked by parsePolicy for its kind) and applies it at once; true when it is new. */
  setPolicy(policy: Policy, kind: PolicyKind = 'policy'): boolean {
    const map = this.policyMaps[kind];
    const created = !map.has(policy.name);
    map.set(policy.name, policy);
    this.applyPolicies();
    return created;
  }

  /** False when there is no such policy. */
  clearPolicy(name: string, kind: PolicyKind = 'policy'): boolean {
    if (!this.policyMaps[kind].delete(name)) return false;
    this.applyPolicies();
    return true;
  }

  /**
   * Gives every exchange and queue the policy that now matches it. A queue
   * whose policy changed gets its new settings in its shard (a lower length
   * limit drops heads there and then, as in RabbitMQ); its messages keep the
   * expiry they were given when they came.
   */
  private applyPolicies(): void {
    for (const exchange of this.topology.exchanges.values()) {
      const policy = this.matchPolicy('policy', 'exchange', exchange.name);
      if (policy !== exchange.policy) this.topology.setExchangePolicy(exchange, policy, policyAlternate(policy));
    }
    for (const queue of this.topology.queues.values()) {
      const policy = this.matchPolicy('policy', 'queue', queue.name);
      const operatorPolicy = this.matchPolicy('operator', 'queue', queue.name);
      const same = sameSettings(policy, queue.policy) && sameSettings(operatorPolicy, queue.operatorPolicy);
      queue.policy = policy;
      queue.operatorPolicy = operatorPolicy;
      // A policy put again as it was changes nothing (RabbitMQ tells the queue only of a change).
      if (same) continue;
      const link = this.host.links[queue.shard];
      link.configure(queue.id, this.queueConfig(queue.name, queue.args, { durable: queue.durable, autoDelete: queue.autoDelete, exclusive: queue.exclusiveOwner !== 0 }, queue));
      this.host.output.linkDirty(link);
    }
    this.host.topologyChanged();
  }

  private matchPolicy(kind: PolicyKind, what: 'queue' | 'exchange', name: string): Policy | undefined {
    return matchPolicy(this.policyMaps[kind].values(), what, name);
  }

  /** A queue's settings: its x-arguments (406 when they are not RabbitMQ's), then its policies. */
  private queueConfig(name: string, args: FieldTable, props: QueueProperties, policies: Pick<QueueRecord, 'policy' | 'operatorPolicy'>): QueueConfig {
    return effectiveQueueConfig(parseQueueArguments(this.name, name, args, props), args, effectiveDefinition(policies.policy, policies.operatorPolicy));
  }

  // --- exchanges ------------------------------------------------------------------

  private declareExchange(c: ExchangeDeclareCommand): void {
    if (c.passive) {
      if (c.name === '') throw defaultExchangeRefused();
      if (!this.topology.exchanges.has(c.name)) throw exchangeNotFound(this.name, c.name);
      return;
    }
    // RabbitMQ checks the type (503) before the name (403).
    if (!isExchangeType(c.type)) throw connectionError(ReplyCode.COMMAND_INVALID, `unknown exchange type '${c.type}'`);
    if (c.name === '') throw defaultExchangeRefused();
    const current = this.topology.exchanges.get(c.name);
    if (current !== undefined) {
      const where = `for exchange '${c.name}' in vhost '${this.name}'`;
      inequivalent('type', c.type, current.type, where);
      inequivalent('durable', c.durable, current.durable, where);
      inequivalent('auto_delete', c.autoDelete, current.autoDelete, where);
      inequivalent('internal', c.internal, current.internal, where);
      // Like RabbitMQ, only the alternate exchange must match; other arguments may differ.
      inequivalentArg('alternate-exchange', c.arguments, current.args, where);
      return;
    }
    if (c.name.startsWith('amq.')) {
      throw channelError(ReplyCode.ACCESS_REFUSED, `exchange name '${c.name}' contains reserved prefix 'amq.*'`);
    }
    // A new exchange's alternate exchange is a name (RabbitMQ checks the type only here, not on a redeclare).
    const ae = c.arguments['alternate-exchange'];
    if (ae !== undefined && typeof ae !== 'string') {
      throw channelError(ReplyCode.PRECONDITION_FAILED, `invalid type '${wireTypeName(c.arguments, 'alternate-exchange')}' for arg 'alternate-exchange' in exchange '${c.name}' in vhost '${this.name}'`);
    }
    const exchange = this.topology.addExchange({ name: c.name, type: c.type, durable: c.durable, autoDelete: c.autoDelete, internal: c.internal, args: c.arguments });
    const policy = this.matchPolicy('policy', 'exchange', c.name);
    if (policy !== undefined) this.topology.setExchangePolicy(exchange, policy, policyAlternate(policy));
  }

  private deleteExchange(c: ExchangeDeleteCommand): void {
    if (c.name === '') throw defaultExchangeRefused();
    if (c.name.startsWith('amq.')) {
      throw channelError(ReplyCode.ACCESS_REFUSED, `deletion of system exchange '${c.name}' in vhost '${this.name}' not allowed`);
    }
    const exchange = this.topology.exchanges.get(c.name);
    if (exchange === undefined) return; // RabbitMQ: deleting a missing exchange succeeds
    if (c.ifUnused && exchange.matcher.bindingCount > 0) {
      throw channelError(ReplyCode.PRECONDITION_FAILED, `exchange '${c.name}' in vhost '${this.name}' in use`);
    }
    this.topology.deleteExchange(exchange);
  }

  /** An exchange that must exist, for bind. */
  private existingExchange(name: string): ExchangeRecord {
    const exchange = this.topology.exchanges.get(name);
    if (exchange === undefined) throw exchangeNotFound(this.name, name);
    return exchange;
  }

  // --- queues ---------------------------------------------------------------------

  private async declareQueue(declared: QueueDeclareCommand): Promise<QueueDeclared> {
    // An exclusive queue dies with its connection, so RabbitMQ keeps it transient whatever the durable flag said.
    const c = declared.exclusive && declared.durable ? { ...declared, durable: false } : declared;
    // RabbitMQ refuses a client's amq.* name before it looks for the queue: a server-named one is not declared again by name.
    if (!c.passive && c.name.startsWith('amq.') && c.reservedName !== true) {
      throw channelError(ReplyCode.ACCESS_REFUSED, `queue name '${c.name}' contains reserved prefix 'amq.*'`);
    }
    // A passive declare of '' looks for a queue named '' (RabbitMQ: "no queue ''").
    const name = c.name === '' && !c.passive ? serverNamedQueue() : c.name;
    let queue = this.topology.queues.get(name);
    if (queue !== undefined) {
      checkOwner(queue, c.owner);
      if (!c.passive) {
        // RabbitMQ checks exclusivity strictly here: a mismatch is "locked", not "inequivalent".
        if ((c.exclusive ? c.owner : 0) !== queue.exclusiveOwner) throw locked(queue);
        const where = `for queue '${name}' in vhost '${this.name}'`;
        inequivalent('durable', c.durable, queue.durable, where);
        inequivalent('auto_delete', c.autoDelete, queue.autoDelete, where);
        for (const key of comparedArguments(queue.args)) inequivalentArg(key, c.arguments, queue.args, where);
      }
    } else if (c.passive) {
      throw queueNotFound(this.name, name);
    } else {
      if (c.exclusive && c.owner === 0) {
        throw channelError(ReplyCode.PRECONDITION_FAILED, `exclusive queue '${name}' in vhost '${this.name}' needs an owning connection`);
      }
      const max = this.limits?.maxQueues;
      if (max !== undefined && max >= 0 && this.topology.queues.size + 1 > max) {
        throw channelError(ReplyCode.PRECONDITION_FAILED, `cannot declare queue '${name}': queue limit in vhost '${this.name}' (${max}) is reached`);
      }
      queue = this.createQueue(name, c);
      this.host.churn.queueCreated++;
    }
    // Passive or not, a declare restarts the queue's x-expires, as RabbitMQ's stat does.
    const messageCount = await this.messageCount(queue, true);
    this.host.churn.queueDeclared++;
    return { queue: name, messageCount, consumerCount: queue.consumerCount };
  }

  private createQueue(name: string, c: QueueDeclareCommand): QueueRecord {
    const policies = { policy: this.matchPolicy('policy', 'queue', name), operatorPolicy: this.matchPolicy('operator', 'queue', name) };
    const config = this.queueConfig(name, c.arguments, c, policies);
    const shards = this.host.links.length;
    const queue: QueueRecord = {
      kind: 'queue',
      id: this.host.newId(),
      name,
      vhost: this.name,
      shard: shardOf(this.name, name, shards),
      durable: c.durable,
      exclusiveOwner: c.exclusive ? c.owner : 0,
      autoDelete: c.autoDelete,
      args: c.arguments,
      boundFrom: new Set(),
      consumerCount: 0,
      ...policies,
    };
    this.topology.addQueue(queue);
    this.queuesById.set(queue.id, queue);
    if (queue.exclusiveOwner !== 0) {
      let owned = this.exclusive.get(queue.exclusiveOwner);
      if (owned === undefined) this.exclusive.set(queue.exclusiveOwner, (owned = new Set()));
      owned.add(queue);
    }
    // The shard learns of it before any publish: same ring, earlier record.
    const link = this.host.links[queue.shard];
    // A durable queue's directory: the shard recovers what it holds, and keeps persistent messages there.
    const dir = queue.durable && this.host.dataDir !== undefined ? queueDir(this.host.dataDir, this.name, name) : undefined;
    link.send({ op: 'declare', queueId: queue.id, name, dir, config });
    this.host.output.linkDirty(link);
    return queue;
  }

  private async deleteQueue(c: QueueDeleteCommand): Promise<MessagesRemoved> {
    const queue = this.topology.queues.get(c.name);
    if (queue === undefined) return { messageCount: 0 };
    checkOwner(queue, c.owner);
    // RabbitMQ's queue looks at if-empty first.
    if (c.ifEmpty && (await this.messageCount(queue)) > 0) {
      throw channelError(ReplyCode.PRECONDITION_FAILED, `queue '${c.name}' in vhost '${this.name}' not empty`);
    }
    if (c.ifUnused && queue.consumerCount > 0) {
      throw channelError(ReplyCode.PRECONDITION_FAILED, `queue '${c.name}' in vhost '${this.name}' in use`);
    }
    const messageCount = await this.dropQueue(queue);
    // RabbitMQ 3.10.8 answers a stream's delete with 0, whatever its log held.
    return { messageCount: typeOf(queue.args) === 'stream' ? 0 : messageCount };
  }

  private async purgeQueue(c: QueuePurgeCommand): Promise<MessagesRemoved> {
    const queue = this.queue(c.name, c.owner);
    if (typeOf(queue.args) === 'stream') {
      throw connectionError(ReplyCode.NOT_IMPLEMENTED, `queue.purge not supported by stream queues queue '${queue.name}' in vhost '${this.name}'`);
    }
    const { messageCount } = await this.host.links[queue.shard].request({ op: 'purge', queueId: queue.id });
    return { messageCount };
  }

  // --- bindings -------------------------------------------------------------------

  private bindQueue(c: QueueBindingCommand): void {
    // RabbitMQ refuses the default exchange before it looks for anything, to bind or to unbind.
    if (c.exchange === '') throw defaultExchangeRefused();
    if (c.kind === 'bind') {
      // RabbitMQ's order: the source, the destination, the arguments, then exclusivity.
      const exchange = this.existingExchange(c.exchange);
      const queue = this.topology.queues.get(c.queue);
      if (queue === undefined) throw queueNotFound(this.name, c.queue);
      checkBindingArgs(exchange, c.arguments);
      checkOwner(queue, c.owner);
      this.topology.bind(exchange, queue, c.routingKey, c.arguments);
      return;
    }
    // Unbinding what does not exist succeeds, as in RabbitMQ, whoever's the queue.
    const queue = this.topology.queues.get(c.queue);
    const exchange = this.topology.exchanges.get(c.exchange);
    if (queue === undefined || exchange === undefined || !hasBinding(exchange, queue, c.routingKey, c.arguments)) return;
    checkOwner(queue, c.owner);
    this.topology.unbind(exchange, queue, c.routingKey, c.arguments);
  }

  private bindExchange(c: ExchangeBindingCommand): void {
    if (c.destination === '' || c.source === '') throw defaultExchangeRefused();
    if (c.kind === 'exchange.bind') {
      const source = this.existingExchange(c.source);
      const destination = this.existingExchange(c.destination);
      checkBindingArgs(source, c.arguments);
      this.topology.bind(source, destination, c.routingKey, c.arguments);
      return;
    }
    const source = this.topology.exchanges.get(c.source);
    const destination = this.topology.exchanges.get(c.destination);
    if (source !== undefined && destination !== undefined) this.topology.unbind(source, destination, c.routingKey, c.arguments);
  }
}

/** A name for a queue declared with '' (RabbitMQ's amq.gen-...). */
export function serverNamedQueue(): string {
  return `amq.gen-${randomBytes(16).toString('base64url').slice(0, 22)}`;
}

// --- RabbitMQ's errors ------------------------------------------------------------

/** A headers exchange refuses an x-match other than all, any, all-with-x, any-with-x (406, as RabbitMQ). */
function checkBindingArgs(exchange: ExchangeRecord, args: FieldTable): void {
  if (exchange.type !== 'headers') return;
  const error = validateHeadersArgs(args);
  if (error !== undefined) throw channelError(ReplyCode.PRECONDITION_FAILED, error);
}

/** Whether `exchange` has this very binding to `destination`. */
function hasBinding(exchange: ExchangeRecord, destination: Destination, routingKey: string, args: FieldTable): boolean {
  if (!exchange.matcher.hasBindingsTo(destination)) return false;
  const key = canonicalTable(args);
  for (const b of exchange.matcher.bindings()) if (b.destination === destination && b.routingKey === routingKey && canonicalTable(b.args) === key) return true;
  return false;
}

function checkOwner(queue: QueueRecord, owner: number): void {
  if (queue.exclusiveOwner !== 0 && queue.exclusiveOwner !== owner) throw locked(queue);
}

function locked(queue: QueueRecord) {
  return channelError(
    ReplyCode.RESOURCE_LOCKED,
    `cannot obtain exclusive access to locked queue '${queue.name}' in vhost '${queue.vhost}'. ` +
      'It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.',
  );
}

function defaultExchangeRefused() {
  return channelError(ReplyCode.ACCESS_REFUSED, `operation not permitted on the default exchange`);
}

function exchangeNotFound(vhost: string, name: string) {
  return channelError(ReplyCode.NOT_FOUND, `no exchange '${name}' in vhost '${vhost}'`);
}

function queueNotFound(vhost: string, name: string) {
  return channelError(ReplyCode.NOT_FOUND, `no queue '${name}' in vhost '${vhost}'`);
}

/** RabbitMQ's 406 text for a redeclare that differs from what exists. */
function inequivalent(arg: string, received: unknown, current: unknown, where: string): void {
  if (received !== current) {
    throw channelError(ReplyCode.PRECONDITION_FAILED, `inequivalent arg '${arg}' ${where}: received '${received}' but current is '${current}'`);
  }
}

/** Like inequivalent(), worded as RabbitMQ words x-arguments. */
function inequivalentArg(key: string, receivedArgs: FieldTable, currentArgs: FieldTable, where: string): void {
  const received = receivedArgs[key];
  const current = currentArgs[key];
  if (received === current) return;
  // RabbitMQ 3.10.8: a classic queue may be redeclared with or without its x-queue-type.
  if (key === 'x-queue-type' && (received ?? 'classic') === 'classic' && (current ?? 'classic') === 'classic') return;
  // RabbitMQ names the type only when one side is missing: "received none but current is the value '10' of type 'long'".
  const typed = received === undefined || current === undefined;
  const show = (args: FieldTable) => (args[key] === undefined ? 'none' : typed ? `the value '${args[key]}' of type '${wireTypeName(args, key)}'` : `'${args[key]}'`);
  throw channelError(ReplyCode.PRECONDITION_FAILED, `inequivalent arg '${key}' ${where}: received ${show(receivedArgs)} but current is ${show(currentArgs)}`);
}
