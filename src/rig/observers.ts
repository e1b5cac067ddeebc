/**
 * Observing hooks for test rigs: `broker.on('publish' | 'deliver' | 'ack' |
 * 'return' | 'connection' | 'close', listener)`. The broker keeps one boolean
 * per event kind, true while that kind has a listener; the publish, deliver,
 * ack and return paths test that boolean and build nothing otherwise, so a
 * broker nobody observes pays one field read per message.
 *
 * Events are emitted synchronously where the acceptor handles the frame (a
 * listener that throws is logged, never breaks the connection). Bodies and
 * properties are copies: a listener may keep them.
 */
import type { EventEmitter } from 'node:events';
import type { Connection } from '../acceptor/connection.js';
import type { Channel } from '../acceptor/channel.js';
import { decodeBasicProperties, type BasicProperties } from '../protocol/methods.generated.js';
import type { FieldTable } from '../protocol/field-types.js';
import { log } from '../log/logger.js';

/** Where an event happened: the connection (warren's name and the client's connection_name) and channel. */
export interface EventOrigin {
  /** warren's name for the connection: "client address:port -> server address:port" */
  connection: string;
  /** the client-provided connection_name, if any */
  clientName: string | undefined;
  channel: number;
  /** the connection's user */
  user: string;
}

/** A client's basic.publish, once its exchange accepted it and it is routed (a transaction's at tx.commit). */
export interface PublishEvent extends EventOrigin {
  vhost: string;
  exchange: string;
  routingKey: string;
  /** its CC then BCC header's routing keys (BCC is gone from `properties`, as it is from the message) */
  ccKeys: readonly string[];
  properties: BasicProperties;
  /** the property list as it is stored: the content header's bytes after its body size (BCC removed) */
  propertyBytes: Buffer;
  body: Buffer;
  /** body bytes */
  size: number;
  mandatory: boolean;
  /** how many queues it was routed to (0: unroutable) */
  queues: number;
  /** their names */
  routedQueues: string[];
  /** published in a transaction: the event comes at its tx.commit */
  transactional: boolean;
}

/** A message written to a client: basic.deliver to a consumer, or basic.get-ok. */
export interface DeliverEvent extends EventOrigin {
  vhost: string;
  queue: string;
  /** the consumer's tag; undefined for basic.get */
  consumerTag: string | undefined;
  get: boolean;
  deliveryTag: number;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
  properties: BasicProperties;
  /** the property list as it is written: the content header's bytes after its body size */
  propertyBytes: Buffer;
  body: Buffer;
}

/** basic.ack, basic.nack or basic.reject as the client sent it. */
export interface AckEvent extends EventOrigin {
  vhost: string;
  kind: 'ack' | 'nack' | 'reject';
  deliveryTag: number;
  multiple: boolean;
  /** false for ack */
  requeue: boolean;
}

/** basic.return of an unroutable mandatory (312) or undeliverable immediate (313) publish. */
export interface ReturnEvent extends EventOrigin {
  vhost: string;
  exchange: string;
  routingKey: string;
  replyCode: number;
  replyText: string;
  properties: BasicProperties;
  /** the property list as it is written: the content header's bytes after its body size */
  propertyBytes: Buffer;
  body: Buffer;
}

/** A client connection past connection.open-ok. */
export interface ConnectionEvent {
  connection: string;
  clientName: string | undefined;
  user: string;
  vhost: string;
  clientProperties: FieldTable;
}

/**
 * A connection that had been opened is gone. `code` and `text` are those of the
 * connection.close that ended it (`by` says who sent it); absent when the socket
 * just closed (a client that vanished, a missed heartbeat).
 */
export interface CloseEvent {
  connection: string;
  clientName: string | undefined;
  user: string;
  vhost: string;
  code: number | undefined;
  text: string | undefined;
  by: 'client' | 'server' | undefined;
}

export interface ObservedEvents {
  publish: PublishEvent;
  deliver: DeliverEvent;
  ack: AckEvent;
  return: ReturnEvent;
  connection: ConnectionEvent;
  close: CloseEvent;
}

export type ObservedEvent = keyof ObservedEvents;

const KINDS: readonly ObservedEvent[] = ['publish', 'deliver', 'ack', 'return', 'connection', 'close'];

/** One flag per event kind, kept in step with the emitter's listeners; and the payload builders. */
export class Observers {
  publish = false;
  deliver = false;
  ack = false;
  return = false;
  connection = false;
  close = false;

