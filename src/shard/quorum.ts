/**
 * What quorum queues (x-queue-type quorum) do differently that a client can
 * see, as RabbitMQ 3.10: every delivery carries `x-delivery-count`, how many
 * times the message came back (nack or reject with requeue, its channel
 * closed), and with `x-delivery-limit` a message that comes back more often
 * than that is dead-lettered (reason delivery_limit) or dropped instead.
 * The header costs a splice of the properties per delivery (withHeader).
 */
import { withHeader } from './block-rewrite.js';

/** The block with `x-delivery-count` set in its headers. */
export function withDeliveryCount(block: Buffer, count: number): Buffer {
  return withHeader(block, 'x-delivery-count', BigInt(count));
}
