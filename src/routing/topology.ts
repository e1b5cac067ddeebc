/**
 * The acceptor's model of a vhost: exchanges, queue records and the bindings
 * between them. It routes publishes where they are parsed; queue contents live
 * in the shards, addressed by QueueRecord.id.
 */
import type { FieldTable } from '../protocol/field-types.js';
import { createMatcher, type ExchangeMatcher, type ExchangeTypeName } from './exchange-type.js';

export type Destination = ExchangeRecord | QueueRecord;

/** The policy that applies to an exchange or queue (vhost/policy.ts): what the management API shows of it. */
export interface AppliedPolicy {
  readonly name: string;
  readonly definition: Readonly<Record<string, unknown>>;
}

export interface ExchangeRecord {
  readonly kind: 'exchange';
  readonly name: string;
  readonly type: ExchangeTypeName;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly args: FieldTable;
  readonly matcher: ExchangeMatcher<Destination>;
  /**
   * The `alternate-exchange` argument, else its policy's: where a message goes
   * that this exchange routes nowhere. A name, looked up per message, so an
   * alternate declared later (or deleted and declared again) is used, as in RabbitMQ.
   */
  alternate: string | undefined;
  policy: AppliedPolicy | undefined;
  /** Exchanges with a binding to this one, so deleting it can unbind. */
  readonly boundFrom: Set<ExchangeRecord>;
  /** Messages published to it (the management API's publish_in): an integer increment per publish. */
  publishIn: number;
  /** Copies it routed to queues (publish_out: one per queue a message reached, as RabbitMQ sums its queue_exchange_stats). */
  publishOut: number;
}

export interface QueueRecord {
  readonly kind: 'queue';
  readonly id: number;
  readonly name: string;
  readonly vhost: string;
  readonly shard: number;
  readonly durable: boolean;
  /** The owning connection's id when exclusive, else 0. */
  readonly exclusiveOwner: number;
  readonly autoDelete: boolean;
  readonly args: FieldTable;
  readonly boundFrom: Set<ExchangeRecord>;
  consumerCount: number;
  policy: AppliedPolicy | undefined;
  /** an administrator's caps (policy.ts, operator policies) */
  operatorPolicy: AppliedPolicy | undefined;
}

/** What a headers exchange needs from a publish, computed only if asked. */
export interface RoutedMessage {
  headers(): FieldTable | undefined;
}

/** Every vhost's system exchanges: [name, type, internal] */
export const DEFAULT_EXCHANGES: ReadonlyArray<[string, ExchangeTypeName, boolean?]> = [
  ['', 'direct'],
  ['amq.direct', 'direct'],
  ['amq.fanout', 'fanout'],
  ['amq.topic', 'topic'],
  ['amq.headers', 'headers'],
  ['amq.match', 'headers'],
  // the broker's log lines (log/log-exchange.ts): clients bind, only the broker publishes
  ['amq.rabbitmq.log', 'topic', true],
  // the firehose (log/firehose.ts): a copy of each publish and delivery while the vhost traces
  ['amq.rabbitmq.trace', 'topic', true],
];

/**
 * Whether an exchange or queue is kept across restarts (in the definitions
 * file): durable, and for a queue not exclusive (it goes with its connection).
 */
export function isStored(d: Destination): boolean {
  return d.durable && (d.kind === 'exchange' || d.exclusiveOwner === 0);
}

export class VHost {
  readonly exchanges = new Map<string, ExchangeRecord>();
  readonly queues = new Map<string, QueueRecord>();
  /**
   * Called when what is stored changed: a stored exchange or queue came or
   * went, or a binding between two stored ends (cascades go through the same
   * methods, so they are seen too). Transient churn never calls it.
   */
  onStoredChange: (() => void) | null = null;
  /**
   * Bumped by every change that can alter a route (exchange or queue added or
   * removed, binding added or removed, cascades included), so a route cached
   * under an older generation (acceptor/route-cache.ts) is never used.
   */
  generation = 0;
  /** the firehose is on (rabbitmqctl trace_on): publishes and deliveries are copied to amq.rabbitmq.trace */
  tracing = false;
  /** What one exchange with an alternate matched, during route() */
  private readonly alternateScratch = new Set<Destination>();

  constructor(readonly name: string) {
    for (const [exchange, type, internal = false] of DEFAULT_EXCHANGES) {
      this.addExchange({ name: exchange, type, durable: true, autoDelete: false, internal, args: {} });
    }
  }

  addExchange(spec: Pick<ExchangeRecord, 'name' | 'type' | 'durable' | 'autoDelete' | 'internal' | 'args'>): ExchangeRecord {
    this.generation++;
    const exchange: ExchangeRecord = {
      kind: 'exchange',
      ...spec,
      matcher: createMatcher<Destination>(spec.type),
      alternate: alternateOf(spec.args),
      policy: undefined,
      boundFrom: new Set(),
      publishIn: 0,
      publishOut: 0,
    };
    this.exchanges.set(exchange.name, exchange);
    if (exchange.durable) this.onStoredChange?.();
    return exchange;
  }

