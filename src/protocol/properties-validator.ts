/**
 * Checks the property bytes of a basic content header before the message is
 * routed: warren stores and delivers them verbatim, so a malformed header
 * (a table length running past the end, a cut shortstr, trailing bytes) would
 * otherwise reach every consumer, whose client drops its connection on it.
 *
 * It walks the bytes without decoding them (no objects, no strings) and is
 * called once per publish. Like RabbitMQ 3.10 it accepts the unused flag bit 1
 * and any bytes inside shortstrs and table strings, and refuses the
 * continuation bit (basic has no second flags word).
 */
import { MAX_TABLE_DEPTH } from './field-table.js';
import { readU32BE } from './uint32.js';

/** Flag bits, highest first: content-type (0x8000) ... cluster-id (0x0004). */
const SHORTSTRS = 0x8000 | 0x4000 | 0x0400 | 0x0200 | 0x0100 | 0x0080 | 0x0020 | 0x0010 | 0x0008 | 0x0004;
/** The bits of the properties looked up elsewhere (propertyAt), and of the fixed-size ones. */
export const HEADERS_FLAG = 0x2000;
const DELIVERY_MODE_FLAG = 0x1000;
export const PRIORITY_FLAG = 0x0800;
export const REPLY_TO_FLAG = 0x0200;
export const EXPIRATION_FLAG = 0x0100;
const TIMESTAMP_FLAG = 0x0040;
const CONTINUATION = 0x0001;
const VARIABLE = SHORTSTRS | HEADERS_FLAG | CONTINUATION;

/** Why the last walk failed; set only on failure. */
let fault = '';

/**
 * Returns null when buf[start, end) is a well-formed basic property list
 * (flags word, then the values its bits name, nothing after), else a
 * description of the first problem.
 */
export function propertiesError(buf: Buffer, start: number, end: number): string | null {
  if (end - start < 2) return 'no property flags';
  const flags = (buf[start] << 8) | buf[start + 1];
  if ((flags & VARIABLE) === 0) {
    // only fixed-size values: their total must be exactly what follows the flags
    const size = ((flags & DELIVERY_MODE_FLAG) !== 0 ? 1 : 0) + ((flags & PRIORITY_FLAG) !== 0 ? 1 : 0) + ((flags & TIMESTAMP_FLAG) !== 0 ? 8 : 0);
    return end - start - 2 === size ? null : sizeMismatch(flags, end - start - 2, size);
  }
  if ((flags & CONTINUATION) !== 0) return `property flags 0x${hex(flags)} set the continuation bit, but basic has no more properties`;
  let p = start + 2;
  for (let bit = 0x8000; bit > CONTINUATION && p >= 0; bit >>>= 1) {
    if ((flags & bit) === 0) continue;
    if ((bit & SHORTSTRS) !== 0) p = skipShortstr(buf, p, end);
    else if (bit === HEADERS_FLAG) p = skipTable(buf, p, end, 1, 'headers table');
    else if (bit === TIMESTAMP_FLAG) p = skip(p, 8, end, 'timestamp');
    else if (bit === DELIVERY_MODE_FLAG || bit === PRIORITY_FLAG) p = skip(p, 1, end, bit === PRIORITY_FLAG ? 'priority' : 'delivery-mode');
  }
  if (p < 0) return fault;
  return p === end ? null : `${end - p} byte(s) after the last property`;
}

/**
 * Where the value of the property whose flag is `bit` starts in a property
 * list at buf[start..] that passed propertiesError (stored blocks hold such
 * lists), or -1 when the flag is clear. The properties before it are skipped
 * by their lengths; nothing is decoded.
 */
export function propertyAt(buf: Uint8Array, start: number, bit: number): number {
  return (((buf[start] << 8) | buf[start + 1]) & bit) === 0 ? -1 : propertyOffset(buf, start, bit);
}

/** Where the value of the property whose flag is `bit` starts, or would start were its flag set (see propertyAt). */
export function propertyOffset(buf: Uint8Array, start: number, bit: number): number {
  const flags = (buf[start] << 8) | buf[start + 1];
  let p = start + 2;
  for (let before = 0x8000; before > bit; before >>>= 1) {
    if ((flags & before) === 0) continue;
    if ((before & SHORTSTRS) !== 0) p += 1 + buf[p];
    else if (before === HEADERS_FLAG) p += 4 + readU32BE(buf, p);
    else if (before === TIMESTAMP_FLAG) p += 8;
    else if (before === DELIVERY_MODE_FLAG || before === PRIORITY_FLAG) p += 1;
  }
  return p;
}

