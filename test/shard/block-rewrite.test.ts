/**
 * withStreamOffset, a stream delivery's one-copy splice, against withHeader's
 * general rewrite (decode the table's entries, set, sort, encode): the same
 * bytes for any property list, headers sorted or not, with the key already
 * there or not, offsets up to 2^53 (fast-check).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withHeader, withStreamOffset } from '../../src/shard/block-rewrite.js';
import { blockSize, writeBlock } from '../../src/shard/records.js';
import { encodedValue } from '../../src/protocol/header-edit.js';

const shortstr = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);

const key = fc.oneof(
  fc.constantFrom('', 'a', 'x', 'x-stream-offset', 'x-stream-offse', 'x-stream-offsetz', 'x-stream-offset\u0000', 'y', 'zz', 'x-death', '\u00e9'),
  fc.string({ unit: 'grapheme', maxLength: 20 }).filter((k) => Buffer.byteLength(k) < 256),
);
const value = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.string({ maxLength: 30 }),
  fc.boolean(),
  fc.constant(null),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
);

/** A property list: optional content type, encoding, headers (entries in the order given), delivery mode, message id, timestamp. */
const properties = fc
  .record({
    contentType: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    contentEncoding: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    headers: fc.option(fc.tuple(fc.array(fc.tuple(key, value), { maxLength: 8 }), fc.boolean()), { nil: undefined }),
    deliveryMode: fc.option(fc.constantFrom(1, 2), { nil: undefined }),
    messageId: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    timestamp: fc.option(fc.integer({ min: 0, max: 2 ** 31 }), { nil: undefined }),
  })
  .map(({ contentType, contentEncoding, headers, deliveryMode, messageId, timestamp }) => {
    let flags = 0;
    const parts: Buffer[] = [];
    const ascii = (s: string) => shortstr(Buffer.from(s).subarray(0, 255).toString('latin1'));
    if (contentType !== undefined) (flags |= 0x8000), parts.push(ascii(contentType));
    if (contentEncoding !== undefined) (flags |= 0x4000), parts.push(ascii(contentEncoding));
    if (headers !== undefined) {
      flags |= 0x2000;
      const [entries, sorted] = headers;
      const encoded = entries.map(([k, v]) => ({ k: Buffer.from(k), bytes: Buffer.concat([shortstr(k), encodedValue(v as never)]) }));
      if (sorted) encoded.sort((a, b) => Buffer.compare(a.k, b.k));
      const table = Buffer.concat(encoded.map((e) => e.bytes));
      const size = Buffer.alloc(4);
      size.writeUInt32BE(table.length);
      parts.push(size, table);
    }
    if (deliveryMode !== undefined) (flags |= 0x1000), parts.push(Buffer.from([deliveryMode]));
    if (messageId !== undefined) (flags |= 0x0100), parts.push(ascii(messageId));
    if (timestamp !== undefined) {
      flags |= 0x0040;
      const t = Buffer.alloc(8);
      t.writeBigUInt64BE(BigInt(timestamp));
      parts.push(t);
    }
    return Buffer.concat([Buffer.from([flags >>> 8, flags & 0xff]), ...parts]);
  });

function block(props: Buffer, body: Buffer): Buffer {
  const exchange = shortstr('amq.direct');
  const routingKey = shortstr('rk');
  const buf = Buffer.alloc(blockSize(exchange.length + routingKey.length, props.length, body.length));
  writeBlock(buf, 0, exchange, routingKey, props, [body], body.length);
  return buf;
}

describe('withStreamOffset', () => {
  it('fast-check: the same bytes as withHeader for any properties and offset', () => {
    fc.assert(
      fc.property(fc.oneof(properties, fc.constant(Buffer.alloc(0))), fc.uint8Array({ maxLength: 64 }), fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), (props, body, offset) => {
        const b = block(props, Buffer.from(body));
        expect(withStreamOffset(b, offset).equals(withHeader(b, 'x-stream-offset', BigInt(offset)))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
