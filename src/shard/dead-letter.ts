/**
 * Dead-lettering, the shard's half: a message that leaves its queue rejected
 * (reject or nack with requeue=false), expired, or dropped by a length limit
 * gets RabbitMQ 3.10's death headers and goes back to the acceptor in a
 * DEAD_LETTER record, addressed to the queue's dead-letter exchange with its
 * dead-letter routing key (or its own); the acceptor routes it like a publish.
 *
 * Headers, as RabbitMQ 3.10.8 writes them (rabbit_dead_letter), byte for byte:
 * `x-death`, an array of tables (count, reason, queue, time, exchange,
 * routing-keys: its routing key and CC keys, original-expiration), one per
 * (queue, reason), the latest first. The first death also sets
 * `x-first-death-reason/queue/exchange`. A later one takes the entry of its
 * (queue, reason) out, raises its count and puts it first with its keys sorted
 * (its time and keys stay those of its first death), or puts a new entry,
 * sorted, first; the others follow grouped by (queue, reason) in the reverse
 * of their order, as RabbitMQ's grouping leaves them. An x-death that is not
 * an array is replaced. The expiration property is removed (x-death keeps it
 * as original-expiration), and so is CC when a dead-letter routing key is
 * set. Every other header keeps its bytes (header-edit.ts); the table is
 * sorted by key, as RabbitMQ's header updates sort it.
 */
import {
  arrayItems,
  arrayValue,
  deleteEntry,
  decodedValue,
  encodedString,
  encodedValue,
  entryValue,
  headerEntries,
  entryIndex,
  longstrValue,
  setEntry,
  sortEntries,
  tableEntry,
  tableValue,
  tableValueEntries,
  utf8Bytes,
  withHeaders,
  ARRAY_TYPE,
  type TableEntry,
} from '../protocol/header-edit.js';
import { EXPIRATION_FLAG, propertyAt } from '../protocol/properties-validator.js';
import { rewriteBlock } from './block-rewrite.js';
import type { QueueConfig } from '../vhost/queue-arguments.js';
import { BlockView } from './records.js';

export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

const view = new BlockView();
const STRING = 0x53; // S
const BYTES = 0x78; // x
/** The type letters of the values RabbitMQ can count on from (integers and timestamps). */
const COUNTABLE = new Set('bBsuIilT'.split('').map((c) => c.charCodeAt(0)));

/**
 * The block a dead message travels in: exchange = the dead-letter exchange,
 * routing key = the dead-letter routing key or the message's own, the death
 * headers added. `config.deadLetterExchange` must be set. Null when a name
 * is too long for a shortstr (no exchange can have it: it would route nowhere).
 */
export function deadLetterBlock(block: Buffer, queue: string, config: QueueConfig, reason: DeathReason, now: number): Buffer | null {
  const dlx = utf8Bytes(config.deadLetterExchange!);
  const key = config.deadLetterRoutingKey === undefined ? undefined : utf8Bytes(config.deadLetterRoutingKey);
  // Longer than a shortstr: no such exchange, no such key; RabbitMQ would route it nowhere.
  if (dlx.length > 255 || (key !== undefined && key.length > 255)) return null;
  const v = view.read(block, 0);
  const { propertiesAt: start, propertiesEnd: end } = v;
  const headers = headerEntries(block, start, end);
  const exchange = longstrValue(block.subarray(1, v.routingKeyAt));
  const queueName = encodedString(queue);
  const reasonName = encodedString(reason);
  const deaths = entryValue(headers, 'x-death');
  const death = newDeath(v, headers, reasonName, queueName, encodedTime(now), exchange);
  if (deaths === undefined) {
    setEntry(headers, 'x-first-death-reason', reasonName);
    setEntry(headers, 'x-first-death-queue', queueName);
    setEntry(headers, 'x-first-death-exchange', exchange);
    setEntry(headers, 'x-death', arrayValue([tableValue(death)]));
  } else if (deaths[0] !== ARRAY_TYPE) {
    setEntry(headers, 'x-death', arrayValue([tableValue(death)]));
  } else {
    const grouped = groupByQueueAndReason(arrayItems(deaths));
    const event = eventOf(queueName, reasonName);
    const same = grouped.findIndex((item) => eventOfItem(item) === event);
    const first = same < 0 ? death : counted(tableValueEntries(grouped.splice(same, 1)[0])!);
    setEntry(headers, 'x-death', arrayValue([tableValue(sortEntries(first)), ...grouped]));
  }
  // With a dead-letter routing key it goes by that key alone: RabbitMQ drops its CC keys too.
  if (key !== undefined) deleteEntry(headers, 'CC');
  return rewriteBlock(v, withHeaders(block, start, end, headers, true), dlx, key);
}

