/**
 * Dead-lettering, the shard's half: a message that leaves its queue rejected
 * (reject or nack with requeue=false), expired, or dropped by a length limit
 * gets RabbitMQ 3.10's death headers and goes back to the acceptor in a
 * DEAD_LETTER record, addressed to the queue's dead-letter exchange with its
 * dead-letter routing key (or its own); the acceptor routes it like a publish.
 *
 * Headers, as RabbitMQ 3.10 writes them: `x-death`, an array of tables (count,
 * reason, queue, time, exchange, routing-keys: its routing key and CC keys,
 * original-expiration), one per (queue, reason), the latest first, its count
 * raised when that pair occurs again; `x-first-death-reason/queue/exchange`,
 * set once. The expiration property is removed (it is kept in x-death as
 * original-expiration), and so is CC when a dead-letter routing key is set.
 * Rare, so it decodes and re-encodes the properties.
 */
import { decodeBasicProperties } from '../protocol/methods.generated.js';
import { rewriteBlock } from './block-rewrite.js';
import type { FieldTable, FieldValue } from '../protocol/field-types.js';
import type { QueueConfig } from '../vhost/queue-arguments.js';
import { BlockView } from './records.js';

export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

const view = new BlockView();

/**
 * The block a dead message travels in: exchange = the dead-letter exchange,
 * routing key = the dead-letter routing key or the message's own, the death
 * headers added. `config.deadLetterExchange` must be set. Null when a name
 * is too long for a shortstr (no exchange can have it: it would route nowhere).
 */
export function deadLetterBlock(block: Buffer, queue: string, config: QueueConfig, reason: DeathReason, now: number): Buffer | null {
  const v = view.read(block, 0);
  const exchange = block.toString('utf8', 1, v.routingKeyAt);
  const routingKey = block.toString('utf8', v.routingKeyAt + 1, v.routingKeyAt + 1 + block[v.routingKeyAt]);
  // (a block built without properties, as some shard tests do, has no flags word)
  const props = v.propertiesEnd - v.propertiesAt < 2 ? {} : decodeBasicProperties(block, v.propertiesAt, v.propertiesEnd);
  const headers: FieldTable = props.headers ?? {};
  const deaths = Array.isArray(headers['x-death']) ? (headers['x-death'] as FieldValue[]) : [];
  const time = new Date(now);
  const same = deaths.findIndex((d) => isTable(d) && (d as FieldTable).queue === queue && (d as FieldTable).reason === reason);
  if (same >= 0) {
    // RabbitMQ rewrites the entry it counts again with its keys sorted, and moves it first.
    const old = deaths[same] as FieldTable;
    deaths.splice(same, 1);
    // a count a client wrote may be anything: a non-count starts again at 1
    const count = Number(old.count);
    const updated: FieldTable = { ...old, count: BigInt(Number.isSafeInteger(count) && count >= 0 ? count + 1 : 1), time };
    deaths.unshift(Object.fromEntries(Object.keys(updated).sort().map((k) => [k, updated[k]])));
  } else {
    // The keys it was published with: its routing key and its CC keys (BCC ones were removed at publish).
    const keys: FieldValue[] = [routingKey];
    if (Array.isArray(headers.CC)) for (const key of headers.CC) if (typeof key === 'string') keys.push(key);
    const death: FieldTable = { count: 1n, reason, queue, time, exchange, 'routing-keys': keys };
    if (props.expiration !== undefined) death['original-expiration'] = props.expiration;
    deaths.unshift(death);
  }
  // Timestamps decode as numbers: give the older entries' times their type back.
  for (const d of deaths) {
    if (!isTable(d)) continue;
    const t = (d as FieldTable).time;
    if (typeof t === 'number') (d as FieldTable).time = new Date(t * 1000);
  }
  headers['x-death'] = deaths;
  if (headers['x-first-death-reason'] === undefined) {
    headers['x-first-death-exchange'] = exchange;
    headers['x-first-death-queue'] = queue;
    headers['x-first-death-reason'] = reason;
  }
  // With a dead-letter routing key it goes by that key alone: RabbitMQ drops its CC keys too.
  if (config.deadLetterRoutingKey !== undefined) delete headers.CC;
  props.headers = headers;
  props.expiration = undefined;
  const dlx = Buffer.from(config.deadLetterExchange!, 'utf8');
  const key = config.deadLetterRoutingKey === undefined ? null : Buffer.from(config.deadLetterRoutingKey, 'utf8');
  // Longer than a shortstr: no such exchange, no such key; RabbitMQ would route it nowhere.
  if (dlx.length > 255 || (key !== null && key.length > 255)) return null;
  return rewriteBlock(v, props, dlx, key ?? undefined);
}

function isTable(v: FieldValue): v is FieldTable & Record<string, FieldValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date);
}
