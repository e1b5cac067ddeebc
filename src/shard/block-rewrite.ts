/**
 * Rewriting a message block with a new property list (and possibly a new
 * exchange and routing key): for the rare paths that change a message,
 * dead-lettering, quorum queues' x-delivery-count and streams' x-stream-offset.
 * The body is copied as it is.
 */
import { encodedValue, headerEntries, setEntry, withHeaders } from '../protocol/header-edit.js';
import type { FieldValue } from '../protocol/field-types.js';
import { HEADERS_FLAG, fieldValueEnd, propertyOffset } from '../protocol/properties-validator.js';
import { readU32BE, writeU32BE } from '../protocol/uint32.js';
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

const STREAM_OFFSET = Buffer.from('x-stream-offset');
/** its table entry: the key's shortstr, 'l', the offset's 8 bytes */
const STREAM_OFFSET_ENTRY = 1 + STREAM_OFFSET.length + 1 + 8;

/**
 * A stream's delivery: the block with `x-stream-offset` set to `offset` (a
 * long), as withHeader would make it, in one copy when its headers are sorted
 * already and lack the key (none at all, as a rule): the entry goes in where
 * it sorts. Otherwise withHeader (which sorts the table, as RabbitMQ does).
 */
export function withStreamOffset(block: Buffer, offset: number): Buffer {
  const v = view.read(block, 0);
  const start = v.propertiesAt;
  if (v.propertiesEnd - start < 2) return withHeader(block, 'x-stream-offset', BigInt(offset));
  const flags = (block[start] << 8) | block[start + 1];
  const headersAt = propertyOffset(block, start, HEADERS_FLAG);
  const hasTable = (flags & HEADERS_FLAG) !== 0;
  const tableEnd = hasTable ? headersAt + 4 + readU32BE(block, headersAt) : headersAt;
  let insertAt = tableEnd;
  let previousAt = -1;
  for (let p = hasTable ? headersAt + 4 : tableEnd; p < tableEnd; ) {
    const valueAt = p + 1 + block[p];
    const order = block.compare(STREAM_OFFSET, 0, STREAM_OFFSET.length, p + 1, valueAt);
    const unsorted = previousAt >= 0 && block.compare(block, p + 1, valueAt, previousAt + 1, previousAt + 1 + block[previousAt]) > 0;
    if (order === 0 || unsorted) return withHeader(block, 'x-stream-offset', BigInt(offset));
    if (order > 0 && insertAt === tableEnd) insertAt = p;
    previousAt = p;
    p = fieldValueEnd(block, valueAt, tableEnd);
  }
  const added = STREAM_OFFSET_ENTRY + (hasTable ? 0 : 4);
  const result = Buffer.allocUnsafe(block.length + added);
  block.copy(result, 0, 0, start);
  result.writeUInt32LE(v.propertiesEnd - start + added, start - 4);
  result[start] = (flags | HEADERS_FLAG) >>> 8;
  result[start + 1] = flags & 0xff;
  let q = start + 2 + block.copy(result, start + 2, start + 2, headersAt);
  writeU32BE(result, q, tableEnd - headersAt - (hasTable ? 4 : 0) + STREAM_OFFSET_ENTRY);
  q += 4;
  if (hasTable) q += block.copy(result, q, headersAt + 4, insertAt);
  result[q] = STREAM_OFFSET.length;
  q += 1 + STREAM_OFFSET.copy(result, q + 1);
  result[q] = 0x6c; // l
  writeU32BE(result, q + 1, Math.floor(offset / 2 ** 32)); // (an offset is below 2^53)
  writeU32BE(result, q + 5, offset >>> 0);
  block.copy(result, q + 9, insertAt);
  return result;
}