// A queue dead-letters many messages in the same second: its time is encoded once (shared, never written to).
let timeSecond = -1;
let timeValue: Buffer = Buffer.alloc(0);

/** A timestamp value of `now` (ms since the epoch), which counts whole seconds. */
function encodedTime(now: number): Buffer {
  const second = Math.floor(now / 1000);
  if (second !== timeSecond) {
    timeSecond = second;
    timeValue = encodedValue(new Date(now));
  }
  return timeValue;
}

/** A new x-death entry, in RabbitMQ's order: count, reason, queue, time, exchange, routing-keys, original-expiration. */
function newDeath(v: BlockView, headers: TableEntry[], reason: Buffer, queue: Buffer, time: Buffer, exchange: Buffer): TableEntry[] {
  const block = v.buf;
  // The keys it was published with: its routing key and its CC keys (BCC ones were removed at publish).
  const keys = [longstrValue(block.subarray(v.routingKeyAt + 1, v.routingKeyAt + 1 + block[v.routingKeyAt]))];
  const cc = entryValue(headers, 'CC');
  if (cc?.[0] === ARRAY_TYPE) for (const item of arrayItems(cc)) if (item[0] === STRING) keys.push(item);
  const entries = [
    tableEntry('count', encodedValue(1n)),
    tableEntry('reason', reason),
    tableEntry('queue', queue),
    tableEntry('time', time),
    tableEntry('exchange', exchange),
    tableEntry('routing-keys', arrayValue(keys)),
  ];
  const at = v.propertiesEnd - v.propertiesAt < 2 ? -1 : propertyAt(block, v.propertiesAt, EXPIRATION_FLAG);
  if (at >= 0) entries.push(tableEntry('original-expiration', longstrValue(block.subarray(at + 1, at + 1 + block[at]))));
  return entries;
}

/**
 * The entry counted once more: its count plus one, as a long (wrapping past
 * the largest, as RabbitMQ's encoder keeps the low 64 bits), or a count of 1
 * first when it has none (1 too for one that is no integer).
 */
function counted(entries: TableEntry[]): TableEntry[] {
  const at = entryIndex(entries, 'count');
  if (at < 0) return [tableEntry('count', encodedValue(1n)), ...entries];
  const old = entries[at].value;
  const count = COUNTABLE.has(old[0]) ? BigInt.asIntN(64, BigInt(decodedValue(old) as number | bigint) + 1n) : 1n;
  entries[at] = tableEntry('count', encodedValue(count));
  return entries;
}

/**
 * RabbitMQ's grouping of an x-death array of two or more items by (queue,
 * reason): the first table of each, given a count of how many there were
 * when it has none, in the reverse of their order. (RabbitMQ fails on an
 * item that is no table; warren keeps it, in its place in that order.)
 */
function groupByQueueAndReason(items: Buffer[]): Buffer[] {
  if (items.length < 2) return items;
  const events = items.map(eventOfItem);
  const grouped: Buffer[] = [];
  items.forEach((item, i) => {
    const event = events[i];
    if (event !== null && events.indexOf(event) < i) return;
    const entries = tableValueEntries(item);
    const n = events.filter((e) => e === event).length;
    const hasCount = entries === null || entryValue(entries, 'count') !== undefined;
    grouped.unshift(hasCount ? item : tableValue([tableEntry('count', encodedValue(BigInt(n))), ...entries]));
  });
  return grouped;
}

/** An x-death item's (queue, reason), null for an item that is no table. */
function eventOfItem(item: Buffer): string | null {
  const entries = tableValueEntries(item);
  return entries === null ? null : eventOf(entryValue(entries, 'queue'), entryValue(entries, 'reason'));
}

/** (queue, reason) as RabbitMQ compares them: by value, a longstr equal to a byte array of the same bytes. */
function eventOf(queue: Buffer | undefined, reason: Buffer | undefined): string {
  const text = (v: Buffer | undefined) => (v === undefined ? '' : (v[0] === BYTES ? 'S' : v.toString('latin1', 0, 1)) + v.toString('latin1', 1));
  return JSON.stringify([text(queue), text(reason)]);
}
