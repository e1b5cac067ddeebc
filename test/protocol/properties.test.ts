import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { AmqpError, ReplyCode } from '../../src/protocol/errors.js';
import {
  decodeBasicProperties,
  encodeBasicProperties,
  type BasicProperties,
} from '../../src/protocol/methods.generated.js';
import { OutputBuffer } from '../../src/protocol/output-buffer.js';
import { baseType, camel, int, pick, rng, spec, str, table, type Rand, errorOf } from './helpers.js';

const require = createRequire(import.meta.url);
const amqplibDefs = require('amqplib/lib/defs.js') as {
  encodeProperties(id: number, channel: number, size: number, fields: object): Buffer;
  decode(id: number, buf: Buffer): Record<string, unknown>;
};

const basic = spec.classes.find((c) => c.name === 'basic')!;
const props = basic.properties!.map((p) => ({ field: camel(p.name), type: baseType(p) }));
const ALL_UNDEFINED = Object.fromEntries(props.map((p) => [p.field, undefined]));

function randomProps(r: Rand, amqplibCompatible = false): BasicProperties {
  const p: Record<string, unknown> = {};
  for (const { field, type } of props) {
    if (r() < 0.5) continue;
    if (type === 'shortstr') p[field] = str(r, 255);
    else if (type === 'octet') p[field] = int(r, 0, 255);
    else if (type === 'timestamp') p[field] = pick(r, [0, int(r, 0, 2 ** 40), Number.MAX_SAFE_INTEGER]);
    else if (type === 'table') p[field] = table(r, 0, { amqplibCompatible });
    else throw new Error(type);
  }
  return p as BasicProperties;
}

function encode(p: BasicProperties): Buffer {
  const out = new OutputBuffer(32);
  encodeBasicProperties(out, p);
  return out.take();
}


describe('basic properties', () => {
  it('lists the 14 properties of the spec', () => {
    expect(props.map((p) => p.field)).toEqual([
      'contentType', 'contentEncoding', 'headers', 'deliveryMode', 'priority', 'correlationId', 'replyTo',
      'expiration', 'messageId', 'timestamp', 'type', 'userId', 'appId', 'clusterId',
    ]);
  });

  it('round-trips random subsets, always returning every key', () => {
    const r = rng(77);
    for (let i = 0; i < 500; i++) {
      const p = randomProps(r);
      const raw = encode(p);
      const decoded = decodeBasicProperties(raw, 0, raw.length);
      expect(decoded).toStrictEqual({ ...ALL_UNDEFINED, ...p });
      expect(Object.keys(decoded)).toEqual(props.map((x) => x.field));
    }
  });

  it('sets the flag bits in spec order, first property in the top bit', () => {
    expect(encode({})).toEqual(Buffer.from([0, 0]));
    expect(encode({ contentType: 'a' })).toEqual(Buffer.from([0x80, 0, 1, 0x61]));
    expect(encode({ clusterId: '' })).toEqual(Buffer.from([0x00, 0x04, 0]));
    expect(encode({ deliveryMode: 2, priority: 9 })).toEqual(Buffer.from([0x18, 0, 2, 9]));
    // null counts as absent
    expect(encode({ appId: null as unknown as string })).toEqual(Buffer.from([0, 0]));
  });

  it('decodes at an offset inside a content header payload', () => {
    const raw = encode({ messageId: 'm1', headers: { a: 1 } });
    const payload = Buffer.concat([Buffer.from([0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]), raw, Buffer.from([0xce])]);
    expect(decodeBasicProperties(payload, 12, payload.length - 1)).toStrictEqual({
      ...ALL_UNDEFINED,
      messageId: 'm1',
      headers: { a: 1 },
    });
  });

  it('cross-checks with amqplib both ways', () => {
    const r = rng(78);
    for (let i = 0; i < 200; i++) {
      const p = randomProps(r, true);
      const theirs = amqplibDefs.encodeProperties(60, 1, 0, p);
      // their frame: 7 header bytes, class, weight, size (12), properties, frame-end
      expect(decodeBasicProperties(theirs, 19, theirs.length - 1)).toStrictEqual({ ...ALL_UNDEFINED, ...p });
      const ours = encode(p);
      const back = amqplibDefs.decode(60, ours);
      for (const [k, v] of Object.entries(p)) expect(back[k], k).toEqual(v);
    }
  });

  it('ignores the spare flag bit and skips empty continuation words', () => {
    expect(decodeBasicProperties(Buffer.from([0x10, 0x02, 2]), 0, 3)).toStrictEqual({ ...ALL_UNDEFINED, deliveryMode: 2 });
    expect(decodeBasicProperties(Buffer.from([0x10, 0x01, 0, 1, 0, 0, 2]), 0, 7)).toStrictEqual({
      ...ALL_UNDEFINED,
      deliveryMode: 2,
    });
  });

  it('rejects continuation words naming unknown properties with SYNTAX_ERROR', () => {
    const e = errorOf(() => decodeBasicProperties(Buffer.from([0x00, 0x01, 0x80, 0x00]), 0, 4));
    expect(e.code).toBe(ReplyCode.SYNTAX_ERROR);
    expect(e.hard).toBe(true);
  });

  it('rejects every truncation and trailing bytes with FRAME_ERROR', () => {
    const raw = encode(randomProps(rng(5)));
    const full = encode({
      contentType: 'text/plain',
      headers: { x: [1, 'two'] },
      deliveryMode: 2,
      timestamp: 1_700_000_000,
      clusterId: 'c',
    });
    for (const buf of [raw, full]) {
      for (let cut = 0; cut < buf.length; cut++) {
        const e = errorOf(() => decodeBasicProperties(buf, 0, cut));
        expect(e.code, `cut ${cut}`).toBe(ReplyCode.FRAME_ERROR);
        expect(e.message).toContain('basic properties');
      }
      const longer = Buffer.concat([buf, Buffer.from([0])]);
      expect(errorOf(() => decodeBasicProperties(longer, 0, longer.length)).code).toBe(ReplyCode.FRAME_ERROR);
    }
  });
});