  constructor(private readonly emitter: EventEmitter) {
    // 'newListener' comes before the listener is added, 'removeListener' after it is gone.
    emitter.on('newListener', (event: string | symbol) => this.update(event, 1));
    emitter.on('removeListener', (event: string | symbol) => this.update(event, 0));
  }

  private update(event: string | symbol, adding: number): void {
    if (!KINDS.includes(event as ObservedEvent)) return;
    this[event as ObservedEvent] = this.emitter.listenerCount(event) + adding > 0;
  }

  private emit<K extends ObservedEvent>(kind: K, event: ObservedEvents[K]): void {
    try {
      this.emitter.emit(kind, event);
    } catch (err) {
      log.error(`a '${kind}' listener threw: ${(err as Error).stack ?? err}`);
    }
  }

  onPublish(event: PublishEvent): void {
    this.emit('publish', event);
  }

  /** `block`: the message as a shard keeps it (exchange, routing key, properties, body; see BlockView). */
  onDeliver(channel: Channel, queue: string, consumerTag: string | undefined, deliveryTag: number, redelivered: boolean, message: MessageParts): void {
    this.emit('deliver', {
      ...origin(channel),
      vhost: channel.conn.vhost.name,
      queue,
      consumerTag,
      get: consumerTag === undefined,
      deliveryTag,
      redelivered,
      ...message,
    });
  }

  onAck(channel: Channel, kind: AckEvent['kind'], deliveryTag: number, multiple: boolean, requeue: boolean): void {
    this.emit('ack', { ...origin(channel), vhost: channel.conn.vhost.name, kind, deliveryTag, multiple, requeue });
  }

  onReturn(channel: Channel, replyCode: number, replyText: string, message: MessageParts): void {
    this.emit('return', { ...origin(channel), vhost: channel.conn.vhost.name, replyCode, replyText, ...message });
  }

  onConnection(conn: Connection): void {
    this.emit('connection', { ...connectionOf(conn), clientProperties: conn.clientProperties });
  }

  onClose(conn: Connection): void {
    const reason = conn.closeReason;
    this.emit('close', { ...connectionOf(conn), code: reason?.code, text: reason?.text, by: reason?.by });
  }
}

/** A publish event of the message `channel` is routing (copies of its properties and body). */
export function publishEvent(
  channel: Channel,
  exchange: string,
  routingKey: string,
  ccKeys: readonly string[],
  mandatory: boolean,
  properties: Buffer,
  body: readonly Buffer[],
  size: number,
  routedQueues: string[],
  transactional: boolean,
): PublishEvent {
  return {
    ...origin(channel),
    vhost: channel.conn.vhost.name,
    exchange,
    routingKey,
    ccKeys,
    ...copied(properties),
    body: Buffer.concat(body, size),
    size,
    mandatory,
    queues: routedQueues.length,
    routedQueues,
    transactional,
  };
}

/** A message's parts, decoded for an event. */
export interface MessageParts {
  exchange: string;
  routingKey: string;
  properties: BasicProperties;
  propertyBytes: Buffer;
  body: Buffer;
}

/** Decodes shortstr bytes (length octet first), raw properties and body bytes into MessageParts (copies). */
export function messageParts(exchange: Buffer, routingKey: Buffer, properties: Buffer, body: Buffer): MessageParts {
  return {
    exchange: exchange.toString('utf8', 1, 1 + exchange[0]),
    routingKey: routingKey.toString('utf8', 1, 1 + routingKey[0]),
    ...copied(properties),
    body: Buffer.from(body),
  };
}

/** A copy, and decoded from it: binary fields must not point into a ring or frame that gets reused. */
function copied(properties: Buffer): { properties: BasicProperties; propertyBytes: Buffer } {
  const copy = Buffer.from(properties);
  return { properties: decodeBasicProperties(copy, 0, copy.length), propertyBytes: copy };
}

function origin(channel: Channel): EventOrigin {
  const conn = channel.conn;
  return { connection: conn.name, clientName: clientName(conn), channel: channel.id, user: conn.user };
}

function connectionOf(conn: Connection): Pick<ConnectionEvent, 'connection' | 'clientName' | 'user' | 'vhost'> {
  return { connection: conn.name, clientName: clientName(conn), user: conn.user, vhost: conn.vhost.name };
}

function clientName(conn: Connection): string | undefined {
  const name = conn.clientProperties.connection_name;
  return typeof name === 'string' ? name : undefined;
}
