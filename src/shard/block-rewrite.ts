/**
 * Rewriting a message block with a new property list (and possibly a new
 * exchange and routing key): for the rare paths that change a message,
 * dead-lettering, quorum queues' x-delivery-count and streams' x-stream-offset.
 * The body is copied as it is.
 */
import { encodedValue, headerEntries, setEntry, withHeaders } from '../protocol/header-edit.js';
import type { FieldValue } from '../protocol/field-types.js';
import { BlockView, blockSize } from './records.js';

const view = new BlockView();

/**
 * The block with header `key` set to `value`: a splice of its properties (the
 * other headers keep their bytes, sorted by key as RabbitMQ sorts them).
 */
export function withHeader(block: Buffer, key: string, value: FieldValue): Buffer {
  const v = view.read(block, 0);
  const headers = headerEntries(block, v.propertiesAt, v.propertiesEnd);
  setEntry(headers, key, encodedValue(value));
  return rewriteBlock(v, withHeaders(block, v.propertiesAt, v.propertiesEnd, headers));
}

/**
 * The block `v` describes with `properties` (an encoded property list) as its
 * properties; `exchange` and `routingKey` (UTF-8 bytes, at most 255 each)
 * replace its own when given.
 */
export function rewriteBlock(v: BlockView, properties: Buffer, exchange?: Buffer, routingKey?: Buffer): Buffer {
  const block = v.buf;
  const exchangeLen = exchange === undefined ? block[v.start] : exchange.length;
  const keyLen = routingKey === undefined ? block[v.routingKeyAt] : routingKey.length;
  const bodySize = v.bodySize;
  const result = Buffer.allocUnsafe(blockSize(2 + exchangeLen + keyLen, properties.length, bodySize));
  let p = 0;
  result[p++] = exchangeLen;
  p += exchange === undefined ? block.copy(result, p, v.start + 1, v.routingKeyAt) : exchange.copy(result, p);
  result[p++] = keyLen;
  p += routingKey === undefined ? block.copy(result, p, v.routingKeyAt + 1, v.routingKeyAt + 1 + keyLen) : routingKey.copy(result, p);
  result.writeUInt32LE(properties.length, p);
  p += 4 + properties.copy(result, p + 4);
  result.writeUInt32LE(bodySize, p);
  block.copy(result, p + 4, v.bodyAt, v.end);
  return result;
}
