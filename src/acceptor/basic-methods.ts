/** basic.* except publish (which the channel assembles itself): qos, consume, get, acks, recover. */
import { randomBytes } from 'node:crypto';
import { ReplyCode, channelError, connectionError } from '../protocol/errors.js';
import * as M from '../protocol/methods.generated.js';
import { SETTLE_ACK, SETTLE_DROP, SETTLE_REQUEUE } from '../shard/records.js';
import type { GetResult } from './shard-link.js';
import { queueName, readable } from './queue-methods.js';
import type { Channel } from './channel.js';
import { REPLY_TO } from './direct-reply-to.js';
import { consumerPriority, typeOf } from '../vhost/queue-arguments.js';
import { streamOffset } from '../vhost/stream-arguments.js';
import type { StreamOffset } from '../shard/stream-log.js';
import type { QueueRecord } from '../routing/topology.js';

export function basicMethod(ch: Channel, id: number, args: any): void | Promise<void> {
  const out = ch.conn.out;
  switch (id) {
    case M.BASIC_QOS: {
      const a = args as M.BasicQos;
      if (a.prefetchSize !== 0) throw connectionError(ReplyCode.NOT_IMPLEMENTED, `prefetch_size!=0 (${a.prefetchSize})`);
      // qos-ok goes before the deliveries a higher global limit lets the shards make, as RabbitMQ
      // replies before its queues resume: a client counts what came before qos-ok against the old limit.
      M.writeBasicQosOk(out, ch.id);
      ch.setPrefetch(a.prefetchCount, a.global);
      break;
    }
    case M.BASIC_CONSUME:
      consume(ch, args);
      break;
    case M.BASIC_CANCEL: {
      const a = args as M.BasicCancel;
      const consumer = ch.consumers.get(a.consumerTag);
      if (consumer !== undefined) ch.conn.broker.consumers.cancel(consumer);
      else if (ch.replyConsumer?.tag === a.consumerTag) ch.cancelReplyConsumer();
      if (!a.nowait) M.writeBasicCancelOk(out, ch.id, { consumerTag: a.consumerTag });
      break;
    }
    case M.BASIC_GET:
      return get(ch, args);
    case M.BASIC_ACK:
      if (ch.conn.broker.observers.ack) ch.conn.broker.observers.onAck(ch, 'ack', args.deliveryTag, args.multiple, false);
      ch.settle(args.deliveryTag, args.multiple, SETTLE_ACK);
      break;
    case M.BASIC_NACK:
      if (ch.conn.broker.observers.ack) ch.conn.broker.observers.onAck(ch, 'nack', args.deliveryTag, args.multiple, args.requeue);
      ch.settle(args.deliveryTag, args.multiple, args.requeue ? SETTLE_REQUEUE : SETTLE_DROP);
      break;
    case M.BASIC_REJECT:
      if (ch.conn.broker.observers.ack) ch.conn.broker.observers.onAck(ch, 'reject', args.deliveryTag, false, args.requeue);
      ch.settle(args.deliveryTag, false, args.requeue ? SETTLE_REQUEUE : SETTLE_DROP);
      break;
    case M.BASIC_RECOVER:
    case M.BASIC_RECOVER_ASYNC:
      if (!args.requeue) throw connectionError(ReplyCode.NOT_IMPLEMENTED, 'requeue=false');
      ch.recover();
      if (id === M.BASIC_RECOVER) M.writeBasicRecoverOk(out, ch.id);
      break;
    default:
      throw connectionError(ReplyCode.COMMAND_INVALID, `unexpected ${M.methodName(id)}`);
  }
  ch.conn.dirty();
}

function consume(ch: Channel, a: M.BasicConsume): void {
  const broker = ch.conn.broker;
  // RabbitMQ expands '' before it looks at the name: after a declare of amq.rabbitmq.reply-to, '' is that.
  const name = queueName(ch, a.queue);
  if (name === REPLY_TO) return consumeReplies(ch, a);
  const queue = readable(ch, name);
  const tag = consumerTag(ch, a);
  // RabbitMQ's order: the consume arguments, the queue type's refusal of a global prefetch, then exclusive use.
  const priority = consumerPriority(queue.vhost, queue.name, queue.args, a.arguments);
  const type = typeOf(queue.args);
  const offset = type === 'stream' ? streamConsumer(ch, queue, a) : undefined;
  if (ch.globalPrefetch > 0 && type === 'quorum') {
    throw connectionError(ReplyCode.NOT_IMPLEMENTED, `queue '${queue.name}' in vhost '${queue.vhost}' does not support global qos`);
  }
  // A single-active-consumer queue already hands out to one consumer only: RabbitMQ refuses an exclusive one there.
  // (RabbitMQ 3.10 lets any consumer read a stream, exclusive or not.)
  const singleActive = queue.args['x-single-active-consumer'] === true;
  if (type !== 'stream' && (broker.consumers.hasExclusive(queue) || (a.exclusive && (queue.consumerCount > 0 || singleActive)))) {
    throw channelError(ReplyCode.ACCESS_REFUSED, `queue '${queue.name}' in vhost '${queue.vhost}' in exclusive use`);
  }
  // consume-ok goes out before the shard can deliver: both go through this connection in order.
  if (!a.nowait) M.writeBasicConsumeOk(ch.conn.out, ch.id, { consumerTag: tag });
  broker.consumers.add(ch, queue, tag, { noAck: a.noAck, exclusive: a.exclusive, arguments: a.arguments, priority, offset });
}

