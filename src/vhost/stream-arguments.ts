/**
 * A stream queue's arguments as RabbitMQ 3.10.8 reads them: x-max-age at
 * declare, x-stream-offset at basic.consume. Where RabbitMQ's own parse
 * crashes on a value (an age without digits, an offset of a type it has no
 * case for), its channel dies with a bare 541 INTERNAL_ERROR connection
 * close; warren answers the same, so a client sees what it would there.
 */
import { ReplyCode, channelError, internalError } from '../protocol/errors.js';
import { wireTypeName } from '../protocol/field-table.js';
import type { FieldTable } from '../protocol/field-types.js';
import type { StreamOffset } from '../shard/stream-log.js';

const DAY_MS = 24 * 3600 * 1000;
/** rabbit_amqqueue:check_max_age's units, in ms */
const UNIT_MS = new Map([['Y', 365 * DAY_MS], ['M', 30 * DAY_MS], ['D', DAY_MS], ['h', 3600 * 1000], ['m', 60 * 1000], ['s', 1000]]);

/**
 * An age as RabbitMQ writes it ("7D", "1h"): digits then one of Y M D h m s.
 * Returns ms, or undefined for RabbitMQ's invalid_max_age (0, another unit);
 * no digits at all is RabbitMQ's crash.
 */
export function maxAgeMs(text: string): number | undefined {
  const digits = /^[0-9]*/.exec(text)![0];
  if (digits === '') throw internalError();
  const value = Number(digits);
  const unit = UNIT_MS.get(text.slice(digits.length));
  return value === 0 || unit === undefined ? undefined : value * unit;
}

/**
 * A basic.consume's x-stream-offset (absent: next): first, last, next, an
 * offset (any integer type), a timestamp (seconds) or an age back from now.
 */
export function streamOffset(args: FieldTable, where: string, now = Date.now()): StreamOffset {
  const value = args['x-stream-offset'];
  if (value === undefined) return 'next';
  const type = wireTypeName(args, 'x-stream-offset');
  if (type === 'timestamp') return { timestamp: Number(value) * 1000 };
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value) && type !== 'double' && type !== 'float')) {
    return { offset: Number(value) };
  }
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) throw internalError();
  const text = value.toString();
  if (text === 'first' || text === 'last' || text === 'next') return text;
  const age = maxAgeMs(text);
  if (age === undefined) {
    throw channelError(ReplyCode.PRECONDITION_FAILED, `invalid arg 'x-stream-offset' for ${where}: {invalid_stream_offset_arg,{longstr,<<"${text}">>}}`);
  }
  return { timestamp: now - age };
}