  /** A policy came to, changed on or left `exchange`; `alternate` is the policy's alternate exchange. */
  setExchangePolicy(exchange: ExchangeRecord, policy: AppliedPolicy | undefined, alternate: string | undefined): void {
    this.generation++;
    exchange.policy = policy;
    exchange.alternate = alternateOf(exchange.args) ?? alternate;
  }

  addQueue(queue: QueueRecord): void {
    this.generation++;
    this.queues.set(queue.name, queue);
    if (isStored(queue)) this.onStoredChange?.();
  }

  bind(source: ExchangeRecord, destination: Destination, routingKey: string, args: FieldTable): void {
    this.generation++;
    if (!source.matcher.bind(destination, routingKey, args)) return;
    destination.boundFrom.add(source);
    if (isStored(source) && isStored(destination)) this.onStoredChange?.();
  }

  /** Removes one binding; an auto-delete source that loses its last binding goes too. */
  unbind(source: ExchangeRecord, destination: Destination, routingKey: string, args: FieldTable): void {
    this.generation++;
    if (!source.matcher.unbind(destination, routingKey, args)) return;
    if (!source.matcher.hasBindingsTo(destination)) destination.boundFrom.delete(source);
    if (isStored(source) && isStored(destination)) this.onStoredChange?.();
    this.deleteIfUnused(source);
  }

  /** Removes a queue and every binding to it. */
  deleteQueue(queue: QueueRecord): void {
    this.generation++;
    this.queues.delete(queue.name);
    if (isStored(queue)) this.onStoredChange?.();
    this.unbindDestination(queue);
  }

  /** Removes an exchange, the bindings from it and those to it. */
  deleteExchange(exchange: ExchangeRecord): void {
    this.generation++;
    this.exchanges.delete(exchange.name);
    if (exchange.durable) this.onStoredChange?.();
    for (const binding of [...exchange.matcher.bindings()]) {
      exchange.matcher.unbindAll(binding.destination);
      binding.destination.boundFrom.delete(exchange);
    }
    this.unbindDestination(exchange);
  }

  /**
   * The queues a publish to `exchange` reaches, following exchange-to-exchange
   * bindings and alternate exchanges. `out` is a caller-owned scratch set,
   * cleared here; exchanges in it double as the visited set (so a cycle of
   * bindings or alternates visits each exchange once), and a Set's iterator
   * sees entries added while it runs. `extraKeys` (CC and BCC headers) are
   * routed with `routingKey` at every exchange on the way, as RabbitMQ does: an
   * exchange goes to its alternate only when no key matched.
   */
  route(exchange: ExchangeRecord, routingKey: string, message: RoutedMessage, out: Set<Destination>, extraKeys?: readonly string[]): void {
    out.clear();
    if (exchange.name === '') {
      const queue = this.queues.get(routingKey);
      if (queue !== undefined) out.add(queue);
      if (extraKeys !== undefined) for (const key of extraKeys) this.addQueueNamed(key, out);
      return;
    }
    out.add(exchange);
    for (const destination of out) {
      if (destination.kind !== 'exchange') continue;
      const headers = destination.type === 'headers' ? message.headers() : undefined;
      if (destination.alternate === undefined) {
        destination.matcher.route(routingKey, headers, out);
        if (extraKeys !== undefined) for (const key of extraKeys) destination.matcher.route(key, headers, out);
        continue;
      }
      // RabbitMQ hands the message to the alternate when this exchange matched
      // nothing at all; matches already reached another way still count, so
      // they are collected apart first.
      const own = this.alternateScratch;
      own.clear();
      destination.matcher.route(routingKey, headers, own);
      if (extraKeys !== undefined) for (const key of extraKeys) destination.matcher.route(key, headers, own);
      if (own.size === 0) {
        const alternate = this.exchanges.get(destination.alternate);
        if (alternate !== undefined) out.add(alternate);
      } else {
        for (const matched of own) out.add(matched);
      }
    }
  }

  private addQueueNamed(name: string, out: Set<Destination>): void {
    const queue = this.queues.get(name);
    if (queue !== undefined) out.add(queue);
  }

  private unbindDestination(destination: Destination): void {
    for (const source of destination.boundFrom) {
      source.matcher.unbindAll(destination);
      this.deleteIfUnused(source);
    }
    destination.boundFrom.clear();
  }

  private deleteIfUnused(exchange: ExchangeRecord): void {
    if (exchange.autoDelete && exchange.matcher.bindingCount === 0 && this.exchanges.get(exchange.name) === exchange) {
      this.deleteExchange(exchange);
    }
  }
}

/** The `alternate-exchange` argument; RabbitMQ uses it only as a longstr (the declare checks its type). */
function alternateOf(args: FieldTable): string | undefined {
  const name = args['alternate-exchange'];
  return typeof name === 'string' ? name : undefined;
}
