/**
 * The changes a vhost's topology accepts, protocol-neutral: AMQP methods,
 * definitions import and recovery replay all become one of these and go
 * through VHostService.apply().
 *
 * `owner` is the id of the connection acting (0 for none: an import, a
 * replay, an administrator). It decides exclusive-queue rules: a queue
 * declared exclusive belongs to it, and another owner may not touch it.
 */
import type { FieldTable } from '../protocol/field-types.js';

export interface ExchangeDeclareCommand {
  readonly kind: 'exchange.declare';
  readonly name: string;
  /** direct, fanout, topic or headers */
  readonly type: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
  /** only check that it exists */
  readonly passive?: boolean;
}

export interface ExchangeDeleteCommand {
  readonly kind: 'exchange.delete';
  readonly name: string;
  /** refuse (406) while it has bindings */
  readonly ifUnused?: boolean;
}

export interface QueueDeclareCommand {
  readonly kind: 'queue.declare';
  /** '' asks for a generated name (amq.gen-...) */
  readonly name: string;
  /**
   * `name` may start with amq.: the caller generated it with serverNamedQueue(),
   * or it comes from definitions (RabbitMQ's import and recovery declare a
   * durable server-named queue again; a client may not)
   */
  readonly reservedName?: boolean;
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly passive?: boolean;
  readonly owner: number;
}

export interface QueueDeleteCommand {
  readonly kind: 'queue.delete';
  readonly name: string;
  /** refuse (406) while it has consumers */
  readonly ifUnused?: boolean;
  /** refuse (406) while it holds messages */
  readonly ifEmpty?: boolean;
  readonly owner: number;
}

export interface QueuePurgeCommand {
  readonly kind: 'queue.purge';
  readonly name: string;
  readonly owner: number;
}

/** queue.bind / queue.unbind: `exchange` to `queue`. */
export interface QueueBindingCommand {
  readonly kind: 'bind' | 'unbind';
  readonly exchange: string;
  readonly queue: string;
  readonly routingKey: string;
  readonly arguments: FieldTable;
  readonly owner: number;
}

/** exchange.bind / exchange.unbind: `source` to `destination`. */
export interface ExchangeBindingCommand {
  readonly kind: 'exchange.bind' | 'exchange.unbind';
  readonly source: string;
  readonly destination: string;
  readonly routingKey: string;
  readonly arguments: FieldTable;
}

/** Applied before apply() returns: nothing to wait for. */
export type ImmediateCommand = ExchangeDeclareCommand | ExchangeDeleteCommand | QueueBindingCommand | ExchangeBindingCommand;

/** Needs a round trip to the queue's shard. */
export type ShardCommand = QueueDeclareCommand | QueueDeleteCommand | QueuePurgeCommand;

export type TopologyCommand = ImmediateCommand | ShardCommand;

export interface QueueDeclared {
  /** the queue's name (the generated one when asked for '') */
  readonly queue: string;
  readonly messageCount: number;
  readonly consumerCount: number;
}

/** queue.delete / queue.purge: how many messages went. */
export interface MessagesRemoved {
  readonly messageCount: number;
}
