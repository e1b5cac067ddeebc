/** queue.declare / bind / unbind / purge / delete, with RabbitMQ's checks and reply codes. */
import { randomBytes } from 'node:crypto';
import { ReplyCode, channelError, connectionError } from '../protocol/errors.js';
import * as M from '../protocol/methods.generated.js';
import type { QueueRecord, VHost } from '../routing/topology.js';
import { existing, inequivalent } from './exchange-methods.js';
import type { Channel } from './channel.js';
import type { Connection } from './connection.js';

/** The declare arguments RabbitMQ compares on redeclare; others may differ freely. */
const QUEUE_ARGS = [
  'x-expires',
  'x-message-ttl',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-max-length',
  'x-max-length-bytes',
  'x-max-priority',
  'x-overflow',
  'x-queue-mode',
  'x-queue-type',
  'x-single-active-consumer',
];

export function queueMethod(ch: Channel, id: number, args: any): void | Promise<void> {
  switch (id) {
    case M.QUEUE_DECLARE:
      return declare(ch, args);
    case M.QUEUE_BIND: {
      const a = args as M.QueueBind;
      const queue = accessible(ch, a.queue);
      // RabbitMQ: an empty key with the "last declared queue" shortcut means the queue's name.
      const routingKey = a.queue === '' && a.routingKey === '' ? queue.name : a.routingKey;
      ch.conn.vhost.bind(existing(ch.conn.vhost, a.exchange), queue, routingKey, a.arguments);
      if (!a.nowait) M.writeQueueBindOk(ch.conn.out, ch.id);
      return ch.conn.dirty();
    }
    case M.QUEUE_UNBIND: {
      // Unbinding what does not exist succeeds, as in RabbitMQ.
      const a = args as M.QueueUnbind;
      const vhost = ch.conn.vhost;
      const queue = vhost.queues.get(queueName(ch, a.queue));
      const exchange = vhost.exchanges.get(a.exchange);
      if (queue !== undefined && exchange !== undefined) {
        checkOwner(ch.conn, queue);
        vhost.unbind(exchange, queue, a.routingKey, a.arguments);
      }
      M.writeQueueUnbindOk(ch.conn.out, ch.id);
      return ch.conn.dirty();
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
  const vhost = conn.vhost;
  const name = a.queue === '' ? `amq.gen-${randomBytes(16).toString('base64url').slice(0, 22)}` : a.queue;
  ch.lastQueue = name;
  let queue = vhost.queues.get(name);
  if (queue !== undefined) {
    checkOwner(conn, queue);
    if (!a.passive) {
      // RabbitMQ checks exclusivity strictly here: a mismatch is "locked", not "inequivalent".
      if ((a.exclusive ? conn.id : 0) !== queue.exclusiveOwner) throw locked(queue);
      const where = `for queue '${name}' in vhost '${vhost.name}'`;
      inequivalent('durable', a.durable, queue.durable, where);
      inequivalent('auto_delete', a.autoDelete, queue.autoDelete, where);
      for (const key of QUEUE_ARGS) inequivalentArg(key, a.arguments[key], queue.args[key], where);
    }
  } else if (a.passive) {
    throw notFound(vhost, name);
  } else {
    if (name.startsWith('amq.') && a.queue !== '') {
      throw channelError(ReplyCode.ACCESS_REFUSED, `queue name '${name}' contains reserved prefix 'amq.*'`);
    }
    queue = conn.broker.createQueue(vhost, name, {
      durable: a.durable,
      exclusiveOwner: a.exclusive ? conn.id : 0,
      autoDelete: a.autoDelete,
      args: a.arguments,
    });
    if (a.exclusive) conn.exclusiveQueues.add(queue);
  }
  const messageCount = await conn.broker.messageCount(queue);
  if (!a.nowait) {
    M.writeQueueDeclareOk(conn.out, ch.id, { queue: name, messageCount, consumerCount: queue.consumerCount });
  }
}

async function purge(ch: Channel, a: M.QueuePurge): Promise<void> {
  const queue = accessible(ch, a.queue);
  const { messageCount } = await ch.conn.broker.links[queue.shard].request({ op: 'purge', queueId: queue.id });
  if (!a.nowait) M.writeQueuePurgeOk(ch.conn.out, ch.id, { messageCount });
}

async function remove(ch: Channel, a: M.QueueDelete): Promise<void> {
  const conn = ch.conn;
  const vhost = conn.vhost;
  const name = queueName(ch, a.queue);
  const queue = vhost.queues.get(name);
  let messageCount = 0;
  if (queue !== undefined) {
    checkOwner(conn, queue);
    if (a.ifUnused && queue.consumerCount > 0) {
      throw channelError(ReplyCode.PRECONDITION_FAILED, `queue '${name}' in vhost '${vhost.name}' in use`);
    }
    if (a.ifEmpty && (await conn.broker.messageCount(queue)) > 0) {
      throw channelError(ReplyCode.PRECONDITION_FAILED, `queue '${name}' in vhost '${vhost.name}' not empty`);
    }
    messageCount = await conn.broker.deleteQueue(queue);
  }
  if (!a.nowait) M.writeQueueDeleteOk(conn.out, ch.id, { messageCount });
}

/** A queue this channel may use: it exists and is not another connection's exclusive queue. */
export function accessible(ch: Channel, name: string): QueueRecord {
  const vhost = ch.conn.vhost;
  const queue = vhost.queues.get(queueName(ch, name));
  if (queue === undefined) throw notFound(vhost, name);
  checkOwner(ch.conn, queue);
  return queue;
}

/** RabbitMQ's shortcut: an empty queue name means the queue last declared on the channel. */
function queueName(ch: Channel, name: string): string {
  if (name !== '') return name;
  if (ch.lastQueue === '') throw channelError(ReplyCode.NOT_FOUND, 'no previously declared queue');
  return ch.lastQueue;
}

/** Like inequivalent(), worded as RabbitMQ words x-arguments. */
function inequivalentArg(key: string, received: unknown, current: unknown, where: string): void {
  if (received === current) return;
  const show = (v: unknown) => (v === undefined ? 'none' : `the value '${v}'`);
  throw channelError(ReplyCode.PRECONDITION_FAILED, `inequivalent arg '${key}' ${where}: received ${show(received)} but current is ${show(current)}`);
}

function checkOwner(conn: Connection, queue: QueueRecord): void {
  if (queue.exclusiveOwner !== 0 && queue.exclusiveOwner !== conn.id) throw locked(queue);
}

function locked(queue: QueueRecord) {
  return channelError(
    ReplyCode.RESOURCE_LOCKED,
    `cannot obtain exclusive access to locked queue '${queue.name}' in vhost '${queue.vhost}'. ` +
      'It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.',
  );
}

function notFound(vhost: VHost, name: string) {
  return channelError(ReplyCode.NOT_FOUND, `no queue '${name}' in vhost '${vhost.name}'`);
}
