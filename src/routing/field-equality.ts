import type { FieldTable, FieldValue } from '../protocol/field-types.js';

/*
 * Value semantics shared by binding identity (canonicalTable) and headers matching
 * (fieldValuesEqual). The two must agree: values that compare equal serialize equally.
 *  - numbers compare by value whether decoded as number or bigint (AMQP has many int widths);
 *  - strings and byte buffers compare by their UTF-8 bytes (longstr may decode either way);
 *  - tables are key-order independent, arrays are ordered;
 *  - a decimal ({decimals, value}) is compared like a two-key table, which is exact.
 */

type Bytes = Uint8Array;

const isBytes = (v: unknown): v is Bytes => v instanceof Uint8Array;

function isTable(v: FieldValue): v is FieldTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isBytes(v) && !(v instanceof Date);
}

function numberEqualsBigint(n: number, b: bigint): boolean {
  // Number(b) may round; a safe integer that survives the round trip is exact, otherwise
  // confirm in bigint space (rare: only for values beyond 2^53).
  return Number(b) === n && (Number.isSafeInteger(n) || (Number.isInteger(n) && BigInt(n) === b));
}

function stringEqualsBytes(s: string, b: Bytes): boolean {
  // Cheap length test first; the encode only happens for same-length mixed-type pairs.
  return Buffer.byteLength(s, 'utf8') === b.length && Buffer.compare(Buffer.from(s, 'utf8'), b) === 0;
}

export function fieldValuesEqual(a: FieldValue, b: FieldValue): boolean {
  if (a === b) return true;
  switch (typeof a) {
    case 'number':
      return typeof b === 'bigint' && numberEqualsBigint(a, b);
    case 'bigint':
      return typeof b === 'number' && numberEqualsBigint(b, a);
    case 'string':
      return isBytes(b) && stringEqualsBytes(a, b);
    case 'boolean':
      return false;
  }
  if (typeof b === 'string') return isBytes(a) && stringEqualsBytes(b, a);
  if (a === null || b === null || typeof b !== 'object') return false;
  if (isBytes(a)) return isBytes(b) && Buffer.compare(a, b) === 0;
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!fieldValuesEqual(a[i], b[i])) return false;
    return true;
  }
  return isTable(a) && isTable(b) && tablesEqual(a, b);
}

function tablesEqual(a: FieldTable, b: FieldTable): boolean {
  // Counted with for..in rather than Object.keys so matching does not allocate.
  let n = 0;
  for (const k in a) {
    if (!Object.hasOwn(b, k) || !fieldValuesEqual(a[k], b[k])) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

/** A string that is equal for two tables iff fieldValuesEqual holds; used as a Map key. */
export function canonicalTable(t: FieldTable): string {
  const keys = Object.keys(t).sort();
  let s = `T${keys.length}:`;
  for (const k of keys) s += `${k.length}:${k}${canonicalValue(t[k])}`;
  return s;
}

// Every case is tagged and length-prefixed, so no two different values can collide.
function canonicalValue(v: FieldValue): string {
  switch (typeof v) {
    case 'boolean':
      return v ? 't' : 'f';
    case 'bigint':
      return `i${v};`;
    case 'number':
      return Number.isInteger(v) ? `i${BigInt(v)};` : `n${v};`;
    case 'string':
      return bytesValue(Buffer.from(v, 'utf8'));
  }
  if (v === null) return 'V';
  if (isBytes(v)) return bytesValue(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  if (v instanceof Date) return `D${v.getTime()};`;
  if (Array.isArray(v)) return `A${v.length}:${v.map(canonicalValue).join('')}`;
  return canonicalTable(v as FieldTable);
}

const bytesValue = (b: Buffer): string => `S${b.length}:${b.toString('latin1')}`;
