/**
 * Changing a stored message's headers without decoding them: the rare paths
 * that do (dead-lettering, a quorum queue's x-delivery-count) hold the table
 * as its entries' bytes, change the entries they must and splice the table
 * back into the property list. Everything else goes out as it came: a byte
 * stays a byte, a timestamp a timestamp, a string that is not UTF-8 its
 * bytes, as RabbitMQ keeps them (it holds a table as typed terms).
 *
 * RabbitMQ sorts a table by key whenever it sets an entry
 * (rabbit_misc:set_table_value), so setEntry does too.
 */
import { OutputBuffer } from './output-buffer.js';
import { Reader } from './field-table.js';
import { EXPIRATION_FLAG, HEADERS_FLAG, fieldValueEnd, propertyAt, propertyOffset } from './properties-validator.js';
import { readU32BE } from './uint32.js';
import type { FieldValue } from './field-types.js';

export interface TableEntry {
  /** the key's bytes */
  readonly key: Buffer;
  /** the value: its type letter, then its bytes */
  readonly value: Buffer;
}

/** The type letter of an array value. */
export const ARRAY_TYPE = 0x41; // A
const TABLE = 0x46; // F
const LONGSTR = 0x53; // S
const NO_PROPERTIES = Buffer.from([0, 0]);

/** The entries of the table whose u32 size is at buf[at], in a property list that passed propertiesError. */
export function tableEntries(buf: Buffer, at: number): TableEntry[] {
  const end = at + 4 + readU32BE(buf, at);
  const entries: TableEntry[] = [];
  for (let p = at + 4; p < end; ) {
    const valueAt = p + 1 + buf[p];
    const valueEnd = fieldValueEnd(buf, valueAt, end);
    entries.push({ key: buf.subarray(p + 1, valueAt), value: buf.subarray(valueAt, valueEnd) });
    p = valueEnd;
  }
  return entries;
}

/** The items of an array value ('A'), each with its type letter. */
export function arrayItems(value: Buffer): Buffer[] {
  const items: Buffer[] = [];
  for (let p = 5; p < value.length; ) {
    const end = fieldValueEnd(value, p, value.length);
    items.push(value.subarray(p, end));
    p = end;
  }
  return items;
}

/** The entries of a table value ('F'), or null for a value of another type. */
export function tableValueEntries(value: Buffer): TableEntry[] | null {
  return value[0] === TABLE ? tableEntries(value, 1) : null;
}

/** An entry named `key` (UTF-8) with an encoded value. */
export function tableEntry(key: string, value: Buffer): TableEntry {
  return { key: utf8Bytes(key), value };
}

// The editors name the same few keys, queues and exchanges for message after
// message: their bytes are made once, and shared (never written to).
const utf8 = new Map<string, Buffer>();
const encodedStrings = new Map<string, Buffer>();

function remembered(cache: Map<string, Buffer>, text: string, make: (text: string) => Buffer): Buffer {
  let bytes = cache.get(text);
  if (bytes === undefined) {
    if (cache.size >= 1024) cache.clear();
    cache.set(text, (bytes = make(text)));
  }
  return bytes;
}

/** A key's or a name's UTF-8 bytes, shared: never write to them. */
export function utf8Bytes(text: string): Buffer {
  return remembered(utf8, text, (t) => Buffer.from(t, 'utf8'));
}

/** encodedValue of a string, shared: never write to it. */
export function encodedString(text: string): Buffer {
  return remembered(encodedStrings, text, encodedValue);
}

/** The value of the first entry named `key` (RabbitMQ's lookups take the first). */
export function entryValue(entries: readonly TableEntry[], key: string): Buffer | undefined {
  return entries[entryIndex(entries, key)]?.value;
}

/** Sets `key` where its first entry is, else at the end, and sorts the entries by key: RabbitMQ's set_table_value. */
export function setEntry(entries: TableEntry[], key: string, value: Buffer): void {
  const at = entryIndex(entries, key);
  const entry = tableEntry(key, value);
  if (at < 0) entries.push(entry);
  else entries[at] = entry;
  sortEntries(entries);
}

/** Removes the first entry named `key`, if any. */
export function deleteEntry(entries: TableEntry[], key: string): void {
  const at = entryIndex(entries, key);
  if (at >= 0) entries.splice(at, 1);
}

