/**
 * Decoding of AMQP wire primitives and field tables.
 *
 * Type letters follow RabbitMQ's table of the 0-9-1 errata, which is what
 * every RabbitMQ client sends:
 *
 *   t boolean        -> boolean         b int8    -> number   B uint8  -> number
 *   s int16          -> number          u uint16  -> number   I int32  -> number
 *   i uint32         -> number          l int64   -> number (bigint when not a safe integer)
 *   f float32        -> number          d float64 -> number
 *   D decimal        -> { decimals, value }
 *   S long string    -> string (utf8)   x byte array -> Buffer (copied)
 *   A array          -> FieldValue[]    F nested table -> FieldTable
 *   V void           -> null            T timestamp (u64 seconds) -> number
 *
 * Encoding lives in OutputBuffer.table (output-buffer.ts).
 *
 * Errors: running past the end of the data (or leaving bytes over) is a
 * FRAME_ERROR, as RabbitMQ reports "cannot decode" for it; values that are
 * present but meaningless (unknown type letter, absurd nesting) are a
 * SYNTAX_ERROR. Both are connection errors.
 */
import { isUtf8 } from 'node:buffer';
import { AmqpError, ReplyCode } from './errors.js';
import { TYPE_NAMES, typeName, type FieldTable, type FieldValue } from './field-types.js';

const EMPTY = Buffer.alloc(0);
const TWO_32 = 0x1_0000_0000;
const LONG = 'l'.charCodeAt(0);

/**
 * The types the numbers (and timestamps) of each decoded table came as: a JS
 * number no longer tells a byte from a signedint, or 5 from 5.0, and RabbitMQ
 * names a value's wire type in its errors and wants an integer type where it
 * wants an integer. Made only for a table that has such entries.
 */
const NUMBER_TYPES = new WeakMap<FieldTable, Record<string, number>>();

/** RabbitMQ's name for the type `table[key]` came as, for a number or timestamp of a decoded table; else its value's (typeName). */
export function wireTypeName(table: FieldTable, key: string): string {
  const letter = NUMBER_TYPES.get(table)?.[key];
  return letter === undefined ? typeName(table[key]) : TYPE_NAMES[String.fromCharCode(letter)];
}

/**
 * A table that came as JSON (the management API, a definitions file): its
 * integers are named 'long' in errors, as RabbitMQ's API turns every JSON
 * integer into an int64 ("{unacceptable_type,long}").
 */
export function fromJson(table: FieldTable): FieldTable {
  let numbers: Record<string, number> | undefined;
  for (const key of Object.keys(table)) if (Number.isInteger(table[key])) (numbers ??= Object.create(null) as Record<string, number>)[key] = LONG;
  if (numbers !== undefined) NUMBER_TYPES.set(table, numbers);
  return table;
}

/** Deeper nesting than this is treated as an attack rather than headers; it keeps recursion off the stack limit. */
export const MAX_TABLE_DEPTH = 100;

function truncated(need: number, pos: number, end: number): AmqpError {
  return new AmqpError(
    ReplyCode.FRAME_ERROR,
    `truncated data: need ${need} byte(s) at offset ${pos}, only ${end - pos} left`,
    0,
    0,
    true,
  );
}

/**
 * A cursor over buf[pos, end). Every read checks the bound and throws
 * AmqpError(FRAME_ERROR) instead of reading past it. Reuse one instance by
 * assigning buf/pos/end (see reset) rather than allocating per frame.
 */
export class Reader {
  buf: Buffer;
  pos: number;
  end: number;
  /** Current nesting of tables/arrays, to bound recursion. */
  private depth = 0;