/** The delivery-mode property of a property list that passed propertiesError (0 when absent). */
export function deliveryMode(buf: Buffer, start: number): number {
  const p = propertyAt(buf, start, DELIVERY_MODE_FLAG);
  return p < 0 ? 0 : buf[p];
}

function sizeMismatch(flags: number, got: number, want: number): string {
  return got < want
    ? `property flags 0x${hex(flags)} need ${want} byte(s) of values, only ${got} follow`
    : `${got - want} byte(s) after the last property`;
}

const hex = (n: number) => n.toString(16).padStart(4, '0');

/** Each skip returns the position after the value, or -1 (with `fault` set) if it runs past `end`. */
function skip(p: number, n: number, end: number, what: string): number {
  if (end - p >= n) return p + n;
  fault = `${what} of ${n} byte(s) runs past the end of its table or of the properties`;
  return -1;
}

function skipShortstr(buf: Buffer, p: number, end: number): number {
  if (p >= end) return skip(p, 1, end, 'shortstr length');
  return skip(p + 1, buf[p], end, 'shortstr');
}

function skipLong(buf: Buffer, p: number, end: number, what: string): number {
  if (end - p < 4) return skip(p, 4, end, `${what} length`);
  return skip(p + 4, buf[p] * 0x1000000 + ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]), end, what);
}

/** A field table with its u32 size: key shortstrs and typed values, exactly filling the size. */
function skipTable(buf: Buffer, p: number, end: number, depth: number, what: string): number {
  const tableEnd = skipLong(buf, p, end, what);
  if (tableEnd < 0) return -1;
  if (depth > MAX_TABLE_DEPTH) return nestedTooDeep();
  p += 4;
  while (p < tableEnd && p >= 0) {
    p = skipShortstr(buf, p, tableEnd);
    if (p >= 0) p = skipValue(buf, p, tableEnd, depth);
  }
  return p;
}

function skipArray(buf: Buffer, p: number, end: number, depth: number): number {
  const arrayEnd = skipLong(buf, p, end, 'field array');
  if (arrayEnd < 0) return -1;
  if (depth > MAX_TABLE_DEPTH) return nestedTooDeep();
  p += 4;
  while (p < arrayEnd && p >= 0) p = skipValue(buf, p, arrayEnd, depth);
  return p;
}

function nestedTooDeep(): number {
  fault = `field tables nested deeper than ${MAX_TABLE_DEPTH}`;
  return -1;
}

/** One type letter and its value (RabbitMQ's letters, as in field-table.ts). */
function skipValue(buf: Buffer, p: number, end: number, depth: number): number {
  if (p >= end) return skip(p, 1, end, 'field type');
  const type = buf[p++];
  switch (type) {
    case 0x56: // V
      return p;
    case 0x74: // t
    case 0x62: // b
    case 0x42: // B
      return skip(p, 1, end, 'field value');
    case 0x73: // s
    case 0x75: // u
      return skip(p, 2, end, 'field value');
    case 0x49: // I
    case 0x69: // i
    case 0x66: // f
      return skip(p, 4, end, 'field value');
    case 0x44: // D: scale octet, u32
      return skip(p, 5, end, 'decimal');
    case 0x6c: // l
    case 0x64: // d
    case 0x54: // T
      return skip(p, 8, end, 'field value');
    case 0x53: // S
    case 0x78: // x
      return skipLong(buf, p, end, 'long string');
    case 0x41: // A
      return skipArray(buf, p, end, depth + 1);
    case 0x46: // F
      return skipTable(buf, p, end, depth + 1, 'nested table');
    default:
      fault = `unknown field type 0x${type.toString(16)} in a table`;
      return -1;
  }
}

/** Where the field value (type letter first) at buf[p] ends, in a table already checked by propertiesError. */
export function fieldValueEnd(buf: Buffer, p: number, end: number): number {
  return skipValue(buf, p, end, 1);
}
