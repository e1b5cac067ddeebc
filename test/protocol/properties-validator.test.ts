/**
 * The publish-time check of content-header property bytes: it must accept
 * every well-formed list (anything a client can encode), refuse every
 * malformed one, and agree with the full decoder on arbitrary bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deliveryMode, propertiesError, propertyAt } from '../../src/protocol/properties-validator.js';
import { decodeBasicProperties, encodeBasicProperties } from '../../src/protocol/methods.generated.js';
import { OutputBuffer } from '../../src/protocol/output-buffer.js';
import { propertiesBytes } from '../property/arbitraries.js';

const check = (b: Buffer) => propertiesError(b, 0, b.length);
const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');

function decodes(b: Buffer): boolean {
  try {
    decodeBasicProperties(b, 0, b.length);
    return true;
  } catch {
    return false;
  }
}

describe('propertiesError', () => {
  it('accepts the properties clients commonly send', () => {
    const out = new OutputBuffer(64);
    encodeBasicProperties(out, {
      contentType: 'application/json',
      headers: { 'x-retry': 3, nested: { list: [1, 'two', { deep: true }] }, n: null, big: 2n ** 62n },
      deliveryMode: 2,
      priority: 9,
      messageId: 'm-1',
      timestamp: 1_700_000_000,
      userId: 'guest',
    });
    expect(check(out.take())).toBeNull();
    expect(check(hex('0000'))).toBeNull();
    expect(check(hex('1000 02'))).toBeNull(); // delivery-mode only: the fast path
    expect(check(hex('1840 02 09 0000000065000000'))).toBeNull(); // delivery-mode, priority, timestamp
    expect(check(hex('1002 02'))).toBeNull(); // the spare bit 1, as RabbitMQ accepts it
    expect(check(hex('8000 02 ffff'))).toBeNull(); // bytes of a shortstr are not checked (RabbitMQ does not)
  });

  it.each([
    ['no flags word', '', 'no property flags'],
    ['one byte', '10', 'no property flags'],
    ['headers of 0xFFFFFFFF bytes', '2000 ffffffff', 'headers table of 4294967295 byte(s) runs past the end'],
    ['a content-type running past the end', '8000 0a 616263', 'shortstr of 10 byte(s) runs past the end'],
    ['trailing bytes', '0000 6a756e6b', '4 byte(s) after the last property'],
    ['trailing bytes after delivery-mode', '1000 02 6a756e6b', '4 byte(s) after the last property'],
    ['a cut timestamp', '0040 00000001', 'need 8 byte(s) of values, only 4 follow'],
    ['the continuation bit', '0001 0000', 'continuation bit'],
    ['the continuation bit with a shortstr', '8001 0161', 'continuation bit'],
    ['an unknown field type', '2000 00000003 016b5a', 'unknown field type 0x5a'],
    ['a table entry cut inside its key', '2000 00000003 056162', 'shortstr of 5 byte(s) runs past the end'],
    ['a nested table longer than its parent', '2000 00000007 016b46 00000064', 'nested table of 100 byte(s) runs past the end'],
    ['a key without a value', '2000 00000002 016b', 'field type of 1 byte(s) runs past the end'],
    ['a long string past its table', '2000 00000008 016b53 00000005 61', 'long string of 5 byte(s) runs past the end'],
  ])('refuses %s', (_, bytes, why) => {
    expect(check(hex(bytes))).toContain(why);
  });

  it('refuses tables nested deeper than the decoder accepts, and accepts the deepest it takes', () => {
    const nest = (levels: number): Buffer => {
      let t = Buffer.alloc(0); // innermost table: empty
      for (let i = 1; i < levels; i++) {
        const entry = Buffer.concat([hex('016b46'), u32(t.length), t]);
        t = entry;
      }
      return Buffer.concat([hex('2000'), u32(t.length), t]);
    };
    expect(check(nest(100))).toBeNull();
    expect(decodes(nest(100))).toBe(true);
    expect(check(nest(101))).toContain('nested deeper than 100');
    expect(decodes(nest(101))).toBe(false);
  });

  it('checks at an offset inside a content header payload', () => {
    const payload = Buffer.concat([Buffer.alloc(12), hex('1000 02'), hex('ce')]);
    expect(propertiesError(payload, 12, payload.length - 1)).toBeNull();
    expect(propertiesError(payload, 12, payload.length)).toContain('1 byte(s) after the last property');
  });

  it('accepts any well-formed property list, and no strict prefix or extension of one', () => {
    fc.assert(
      fc.property(propertiesBytes(), fc.uint8Array({ minLength: 1, maxLength: 4 }), (props, extra) => {
        expect(check(props)).toBeNull();
        expect(decodes(props)).toBe(true);
        for (let cut = 0; cut < props.length; cut++) expect(propertiesError(props, 0, cut), `cut at ${cut}`).not.toBeNull();
        expect(check(Buffer.concat([props, Buffer.from(extra)]))).not.toBeNull();
      }),
      { numRuns: 200 },
    );
  });

  it('agrees with the decoder on arbitrary and corrupted bytes', () => {
    const corrupted = fc
      .tuple(propertiesBytes(), fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([b, at, v]) => {
        const copy = Buffer.from(b);
        copy[at % copy.length] = v;
        return copy;
      });
    const arbitrary = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));
    fc.assert(
      fc.property(fc.oneof(corrupted, arbitrary), (b) => {
        // The decoder also skips empty continuation words, which RabbitMQ (and the check) refuse.
        const continuation = b.length >= 2 && (b[1] & 1) === 1;
        expect(check(b) === null, check(b) ?? 'accepted').toBe(decodes(b) && !continuation);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('deliveryMode', () => {
  it('reads what the decoder reads, at an offset, for any well-formed property list', () => {
    fc.assert(
      fc.property(propertiesBytes(), fc.nat({ max: 16 }), (props, offset) => {
        const payload = Buffer.concat([Buffer.alloc(offset, 0xab), props]);
        expect(deliveryMode(payload, offset)).toBe(decodeBasicProperties(props, 0, props.length).deliveryMode ?? 0);
      }),
      { numRuns: 1000 },
    );
  });

  it('finds delivery-mode 2 behind content-type, content-encoding and headers', () => {
    const out = new OutputBuffer();
    encodeBasicProperties(out, { contentType: 'text/plain', contentEncoding: 'gzip', headers: { a: 'b', n: 1 }, deliveryMode: 2, priority: 9 });
    const b = out.take();
    expect(check(b)).toBeNull();
    expect(deliveryMode(b, 0)).toBe(2);
  });
});

describe('propertyAt', () => {
  /** The properties found by their place: flag bit, name, how to read the value there. */
  const SHORTSTR_FIELDS = [
    [0x8000, 'contentType'], [0x4000, 'contentEncoding'], [0x0400, 'correlationId'], [0x0200, 'replyTo'],
    [0x0100, 'expiration'], [0x0080, 'messageId'], [0x0020, 'type'], [0x0010, 'userId'], [0x0008, 'appId'], [0x0004, 'clusterId'],
  ] as const;
  const OCTET_FIELDS = [[0x1000, 'deliveryMode'], [0x0800, 'priority']] as const;

  it('points at the value the decoder reads, for every property of any well-formed list, at an offset', () => {
    fc.assert(
      fc.property(propertiesBytes(), fc.nat({ max: 16 }), (props, offset) => {
        const payload = Buffer.concat([Buffer.alloc(offset, 0xab), props]);
        const decoded = decodeBasicProperties(props, 0, props.length) as Record<string, unknown>;
        for (const [bit, name] of SHORTSTR_FIELDS) {
          const p = propertyAt(payload, offset, bit);
          if (decoded[name] === undefined) expect(p).toBe(-1);
          else expect(payload.toString('latin1', p + 1, p + 1 + payload[p])).toBe(Buffer.from(decoded[name] as string).toString('latin1'));
        }
        for (const [bit, name] of OCTET_FIELDS) {
          const p = propertyAt(payload, offset, bit);
          expect(p < 0 ? undefined : payload[p]).toBe(decoded[name]);
        }
        const headersAt = propertyAt(payload, offset, 0x2000);
        if (decoded.headers === undefined) expect(headersAt).toBe(-1);
        else {
          // the table ends inside the list, where the next property (delivery-mode, when set) starts
          const tableEnd = headersAt + 4 + payload.readUInt32BE(headersAt);
          expect(tableEnd).toBeLessThanOrEqual(payload.length);
          if (decoded.deliveryMode !== undefined) expect(propertyAt(payload, offset, 0x1000)).toBe(tableEnd);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
