/**
 * What quorum queues (x-queue-type quorum) do differently that a client can
 * see, as RabbitMQ 3.10: every delivery carries `x-delivery-count`, how many
 * times the message came back (nack or reject with requeue, its channel
 * closed), and with `x-delivery-limit` a message that comes back more often
 * than that is dead-lettered (reason delivery_limit) or dropped instead.
 * The header costs a splice of the properties per delivery (header-edit.ts:
 * the other headers keep their bytes, sorted by key as RabbitMQ sorts them).
 */
import { encodedValue, headerEntries, setEntry, withHeaders } from '../protocol/header-edit.js';
import { rewriteBlock } from './block-rewrite.js';
import { BlockView } from './records.js';

const view = new BlockView();

/** The block with `x-delivery-count` set in its headers. */
export function withDeliveryCount(block: Buffer, count: number): Buffer {
  const v = view.read(block, 0);
  const headers = headerEntries(block, v.propertiesAt, v.propertiesEnd);
  setEntry(headers, 'x-delivery-count', encodedValue(BigInt(count)));
  return rewriteBlock(v, withHeaders(block, v.propertiesAt, v.propertiesEnd, headers));
}
