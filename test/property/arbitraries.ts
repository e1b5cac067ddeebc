/**
 * fast-check arbitraries for AMQP input: shortstr texts of 0-255 bytes, raw
 * field tables and raw basic property lists. Tables and properties are built
 * as the bytes a client sends (independent of the broker's codec), so tests
 * can compare what the broker delivers byte for byte.
 */
import fc from 'fast-check';

const u8 = (n: number) => Buffer.from([n]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
export const shortstrBytes = (s: string | Buffer) => {
  const b = Buffer.from(s);
  return Buffer.concat([u8(b.length), b]);
};
const longstrBytes = (b: Buffer) => Buffer.concat([u32(b.length), b]);

/** Drops whole code points from the end until the UTF-8 form fits in `max` bytes. */
export function fitBytes(s: string, max = 255): string {
  while (Buffer.byteLength(s) > max) s = [...s].slice(0, -1).join('');
  return s;
}

/** Names that have broken brokers: the longest legal ones, and 32 bytes (msgpackr's native decoder threshold). */
export const EDGE_NAMES = [
  'q'.repeat(255),
  'é'.repeat(127) + 'x', // 2-byte characters, 255 bytes
  '€'.repeat(85), // 3-byte characters, 255 bytes
  '😀'.repeat(63) + 'abc', // 4-byte characters, 255 bytes
  'n'.repeat(32),
  'é'.repeat(16),
  'n'.repeat(31),
  'café',
];

/** Any text whose UTF-8 form is a legal shortstr (0-255 bytes), edge cases often. */
export const shortstrText = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...EDGE_NAMES) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 255 }).map((s) => fitBytes(s)) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 200, maxLength: 255 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 100 }).map((s) => fitBytes(s)) },
  );

const fixed = (letter: string, size: number) =>
  fc.uint8Array({ minLength: size, maxLength: size }).map((b) => Buffer.concat([Buffer.from(letter), Buffer.from(b)]));

/** A raw field value: type letter and bytes, any of RabbitMQ's letters, nesting up to `depth` tables/arrays. */
export function fieldValueBytes(depth = 3): fc.Arbitrary<Buffer> {
  const { value } = fc.letrec<{ value: Buffer; table: Buffer; array: Buffer }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true, maxDepth: depth },
      fc.boolean().map((v) => Buffer.concat([Buffer.from('t'), u8(v ? 1 : 0)])),
      fixed('b', 1),
      fixed('B', 1),
      fixed('s', 2),
      fixed('u', 2),
      fixed('I', 4),
      fixed('i', 4),
      fixed('l', 8),
      fixed('f', 4),
      fixed('d', 8),
      fixed('D', 5),
      fixed('T', 8),
      fc.constant(Buffer.from('V')),
      shortstrText().map((s) => Buffer.concat([Buffer.from('S'), longstrBytes(Buffer.from(s))])),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from('x'), longstrBytes(Buffer.from(b))])),
      tie('table').map((t) => Buffer.concat([Buffer.from('F'), t])),
      tie('array').map((a) => Buffer.concat([Buffer.from('A'), a])),
    ),
    table: fc
      .array(fc.tuple(shortstrText(), tie('value')), { maxLength: 5 })
      .map((entries) => longstrBytes(Buffer.concat(entries.flatMap(([k, v]) => [shortstrBytes(k), v])))),
    array: fc.array(tie('value'), { maxLength: 5 }).map((values) => longstrBytes(Buffer.concat(values))),
  }));
  return value;
}

/** A raw field table with its u32 size: keys of any legal shortstr, values of any type. */
export const tableBytes = (): fc.Arbitrary<Buffer> =>
  fc
    .array(fc.tuple(shortstrText(), fieldValueBytes()), { maxLength: 6 })
    .map((entries) => longstrBytes(Buffer.concat(entries.flatMap(([k, v]) => [shortstrBytes(k), v]))));

/**
 * A raw basic property list: flags word then the values it names. user-id is
 * absent or `userId` (brokers refuse another user's id); the spare flag bit 1
 * is sometimes set (RabbitMQ accepts and keeps it).
 */
export function propertiesBytes(userId = 'guest'): fc.Arbitrary<Buffer> {
  const str = fc.option(shortstrText(), { nil: undefined });
  const octet = fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined });
  return fc
    .record({
      contentType: str,
      contentEncoding: str,
      headers: fc.option(tableBytes(), { nil: undefined }),
      deliveryMode: octet,
      priority: octet,
      correlationId: str,
      replyTo: str,
      // RabbitMQ (and warren) refuse an expiration that is not a count of ms: 100 s and up, so none expires in a test
      expiration: fc.option(fc.stringMatching(/^[1-9][0-9]{5,254}$/), { nil: undefined }),
      messageId: str,
      timestamp: fc.option(fc.uint8Array({ minLength: 8, maxLength: 8 }), { nil: undefined }),
      type: str,
      userId: fc.option(fc.constant(userId), { nil: undefined }),
      appId: str,
      clusterId: str,
      spareBit: fc.boolean(),
    })
    .map((p) => {
      let flags = p.spareBit ? 0x0002 : 0;
      const parts: Buffer[] = [];
      const add = (bit: number, bytes: Buffer | undefined) => {
        if (bytes === undefined) return;
        flags |= bit;
        parts.push(bytes);
      };
      const s = (v: string | undefined) => (v === undefined ? undefined : shortstrBytes(v));
      const o = (v: number | undefined) => (v === undefined ? undefined : u8(v));
      add(0x8000, s(p.contentType));
      add(0x4000, s(p.contentEncoding));
      add(0x2000, p.headers);
      add(0x1000, o(p.deliveryMode));
      add(0x0800, o(p.priority));
      add(0x0400, s(p.correlationId));
      add(0x0200, s(p.replyTo));
      add(0x0100, s(p.expiration));
      add(0x0080, s(p.messageId));
      add(0x0040, p.timestamp === undefined ? undefined : Buffer.from(p.timestamp));
      add(0x0020, s(p.type));
      add(0x0010, s(p.userId));
      add(0x0008, s(p.appId));
      add(0x0004, s(p.clusterId));
      const head = Buffer.alloc(2);
      head.writeUInt16BE(flags);
      return Buffer.concat([head, ...parts]);
    });
}