  constructor(buf: Buffer = EMPTY, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  reset(buf: Buffer, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.depth = 0;
    return this;
  }

  /** Throws unless n more bytes are available. */
  need(n: number): void {
    if (this.end - this.pos < n) throw truncated(n, this.pos, this.end);
  }

  /** Throws when bytes are left over: the spec's encodings are exact. */
  done(): void {
    if (this.pos !== this.end) {
      throw new AmqpError(ReplyCode.FRAME_ERROR, `${this.end - this.pos} unexpected trailing byte(s)`, 0, 0, true);
    }
  }

  u8(): number {
    if (this.pos >= this.end) throw truncated(1, this.pos, this.end);
    return this.buf[this.pos++];
  }

  i8(): number {
    const v = this.u8();
    return v > 127 ? v - 256 : v;
  }

  u16(): number {
    const p = this.pos;
    if (this.end - p < 2) throw truncated(2, p, this.end);
    const b = this.buf;
    this.pos = p + 2;
    return (b[p] << 8) | b[p + 1];
  }

  i16(): number {
    const v = this.u16();
    return v > 0x7fff ? v - 0x10000 : v;
  }

  u32(): number {
    const p = this.pos;
    if (this.end - p < 4) throw truncated(4, p, this.end);
    const b = this.buf;
    this.pos = p + 4;
    // multiply the top byte so the result never goes negative
    return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  i32(): number {
    const p = this.pos;
    if (this.end - p < 4) throw truncated(4, p, this.end);
    const b = this.buf;
    this.pos = p + 4;
    return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
  }

  /** Unsigned 64-bit as a number; exact up to 2^53, which covers delivery tags in practice. */
  u64(): number {
    const hi = this.u32();
    return hi * TWO_32 + this.u32();
  }

  /** Signed 64-bit: a number when it is a safe integer, else a bigint so no precision is lost. */
  i64(): number | bigint {
    const p = this.pos;
    this.need(8);
    const hi = this.i32();
    const v = hi * TWO_32 + this.u32();
    return Number.isSafeInteger(v) ? v : this.buf.readBigInt64BE(p);
  }

  f32(): number {
    this.need(4);
    const v = this.buf.readFloatBE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  shortstr(): string {
    const n = this.u8();
    const p = this.pos;
    if (this.end - p < n) throw truncated(n, p, this.end);
    this.pos = p + n;
    return n === 0 ? '' : this.buf.toString('utf8', p, p + n);
  }

  /**
   * A shortstr that must be well-formed UTF-8 (a method argument: a name, key
   * or tag). RabbitMQ closes the connection with FRAME_ERROR otherwise.
   */
  utf8Shortstr(): string {
    const n = this.u8();
    const p = this.pos;
    if (this.end - p < n) throw truncated(n, p, this.end);
    this.pos = p + n;
    if (n === 0) return '';
    const b = this.buf;
    let ascii = true;
    for (let i = p; i < p + n; i++) {
      if (b[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii && !isUtf8(b.subarray(p, p + n))) {
      throw new AmqpError(ReplyCode.FRAME_ERROR, 'Malformed UTF-8 in shortstr', 0, 0, true);
    }
    return b.toString('utf8', p, p + n);
  }

  /** Copies the bytes: callers keep method arguments beyond the life of the frame buffer. */
  longstr(): Buffer {
    const n = this.u32();
    const p = this.pos;
    if (this.end - p < n) throw truncated(n, p, this.end);
    this.pos = p + n;
    return n === 0 ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(p, p + n));
  }

  /** A long string read as utf8 text (field value 'S'). */
  longstrText(): string {
    const n = this.u32();
    const p = this.pos;
    if (this.end - p < n) throw truncated(n, p, this.end);
    this.pos = p + n;
    return this.buf.toString('utf8', p, p + n);
  }

  /** A table including its leading u32 byte size. */
  table(): FieldTable {
    const size = this.u32();
    this.need(size);
    const outerEnd = this.end;
    this.end = this.pos + size;
    const t = this.tableEntries();
    this.end = outerEnd;
    return t;
  }

  /** The entries of a table from pos to end (the size has already been read). */
  tableEntries(): FieldTable {
    if (++this.depth > MAX_TABLE_DEPTH) {
      throw new AmqpError(ReplyCode.SYNTAX_ERROR, `field tables nested deeper than ${MAX_TABLE_DEPTH}`, 0, 0, true);
    }
    const t: FieldTable = {};
    let numbers: Record<string, number> | undefined;
    while (this.pos < this.end) {
      const key = this.shortstr();
      const letter = this.buf[this.pos];
      const value = this.fieldValue();
      // a plain assignment of "__proto__" would replace the prototype instead of adding a key
      if (key === '__proto__') {
        Object.defineProperty(t, key, { value, enumerable: true, writable: true, configurable: true });
      } else {
        t[key] = value;
      }
      // the letter only: most tables are never asked for a type name
      if (typeof value === 'number' || typeof value === 'bigint') (numbers ??= Object.create(null) as Record<string, number>)[key] = letter;
    }
    if (numbers !== undefined) NUMBER_TYPES.set(t, numbers);
    this.depth--;
    return t;
  }

  /** An array ('A') including its leading u32 byte size. */
  array(): FieldValue[] {
    const size = this.u32();
    this.need(size);
    if (++this.depth > MAX_TABLE_DEPTH) {
      throw new AmqpError(ReplyCode.SYNTAX_ERROR, `field arrays nested deeper than ${MAX_TABLE_DEPTH}`, 0, 0, true);
    }
    const outerEnd = this.end;
    this.end = this.pos + size;
    const a: FieldValue[] = [];
    while (this.pos < this.end) a.push(this.fieldValue());
    this.end = outerEnd;
    this.depth--;
    return a;
  }

  /** One type letter and its value. */
  fieldValue(): FieldValue {
    const type = this.u8();
    switch (type) {
      case 0x74: // t
        return this.u8() !== 0;
      case 0x62: // b
        return this.i8();
      case 0x42: // B
        return this.u8();
      case 0x73: // s
        return this.i16();
      case 0x75: // u
        return this.u16();
      case 0x49: // I
        return this.i32();
      case 0x69: // i
        return this.u32();
      case 0x6c: // l
        return this.i64();
      case 0x66: // f
        return this.f32();
      case 0x64: // d
        return this.f64();
      case 0x44: {
        // D: scale octet, then an unsigned 32-bit value (as RabbitMQ reads it)
        const decimals = this.u8();
        return { decimals, value: this.u32() };
      }
      case 0x53: // S
        return this.longstrText();
      case 0x78: // x
        return this.longstr();
      case 0x41: // A
        return this.array();
      case 0x56: // V
        return null;
      case 0x54: // T
        return this.u64();
      case 0x46: // F
        return this.table();
      default:
        throw new AmqpError(
          ReplyCode.SYNTAX_ERROR,
          `unknown field table type '${String.fromCharCode(type)}' (0x${type.toString(16)})`,
          0,
          0,
          true,
        );
    }
  }
}

const TABLE_READER = new Reader();

/**
 * Decodes the entries of a field table that lie in buf[offset, end). The
 * caller has already read the table's u32 size and computed end from it.
 */
export function decodeTable(buf: Buffer, offset: number, end: number): FieldTable {
  if (end > buf.length) throw truncated(end - offset, offset, buf.length);
  const r = TABLE_READER.reset(buf, offset, end);
  try {
    return r.tableEntries();
  } finally {
    // don't keep the caller's buffer alive
    r.reset(EMPTY, 0, 0);
  }
}
