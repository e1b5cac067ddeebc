/**
 * The firehose (rabbitmqctl trace_on, a vhost's `tracing`), as RabbitMQ 3.10's
 * rabbit_trace: while a vhost traces, every message a client publishes there
 * is copied to its amq.rabbitmq.trace exchange with routing key
 * "publish.EXCHANGE", and every message delivered there (basic.deliver or
 * basic.get-ok) with "deliver.QUEUE". The copy has the message's body and
 * only headers: exchange_name, routing_keys, properties (the message's, as a
 * table), node, then for a publish vhost, connection, channel, user and
 * routed_queues, for a delivery redelivered, vhost, connection, channel and user.
 *
 * It listens to the rig's observing hooks (rig/observers.ts) while some vhost
 * traces, so a broker that traces nothing pays their one flag read per
 * message; copies go out through the broker's internal publish (no channel:
 * not observed, so never traced again), and a delivery of a copy is not
 * copied, as in RabbitMQ.
 */
import { NODE_NAME } from '../version.js';
import type { EventEmitter } from 'node:events';
import { publish, type RingHost } from '../acceptor/internal-publish.js';
import type { FieldTable, FieldValue } from '../protocol/field-types.js';
import { encodedValue, headersOnly, longstrValue, tableEntries, tableEntry, tableValue, type TableEntry } from '../protocol/header-edit.js';
import { HEADERS_FLAG, propertyAt } from '../protocol/properties-validator.js';
import { BASIC_PROPERTIES } from '../protocol/basic-property-names.js';
import type { VHost } from '../routing/topology.js';
import type { DeliverEvent, MessageParts, PublishEvent } from '../rig/observers.js';

export const TRACE_EXCHANGE = 'amq.rabbitmq.trace';

/** The properties in the order RabbitMQ's trace table lists them: P_basic's, reversed. */
const TRACED_PROPERTIES = [...BASIC_PROPERTIES].reverse();

export class Firehose {
  private listening = false;
  /** the vhosts that trace, by name: one deleted and made again traces again, as RabbitMQ remembers the name */
  private readonly traced = new Set<string>();
  private readonly onPublish = (e: PublishEvent) => {
    if (!e.transactional) this.tracePublish(e);
  };
  private readonly onDeliver = (e: DeliverEvent) => this.traceDeliver(e);

  constructor(
    private readonly events: EventEmitter,
    private readonly host: RingHost,
    private readonly vhost: (name: string) => VHost | undefined,
    private readonly vhosts: () => Iterable<VHost>,
  ) {}

  /** Turns a vhost's tracing on or off. */
  setTracing(topology: VHost, on: boolean): void {
    if (on) this.traced.add(topology.name);
    else this.traced.delete(topology.name);
    topology.tracing = on;
    this.listen();
  }

  /** A vhost was made: it traces if one of its name did. */
  created(topology: VHost): void {
    if (this.traced.has(topology.name)) this.setTracing(topology, true);
  }

  /** A vhost was deleted: its name stays traced. */
  deleted(topology: VHost): void {
    topology.tracing = false;
    this.listen();
  }

  /** Listens to the rig's hooks while some vhost traces. */
  private listen(): void {
    let any = false;
    for (const v of this.vhosts()) any ||= v.tracing;
    if (any === this.listening) return;
    this.listening = any;
    if (any) {
      this.events.on('publish', this.onPublish);
      this.events.on('deliver', this.onDeliver);
    } else {
      this.events.off('publish', this.onPublish);
      this.events.off('deliver', this.onDeliver);
    }
  }

  /**
   * Copies a publish. A transaction's is copied as it comes (the channel calls
   * this, as RabbitMQ copies it before commit or rollback); its publish event at
   * tx.commit is not copied again.
   */
  tracePublish(e: PublishEvent): void {
    const topology = this.vhost(e.vhost);
    if (topology?.tracing !== true) return;
    const routingKeys = [e.routingKey, ...e.ccKeys];
    // RabbitMQ's default exchange routes to a queue by name without looking it up: its trace names queues that do not exist.
    const routed = new Set(e.exchange === '' ? routingKeys : e.routedQueues);
    const extra: FieldTable = { vhost: e.vhost, connection: e.connection, channel: e.channel, user: e.user, routed_queues: [...routed].sort() };
    this.trace(topology, `publish.${e.exchange}`, e, routingKeys, extra);
  }

  private traceDeliver(e: DeliverEvent): void {
    const topology = this.vhost(e.vhost);
    if (topology?.tracing !== true || e.exchange === TRACE_EXCHANGE) return;
    const extra: FieldTable = { redelivered: e.redelivered ? 1 : 0, vhost: e.vhost, connection: e.connection, channel: e.channel, user: e.user };
    // A stored message has no BCC header any more: its trace names the CC keys only (RabbitMQ's, the BCC keys too).
    const cc = e.properties.headers?.CC;
    this.trace(topology, `deliver.${e.queue}`, e, [e.routingKey, ...(Array.isArray(cc) ? cc : [])], extra);
  }

  private trace(topology: VHost, routingKey: string, message: MessageParts, routingKeys: FieldValue[], extra: FieldTable): void {
    const exchange = topology.exchanges.get(TRACE_EXCHANGE);
    if (exchange === undefined || exchange.matcher.bindingCount === 0) return;
    const headers = [
      tableEntry('exchange_name', encodedValue(message.exchange)),
      tableEntry('routing_keys', encodedValue(routingKeys)),
      tableEntry('properties', tableValue(propertiesEntries(message))),
      tableEntry('node', encodedValue(NODE_NAME)),
      ...Object.entries(extra).map(([key, value]) => tableEntry(key, encodedValue(value))),
    ];
    publish(this.host, topology, exchange, routingKey, headersOnly(headers), message.body);
  }
}

/** The message's properties as RabbitMQ's trace table lists them: strings and headers as the bytes they came as, numbers as integers. */
function propertiesEntries(message: MessageParts): TableEntry[] {
  const bytes = message.propertyBytes;
  const entries: TableEntry[] = [];
  for (const [field, name, bit] of TRACED_PROPERTIES) {
    const at = propertyAt(bytes, 0, bit);
    if (at < 0) continue;
    const value = message.properties[field]!;
    const encoded =
      bit === HEADERS_FLAG ? tableValue(tableEntries(bytes, at))
      : typeof value === 'string' ? longstrValue(bytes.subarray(at + 1, at + 1 + bytes[at]))
      : encodedValue(value);
    entries.push(tableEntry(name, encoded));
  }
  return entries;
}
