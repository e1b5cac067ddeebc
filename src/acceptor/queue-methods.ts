/** queue.declare / bind / unbind / purge / delete: decoded into commands for the vhost service, which checks them. */
import { ReplyCode, channelError, connectionError } from '../protocol/errors.js';
import * as M from '../protocol/methods.generated.js';
import type { QueueRecord } from '../routing/topology.js';
import type { Channel } from './channel.js';
import { isReplyToName } from './direct-reply-to.js';
import { serverNamedQueue } from '../vhost/vhost-service.js';
import { checkServerNamedType } from '../vhost/queue-arguments.js';

/** RabbitMQ's shortcut, for bind and unbind alike: an empty key with the "last declared queue" (queue '') means that queue's name. */
function shortcutKey(a: { queue: string; routingKey: string }, queue: string): string {
  return a.queue === '' && a.routingKey === '' ? queue : a.routingKey;
}

export function queueMethod(ch: Channel, id: number, args: any): void | Promise<void> {
  const conn = ch.conn;
  switch (id) {
    case M.QUEUE_DECLARE:
      return declare(ch, args);
    case M.QUEUE_BIND: {
      const a = args as M.QueueBind;
      const queue = queueName(ch, a.queue);
      const routingKey = shortcutKey(a, queue);
      conn.permissions.bind('queue', queue, a.exchange, routingKey);
      conn.service.apply({ kind: 'bind', exchange: a.exchange, queue, routingKey, arguments: a.arguments, owner: conn.id });
      if (!a.nowait) M.writeQueueBindOk(conn.out, ch.id);
      return conn.dirty();
    }
    case M.QUEUE_UNBIND: {
      const a = args as M.QueueUnbind;
      const queue = queueName(ch, a.queue);
      const routingKey = shortcutKey(a, queue);
      conn.permissions.bind('queue', queue, a.exchange, routingKey);
      conn.service.apply({ kind: 'unbind', exchange: a.exchange, queue, routingKey, arguments: a.arguments, owner: conn.id });
      M.writeQueueUnbindOk(conn.out, ch.id);
      return conn.dirty();
    }
    case M.QUEUE_PURGE:
      return purge(ch, args);
    case M.QUEUE_DELETE:
      return remove(ch, args);
    default:
      throw connectionError(ReplyCode.COMMAND_INVALID, `unexpected ${M.methodName(id)}`);
  }
}

async function declare(ch: Channel, a: M.QueueDeclare): Promise<void> {
  const conn = ch.conn;
  if (isReplyToName(a.queue)) return declareReplyTo(ch, a);
  // Permission is checked on the name the queue will have, a server-generated one too.
  const serverNamed = a.queue === '' && !a.passive;
  if (serverNamed) checkServerNamedType(a.arguments);
  const name = serverNamed ? serverNamedQueue() : a.queue;
  if (!a.passive) conn.permissions.declareQueue(name, a.arguments);
  const declared = await conn.service.apply({
    kind: 'queue.declare',
    name,
    reservedName: serverNamed,
    passive: a.passive,
    durable: a.durable,
    exclusive: a.exclusive,
    autoDelete: a.autoDelete,
    arguments: a.arguments,
    owner: conn.id,
  });
  ch.lastQueue = declared.queue;
  if (!a.nowait) M.writeQueueDeclareOk(conn.out, ch.id, declared);
}

/** RabbitMQ answers a declare of a live direct reply-to name as a queue with one consumer, whatever the flags. */
function declareReplyTo(ch: Channel, a: M.QueueDeclare): void {
  if (!ch.conn.broker.directReply.exists(a.queue)) throw channelError(ReplyCode.NOT_FOUND, `no queue '${a.queue}' in vhost '${ch.conn.vhost.name}'`);
  // It becomes the channel's last declared queue too, as in RabbitMQ: a get or purge of '' then names it.
  ch.lastQueue = a.queue;
  if (!a.nowait) M.writeQueueDeclareOk(ch.conn.out, ch.id, { queue: a.queue, messageCount: 0, consumerCount: 1 });
}

async function purge(ch: Channel, a: M.QueuePurge): Promise<void> {
  const conn = ch.conn;
  const name = queueName(ch, a.queue);
  conn.permissions.read('queue', name);
  const { messageCount } = await conn.service.apply({ kind: 'queue.purge', name, owner: conn.id });
  if (!a.nowait) M.writeQueuePurgeOk(conn.out, ch.id, { messageCount });
}

async function remove(ch: Channel, a: M.QueueDelete): Promise<void> {
  const conn = ch.conn;
  const name = queueName(ch, a.queue);
  conn.permissions.configure('queue', name);
  const { messageCount } = await conn.service.apply({ kind: 'queue.delete', name, ifUnused: a.ifUnused, ifEmpty: a.ifEmpty, owner: conn.id });
  if (!a.nowait) M.writeQueueDeleteOk(conn.out, ch.id, { messageCount });
}

/**
 * A queue this channel may read from (basic.consume, basic.get): the user has
 * read permission, it exists and is not another connection's exclusive queue.
 */
export function readable(ch: Channel, name: string): QueueRecord {
  const queue = queueName(ch, name);
  ch.conn.permissions.read('queue', queue);
  return ch.conn.service.queue(queue, ch.conn.id);
}

/** RabbitMQ's shortcut: an empty queue name means the queue last declared on the channel. */
export function queueName(ch: Channel, name: string): string {
  if (name !== '') return name;
  if (ch.lastQueue === '') throw channelError(ReplyCode.NOT_FOUND, 'no previously declared queue');
  return ch.lastQueue;
}
