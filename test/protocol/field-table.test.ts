import { describe, expect, it } from 'vitest';
import { AmqpError, ReplyCode } from '../../src/protocol/errors.js';
import { decodeTable, MAX_TABLE_DEPTH, Reader } from '../../src/protocol/field-table.js';
import type { FieldTable } from '../../src/protocol/field-types.js';
import { OutputBuffer } from '../../src/protocol/output-buffer.js';
import { rng, table, errorOf } from './helpers.js';

/** Builds table bytes by hand: entries are [key, type letter, value bytes]. */
function rawTable(entries: [string, string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [k, t, v] of entries) {
    const key = Buffer.from(k);
    parts.push(Buffer.from([key.length]), key, Buffer.from(t, 'latin1'), v);
  }
  return Buffer.concat(parts);
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const withSize = (b: Buffer) => Buffer.concat([u32(b.length), b]);

/** Encodes with OutputBuffer.table and returns the bytes after the u32 size. */
function encodeEntries(t: FieldTable | undefined): Buffer {
  const out = new OutputBuffer(16);
  out.table(t);
  const b = out.take();
  expect(b.readUInt32BE(0)).toBe(b.length - 4);
  return b.subarray(4);
}


describe('decodeTable: every type letter', () => {
  const b = (...xs: number[]) => Buffer.from(xs);
  const f32 = Buffer.alloc(4);
  f32.writeFloatBE(1.5);
  const f64 = Buffer.alloc(8);
  f64.writeDoubleBE(-2.25);
  const i64 = (v: bigint) => {
    const x = Buffer.alloc(8);
    x.writeBigInt64BE(v);
    return x;
  };
  const cases: [string, string, Buffer, unknown][] = [
    ['true', 't', b(1), true],
    ['false', 't', b(0), false],
    ['t-nonzero', 't', b(7), true],
    ['int8', 'b', b(0xff), -1],
    ['uint8', 'B', b(0xff), 255],
    ['int16', 's', b(0x80, 0x00), -32768],
    ['uint16', 'u', b(0xff, 0xfe), 65534],
    ['int32', 'I', b(0xff, 0xff, 0xff, 0xfe), -2],
    ['uint32', 'i', b(0xff, 0xff, 0xff, 0xfe), 0xfffffffe],
    ['int64 small', 'l', i64(-5n), -5],
    ['int64 safe max', 'l', i64(2n ** 53n - 1n), Number.MAX_SAFE_INTEGER],
    ['int64 big', 'l', i64(2n ** 62n + 1n), 2n ** 62n + 1n],
    ['int64 min', 'l', i64(-(2n ** 63n)), -(2n ** 63n)],
    ['float', 'f', f32, 1.5],
    ['double', 'd', f64, -2.25],
    ['decimal', 'D', b(2, 0, 0, 0x30, 0x39), { decimals: 2, value: 12345 }],
    ['longstr', 'S', withSize(Buffer.from('héllo')), 'héllo'],
    ['bytes', 'x', withSize(b(0, 1, 2)), b(0, 1, 2)],
    ['void', 'V', b(), null],
    ['timestamp', 'T', b(0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00), 0x6553f100],
    ['array', 'A', withSize(Buffer.concat([b(0x74, 1), b(0x56), b(0x49, 0, 0, 0, 7)])), [true, null, 7]],
    ['empty array', 'A', withSize(b()), []],
    ['table', 'F', withSize(rawTable([['n', 'B', b(3)]])), { n: 3 }],
    ['empty table', 'F', withSize(b()), {}],
  ];

  for (const [key, type, value, want] of cases) {
    it(`${type} (${key})`, () => {
      const raw = rawTable([[key, type, value]]);
      expect(decodeTable(raw, 0, raw.length)).toStrictEqual({ [key]: want });
    });
  }

  it('all of them in one table, inside a larger buffer', () => {
    const raw = rawTable(cases.map(([k, t, v]) => [k, t, v]));
    const padded = Buffer.concat([Buffer.from([1, 2, 3]), raw, Buffer.from([4])]);
    const want = Object.fromEntries(cases.map(([k, , , w]) => [k, w]));
    expect(decodeTable(padded, 3, 3 + raw.length)).toStrictEqual(want);
  });

  it('reads a "__proto__" key as a plain own key', () => {
    const raw = rawTable([['__proto__', 'B', Buffer.from([1])]]);
    const t = decodeTable(raw, 0, raw.length);
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    expect(Object.keys(t)).toEqual(['__proto__']);
    expect(t['__proto__']).toBe(1);
  });

  it('copies byte arrays out of the source buffer', () => {
    const raw = rawTable([['x', 'x', withSize(Buffer.from([5, 6]))]]);
    const t = decodeTable(raw, 0, raw.length);
    raw.fill(0);
    expect(t.x).toEqual(Buffer.from([5, 6]));
  });
});

describe('decodeTable: bad input', () => {
  it('unknown type letter -> SYNTAX_ERROR', () => {
    for (const letter of ['Z', 'U', 'L', 'n', '\u0000']) {
      const raw = rawTable([['k', letter, Buffer.alloc(8)]]);
      const e = errorOf(() => decodeTable(raw, 0, raw.length));
      expect(e.code).toBe(ReplyCode.SYNTAX_ERROR);
      expect(e.hard).toBe(true);
    }
  });

  it('nested unknown letter inside an array -> SYNTAX_ERROR', () => {
    const raw = rawTable([['a', 'A', withSize(Buffer.from('Z'))]]);
    expect(errorOf(() => decodeTable(raw, 0, raw.length)).code).toBe(ReplyCode.SYNTAX_ERROR);
  });

  it('every truncation -> FRAME_ERROR', () => {
    const raw = encodeEntries(table(rng(11)));
    const whole = encodeEntries({ a: 'abc', b: [1, 2.5, { c: Buffer.from([1]) }], d: 2n ** 60n, e: true });
    for (const buf of [raw, whole]) {
      for (let cut = 1; cut < buf.length; cut++) {
        let e: unknown;
        try {
          decodeTable(buf, 0, cut);
        } catch (err) {
          e = err;
        }
        // a cut may land exactly between two entries, which is a valid shorter table
        if (e !== undefined) expect((e as AmqpError).code, `cut ${cut}`).toBe(ReplyCode.FRAME_ERROR);
      }
    }
  });

  it('a nested size running past its parent -> FRAME_ERROR', () => {
    // F claims 100 bytes but only 1 follows
    const raw = rawTable([['t', 'F', Buffer.concat([u32(100), Buffer.from([0])])]]);
    expect(errorOf(() => decodeTable(raw, 0, raw.length)).code).toBe(ReplyCode.FRAME_ERROR);
  });

  it('end beyond the buffer -> FRAME_ERROR', () => {
    expect(errorOf(() => decodeTable(Buffer.alloc(2), 0, 10)).code).toBe(ReplyCode.FRAME_ERROR);
  });

  it('absurd nesting -> SYNTAX_ERROR instead of a stack overflow', () => {
    // key "k", type F, then size of the remainder, repeated
    let inner: Buffer = Buffer.alloc(0);
    for (let i = 0; i < MAX_TABLE_DEPTH + 5; i++) inner = rawTable([['k', 'F', withSize(inner)]]);
    expect(errorOf(() => decodeTable(inner, 0, inner.length)).code).toBe(ReplyCode.SYNTAX_ERROR);
    // just inside the limit is fine
    let ok: Buffer = Buffer.alloc(0);
    for (let i = 0; i < MAX_TABLE_DEPTH - 1; i++) ok = rawTable([['k', 'F', withSize(ok)]]);
    expect(() => decodeTable(ok, 0, ok.length)).not.toThrow();
  });
});

describe('OutputBuffer.table encoding', () => {
  it('infers the type letter from the JS value', () => {
    const date = new Date(1_700_000_000_123);
    const raw = encodeEntries({
      bool: true,
      int: -7,
      i32max: 0x7fffffff,
      i32min: -0x80000000,
      above: 0x80000000,
      below: -0x80000001,
      frac: 0.5,
      huge: 1e300,
      nan: NaN,
      big: 5n,
      str: 'ü',
      buf: Buffer.from([1]),
      u8a: new Uint8Array([2, 3]) as unknown as Buffer,
      arr: [1],
      nul: null,
      undef: undefined as unknown as null,
      date,
      dec: { decimals: 3, value: 1500 },
      obj: { decimals: 1 },
    });
    const r = new Reader(raw, 0, raw.length);
    const letters: Record<string, string> = {};
    while (r.pos < r.end) {
      const key = r.shortstr();
      letters[key] = String.fromCharCode(raw[r.pos]);
      r.fieldValue();
    }
    expect(letters).toEqual({
      bool: 't',
      int: 'I',
      i32max: 'I',
      i32min: 'I',
      above: 'l',
      below: 'l',
      frac: 'd',
      huge: 'd',
      nan: 'd',
      big: 'l',
      str: 'S',
      buf: 'x',
      u8a: 'x',
      arr: 'A',
      nul: 'V',
      undef: 'V',
      date: 'T',
      dec: 'D',
      obj: 'F',
    });
    const t = decodeTable(raw, 0, raw.length);
    expect(t.date).toBe(1_700_000_000);
    expect(t.u8a).toEqual(Buffer.from([2, 3]));
    expect(t.nan).toBeNaN();
    expect(t.big).toBe(5);
  });

  it('undefined writes an empty table', () => {
    expect(encodeEntries(undefined).length).toBe(0);
  });

  it('round-trips random tables', () => {
    const r = rng(1234);
    for (let i = 0; i < 300; i++) {
      const t = table(r);
      const raw = encodeEntries(t);
      expect(decodeTable(raw, 0, raw.length)).toStrictEqual(t);
    }
  });

  it('round-trips int64 edges exactly', () => {
    const t = {
      a: 2n ** 63n - 1n,
      b: -(2n ** 63n),
      c: Number.MAX_SAFE_INTEGER,
      d: Number.MIN_SAFE_INTEGER,
      e: 2 ** 60, // an unsafe but exact number comes back as bigint
      f: -(2 ** 62),
    };
    const raw = encodeEntries(t);
    expect(decodeTable(raw, 0, raw.length)).toStrictEqual({ ...t, e: 2n ** 60n, f: -(2n ** 62n) });
  });

  it('rejects keys over 255 bytes with a plain Error', () => {
    expect(() => encodeEntries({ ['k'.repeat(256)]: 1 })).toThrow(Error);
  });
});
