/**
 * What quorum queues (x-queue-type quorum) do differently that a client can
 * see, as RabbitMQ 3.10: every delivery carries `x-delivery-count`, how many
 * times the message came back (nack or reject with requeue, its channel
 * closed), and with `x-delivery-limit` a message that comes back more often
 * than that is dead-lettered (reason delivery_limit) or dropped instead.
 * The header costs a decode and encode of the properties per delivery.
 */
import { decodeBasicProperties } from '../protocol/methods.generated.js';
import { rewriteBlock } from './block-rewrite.js';
import { BlockView } from './records.js';

const view = new BlockView();

/** The block with `x-delivery-count` set in its headers. */
export function withDeliveryCount(block: Buffer, count: number): Buffer {
  const v = view.read(block, 0);
  // (a block built without properties, as some shard tests do, has no flags word)
  const props = v.propertiesEnd - v.propertiesAt < 2 ? {} : decodeBasicProperties(block, v.propertiesAt, v.propertiesEnd);
  props.headers = { ...props.headers, 'x-delivery-count': BigInt(count) };
  return rewriteBlock(v, props);
}