/**
 * A stream's consumer, refused as RabbitMQ 3.10.8 refuses it (in its order):
 * without a prefetch of its own (basic.qos global=false), with no-ack, on a
 * channel with a global prefetch. Returns where it starts (x-stream-offset).
 */
function streamConsumer(ch: Channel, queue: QueueRecord, a: M.BasicConsume): StreamOffset {
  const where = `queue '${queue.name}' in vhost '${queue.vhost}'`;
  if (ch.prefetchCount === 0) throw channelError(ReplyCode.PRECONDITION_FAILED, `consumer prefetch count is not set for '${where}'`);
  if (a.noAck) throw connectionError(ReplyCode.NOT_IMPLEMENTED, `automatic acknowledgement not supported by stream queues ${where}`);
  if (ch.globalPrefetch > 0) throw connectionError(ReplyCode.NOT_IMPLEMENTED, `${where} does not support global qos`);
  return streamOffset(a.arguments, where);
}

/** The tag a consume asked for, or a generated one; a tag in use on the channel is a 530. */
function consumerTag(ch: Channel, a: M.BasicConsume): string {
  const tag = a.consumerTag === '' ? `amq.ctag-${randomBytes(16).toString('base64url').slice(0, 22)}` : a.consumerTag;
  if (ch.consumers.has(tag) || ch.replyConsumer?.tag === tag) throw connectionError(ReplyCode.NOT_ALLOWED, `attempt to reuse consumer tag '${tag}'`);
  return tag;
}

/** Direct reply-to: the channel's replies come to this consumer, with RabbitMQ's refusals. */
function consumeReplies(ch: Channel, a: M.BasicConsume): void {
  if (!a.noAck) throw channelError(ReplyCode.PRECONDITION_FAILED, 'reply consumer cannot acknowledge');
  if (ch.replyConsumer !== null) throw channelError(ReplyCode.PRECONDITION_FAILED, 'reply consumer already set');
  const tag = consumerTag(ch, a);
  if (!a.nowait) M.writeBasicConsumeOk(ch.conn.out, ch.id, { consumerTag: tag });
  ch.replyConsumer = ch.conn.broker.directReply.consume(ch, tag);
}

async function get(ch: Channel, a: M.BasicGet): Promise<void> {
  const queue = readable(ch, a.queue);
  if (typeOf(queue.args) === 'stream') {
    throw connectionError(ReplyCode.NOT_IMPLEMENTED, `basic.get not supported by stream queues queue '${queue.name}' in vhost '${queue.vhost}'`);
  }
  await ch.deadLettersRouted();
  const link = ch.conn.broker.links[queue.shard];
  const result: GetResult | { empty: true } = await link.request({ op: 'get', queueId: queue.id, noAck: a.noAck });
  if (ch.state !== 'open') {
    // The channel closed while the shard answered: no reply (its id may be another channel's by now), the message goes back.
    if ('empty' in result) return;
    if (!a.noAck) link.settle(SETTLE_REQUEUE, [result.queueId, result.msgId]);
    ch.conn.broker.output.linkDirty(link);
    return;
  }
  if ('empty' in result) {
    ch.countGetEmpty();
    M.writeBasicGetEmpty(ch.conn.out, ch.id, {});
    return;
  }
  try {
    ch.sendGetOk(link, a.noAck, result.redelivered, result.queueId, result.msgId, result.messageCount, result.block);
  } catch (err) {
    // Handed out but never sent: back to its queue before the error closes the connection.
    if (!a.noAck) link.settle(SETTLE_REQUEUE, [result.queueId, result.msgId]);
    ch.conn.broker.output.linkDirty(link);
    throw err;
  }
}
