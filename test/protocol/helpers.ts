/** Shared helpers for the protocol tests: a seeded PRNG, random values, and the spec. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { AmqpError } from '../../src/protocol/errors.js';
import { FrameReader } from '../../src/protocol/frame-reader.js';
import type { FieldTable, FieldValue } from '../../src/protocol/field-types.js';

/** mulberry32, the bench's: small, fast, deterministic, good enough for test data. */
export { seededRandom as rng } from '../../bench/stats.js';

export type Rand = () => number;

export const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** A mix of 1-, 2-, 3- and 4-byte utf8 characters. */
const CHARS = ['a', 'b', 'z', '0', '.', '#', '*', ' ', 'é', 'ß', 'Ж', '漢', '€', '😀'];

/** A random string of at most maxBytes utf8 bytes (sometimes empty, sometimes right at the limit). */
export function str(r: Rand, maxBytes: number): string {
  const target = pick(r, [0, 1, int(r, 0, 16), int(r, 0, maxBytes), maxBytes]);
  let s = '';
  let bytes = 0;
  while (bytes < target) {
    const c = pick(r, CHARS);
    const n = Buffer.byteLength(c);
    if (bytes + n > target) {
      // fill the rest with ASCII so the limit is hit exactly
      s += 'x'.repeat(target - bytes);
      break;
    }
    s += c;
    bytes += n;
  }
  return s;
}

export function bytes(r: Rand, max: number): Buffer {
  const b = Buffer.alloc(int(r, 0, max));
  for (let i = 0; i < b.length; i++) b[i] = int(r, 0, 255);
  return b;
}

/** Integers that exercise every width the encoder picks between. */
export function integer(r: Rand): number {
  return pick(r, [
    () => int(r, -128, 127),
    () => int(r, -0x80000000, 0x7fffffff),
    () => pick(r, [-0x80000000, 0x7fffffff, 0x80000000, -0x80000001]),
    () => int(r, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    () => pick(r, [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0]),
  ])();
}

export interface TableOptions {
  /** Only value kinds amqplib also round-trips (for the cross-check). */
  amqplibCompatible?: boolean;
}

/** A random field value whose decoded form equals itself (so no Date and no float32). */
export function fieldValue(r: Rand, depth: number, opts: TableOptions = {}): FieldValue {
  const kinds = ['bool', 'int', 'float', 'string', 'bytes', 'null'];
  if (!opts.amqplibCompatible) kinds.push('bigint', 'decimal');
  if (depth < 3) kinds.push('array', 'table');
  switch (pick(r, kinds)) {
    case 'bool':
      return r() < 0.5;
    case 'int':
      return integer(r);
    case 'float':
      return pick(r, [0.5, -1.25, Math.PI, 1e300, -Number.MIN_VALUE, (r() - 0.5) * 1e6 + 0.1]);
    case 'bigint':
      // beyond the safe range, so they decode as bigint again
      return pick(r, [2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -(2n ** 53n) - 3n]);
    case 'string':
      return str(r, 300);
    case 'bytes':
      return bytes(r, 40);
    case 'null':
      return null;
    case 'decimal':
      return { decimals: int(r, 0, 255), value: int(r, 0, 0xffffffff) };
    case 'array': {
      const a: FieldValue[] = [];
      for (let n = int(r, 0, 4); n > 0; n--) a.push(fieldValue(r, depth + 1, opts));
      return a;
    }
    default:
      return table(r, depth + 1, opts);
  }
}

export function table(r: Rand, depth = 0, opts: TableOptions = {}): FieldTable {
  const t: FieldTable = {};
  for (let n = int(r, 0, 6); n > 0; n--) t[str(r, 30) || 'k'] = fieldValue(r, depth, opts);
  return t;
}

export interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
}

/** Runs bytes through a FrameReader in the given chunks and collects copies of the frames. */
export function readFrames(chunks: Buffer[], maxFrameSize = 0): Frame[] {
  const frames: Frame[] = [];
  const reader = new FrameReader(
    { onFrame: (type, channel, buf, start, end) => frames.push({ type, channel, payload: Buffer.from(buf.subarray(start, end)) }) },
    maxFrameSize,
  );
  for (const c of chunks) reader.push(c);
  return frames;
}

// ---- the spec, as the tests see it (independent of the generator's code)

export interface SpecArg {
  name: string;
  type?: string;
  domain?: string;
}
export interface SpecMethod {
  name: string;
  id: number;
  content?: boolean;
  arguments: SpecArg[];
}
export interface SpecClass {
  name: string;
  id: number;
  methods: SpecMethod[];
  properties?: SpecArg[];
}

export const spec = JSON.parse(
  readFileSync(new URL('../../spec/amqp-rabbitmq-0.9.1.json', import.meta.url), 'utf8'),
) as { domains: [string, string][]; classes: SpecClass[] };

const domains = new Map(spec.domains);
export const baseType = (a: SpecArg): string => a.type ?? domains.get(a.domain!)!;

export const pascal = (s: string): string =>
  s
    .split('-')
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
export const camel = (s: string): string => {
  const p = pascal(s);
  return p[0].toLowerCase() + p.slice(1);
};

/** The AmqpError that f throws; fails the test if it throws nothing or something else. */
export function errorOf(f: () => unknown): AmqpError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AmqpError);
    return e as AmqpError;
  }
  throw new Error('did not throw');
}
