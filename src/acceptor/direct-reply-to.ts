/**
 * RabbitMQ's direct reply-to: a channel consumes from the pseudo-queue
 * `amq.rabbitmq.reply-to` (no-ack only), its publishes with that reply-to get
 * `amq.rabbitmq.reply-to.<key>` instead, and a publish to the default exchange
 * with that routing key goes straight to the consumer, from any connection,
 * with no queue and no shard: all channels live in the acceptor. A key names
 * one consume; once it is cancelled or its channel is gone the key routes
 * nowhere (unroutable, returned if mandatory), as in RabbitMQ.
 */
import { randomBytes } from 'node:crypto';
import { AmqpError, ReplyCode } from '../protocol/errors.js';
import { CLASS_BASIC } from '../protocol/methods.generated.js';
import { REPLY_TO_FLAG, propertyAt } from '../protocol/properties-validator.js';
import type { Channel } from './channel.js';
import { prewrittenDeliver, type PrewrittenDeliver } from './consumer-registry.js';

export const REPLY_TO = 'amq.rabbitmq.reply-to';
const PREFIX = `${REPLY_TO}.`;
const REPLY_TO_BYTES = Buffer.from(REPLY_TO);

/** The reply-to bit in a basic property list's first flags byte. */
export const REPLY_TO_FLAG_BYTE0 = REPLY_TO_FLAG >>> 8;

export interface ReplyConsumer extends PrewrittenDeliver {
  readonly channel: Channel;
  readonly tag: string;
  /** the reply-to its requests carry: `amq.rabbitmq.reply-to.<key>` */
  readonly address: string;
}

/** The broker's reply consumers by address. */
export class DirectReplyTo {
  private readonly byAddress = new Map<string, ReplyConsumer>();

  consume(channel: Channel, tag: string): ReplyConsumer {
    const consumer: ReplyConsumer = {
      channel,
      tag,
      ...prewrittenDeliver(channel.id, tag),
      address: PREFIX + randomBytes(18).toString('base64url'),
    };
    this.byAddress.set(consumer.address, consumer);
    return consumer;
  }

  cancel(consumer: ReplyConsumer): void {
    this.byAddress.delete(consumer.address);
  }

  /** The live consumer a routing key addresses, if any. */
  find(routingKey: Buffer): ReplyConsumer | undefined {
    // shortstr bytes: a cheap length and first-byte test before making a string
    if (routingKey[0] <= PREFIX.length || routingKey[1] !== 0x61) return undefined;
    const consumer = this.byAddress.get(routingKey.toString('latin1', 1));
    return consumer !== undefined && consumer.channel.state === 'open' ? consumer : undefined;
  }

  /** queue.declare of a reply-to name: RabbitMQ answers as if a queue with one consumer existed. */
  exists(name: string): boolean {
    return name === REPLY_TO || this.byAddress.has(name);
  }
}

/** Names queue.declare treats as direct reply-to, as RabbitMQ does (any other such name is a 404). */
export function isReplyToName(name: string): boolean {
  return name.startsWith(REPLY_TO);
}

/**
 * The property bytes to store for a publish whose reply-to flag is set: with
 * the reply-to `amq.rabbitmq.reply-to` replaced by the channel's address, or
 * the same bytes for any other reply-to. Without a reply consumer on the
 * channel that reply-to is RabbitMQ's 406.
 */
export function replyToRewritten(props: Buffer, consumer: ReplyConsumer | null): Buffer {
  const p = propertyAt(props, 0, REPLY_TO_FLAG);
  const len = props[p];
  if (len !== REPLY_TO_BYTES.length || !REPLY_TO_BYTES.equals(props.subarray(p + 1, p + 1 + len))) return props;
  if (consumer === null) throw new AmqpError(ReplyCode.PRECONDITION_FAILED, 'fast reply consumer does not exist', CLASS_BASIC, 40, false);
  const address = Buffer.from(consumer.address);
  return Buffer.concat([props.subarray(0, p), Buffer.from([address.length]), address, props.subarray(p + 1 + len)]);
}