/** Sorts entries by their keys' bytes, ties kept in order (RabbitMQ's sort_field_table). */
export function sortEntries(entries: TableEntry[]): TableEntry[] {
  return entries.sort((a, b) => Buffer.compare(a.key, b.key));
}

/** Where the first entry named `key` is, or -1. */
export function entryIndex(entries: readonly TableEntry[], key: string): number {
  const bytes = utf8Bytes(key);
  return entries.findIndex((e) => e.key.equals(bytes));
}

const scratch = new OutputBuffer(256);

/** A value's bytes, type letter first, as OutputBuffer.fieldValue writes it (bigint: long, Date: timestamp). */
export function encodedValue(v: FieldValue): Buffer {
  scratch.take();
  scratch.fieldValue(v);
  return Buffer.from(scratch.take());
}

/** A table value ('F') of these entries. */
export function tableValue(entries: readonly TableEntry[]): Buffer {
  let size = 0;
  for (const e of entries) size += 1 + e.key.length + e.value.length;
  const value = sizedValue(TABLE, size);
  let p = 5;
  for (const e of entries) {
    value[p] = e.key.length;
    p += 1 + e.key.copy(value, p + 1);
    p += e.value.copy(value, p);
  }
  return value;
}

/** An array value ('A') of these items. */
export function arrayValue(items: readonly Buffer[]): Buffer {
  let size = 0;
  for (const item of items) size += item.length;
  const value = sizedValue(ARRAY_TYPE, size);
  let p = 5;
  for (const item of items) p += item.copy(value, p);
  return value;
}

/** A longstr value ('S') of these bytes as they are (a name, a shortstr property). */
export function longstrValue(bytes: Buffer): Buffer {
  const value = sizedValue(LONGSTR, bytes.length);
  bytes.copy(value, 5);
  return value;
}

/** A value of `type` whose u32 size says `size`, its content to be written after them. */
function sizedValue(type: number, size: number): Buffer {
  const value = Buffer.allocUnsafe(5 + size);
  value[0] = type;
  value.writeUInt32BE(size, 1);
  return value;
}

const reader = new Reader();

/** A value decoded (for reading a number or a name out of it). */
export function decodedValue(value: Buffer): FieldValue {
  return reader.reset(value, 0, value.length).fieldValue();
}

/** The headers table's entries of the property list at buf[start, end) (none when it has no headers). */
export function headerEntries(buf: Buffer, start: number, end: number): TableEntry[] {
  const at = end - start < 2 ? -1 : propertyAt(buf, start, HEADERS_FLAG);
  return at < 0 ? [] : tableEntries(buf, at);
}

/**
 * The property list at buf[start, end) with `headers` as its headers table,
 * and without its expiration when `dropExpiration`; every other property's
 * bytes as they were. (A block built without properties, as some shard tests
 * build them, has no flags word: it is read as one with none set.)
 */
export function withHeaders(buf: Buffer, start: number, end: number, headers: readonly TableEntry[], dropExpiration = false): Buffer {
  if (end - start < 2) [buf, start, end] = [NO_PROPERTIES, 0, 2];
  const flags = (buf[start] << 8) | buf[start + 1];
  const headersAt = propertyOffset(buf, start, HEADERS_FLAG);
  const afterHeaders = (flags & HEADERS_FLAG) === 0 ? headersAt : headersAt + 4 + readU32BE(buf, headersAt);
  const table = tableValue(headers).subarray(1);
  const expirationAt = propertyAt(buf, start, EXPIRATION_FLAG);
  const dropped = dropExpiration && expirationAt >= 0;
  const newFlags = (flags | HEADERS_FLAG) & (dropped ? ~EXPIRATION_FLAG : 0xffff);
  const parts = [Buffer.from([newFlags >>> 8, newFlags & 0xff]), buf.subarray(start + 2, headersAt), table];
  if (dropped) parts.push(buf.subarray(afterHeaders, expirationAt), buf.subarray(expirationAt + 1 + buf[expirationAt], end));
  else parts.push(buf.subarray(afterHeaders, end));
  return Buffer.concat(parts);
}

/** A property list of these headers alone. */
export function headersOnly(headers: readonly TableEntry[]): Buffer {
  return withHeaders(NO_PROPERTIES, 0, NO_PROPERTIES.length, headers);
}
