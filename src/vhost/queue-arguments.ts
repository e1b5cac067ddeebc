/**
 * queue.declare's x-arguments, checked as RabbitMQ 3.10 checks them and turned
 * into the typed config a shard's queue runs with. The reply texts are
 * RabbitMQ's (checked against 3.10.8): the values in a fixed order, then the
 * arguments the queue type does not take, then the properties it needs.
 *
 * A type named in an error, and whether a value counts as an integer, is the
 * type the value came as (wireTypeName): 5.0 sent as a double is not an
 * integer, as in RabbitMQ. Arguments that came as JSON (the HTTP API,
 * definitions) are named by their values, as amqplib would encode them.
 */
import { ReplyCode, channelError } from '../protocol/errors.js';
import { wireTypeName } from '../protocol/field-table.js';
import type { FieldTable, FieldValue } from '../protocol/field-types.js';
import { maxAgeMs } from './stream-arguments.js';

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';
export type QueueType = 'classic' | 'quorum' | 'stream';

/** What a shard's queue needs to know of its arguments; absent = not set. */
export interface QueueConfig {
  type: QueueType;
  /** x-message-ttl, ms */
  messageTtl?: number;
  /** x-expires, ms: deleted after that long unused */
  expires?: number;
  maxLength?: number;
  /** body bytes of the ready messages */
  maxLengthBytes?: number;
  overflow: Overflow;
  deadLetterExchange?: string;
  deadLetterRoutingKey?: string;
  maxPriority?: number;
  singleActiveConsumer: boolean;
  /** quorum only */
  deliveryLimit?: number;
  /** stream only: x-max-age, ms */
  maxAge?: number;
  /** stream only: x-stream-max-segment-size-bytes */
  segmentBytes?: number;
}

export interface QueueProperties {
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
}

/** RabbitMQ's highest x-max-priority. */
const MAX_PRIORITY = 255;

/**
 * The arguments each queue type takes, in the order a redeclare compares them
 * (rabbit_*_queue:capabilities() in 3.10, checked beside 3.10.8); others known
 * to any type are refused.
 */
const TYPE_ARGS: Record<QueueType, readonly string[]> = {
  classic: [
    'x-expires', 'x-message-ttl', 'x-dead-letter-exchange', 'x-dead-letter-routing-key', 'x-max-length',
    'x-max-length-bytes', 'x-max-priority', 'x-overflow', 'x-queue-mode', 'x-queue-version',
    'x-single-active-consumer', 'x-queue-type', 'x-queue-master-locator',
  ],
  quorum: [
    'x-dead-letter-exchange', 'x-dead-letter-routing-key', 'x-dead-letter-strategy', 'x-expires', 'x-max-length',
    'x-max-length-bytes', 'x-max-in-memory-length', 'x-max-in-memory-bytes', 'x-overflow', 'x-single-active-consumer',
    'x-queue-type', 'x-quorum-initial-group-size', 'x-delivery-limit', 'x-message-ttl', 'x-queue-leader-locator',
  ],
  stream: [
    'x-max-length-bytes', 'x-queue-type', 'x-max-age', 'x-stream-max-segment-size-bytes', 'x-initial-cluster-size',
    'x-queue-leader-locator',
  ],
};
const KNOWN_ARGS = new Set(Object.values(TYPE_ARGS).flat());

const ERLANG_TYPE_MODULE: Record<QueueType, string> = {
  classic: 'rabbit_classic_queue',
  quorum: 'rabbit_quorum_queue',
  stream: 'rabbit_stream_queue',
};

/** A value check, given the value, all arguments and RabbitMQ's name of the value's type: undefined when fine, else the Erlang term RabbitMQ prints. */
type Check = (value: FieldValue, args: FieldTable, type: string) => string | undefined;

/** RabbitMQ's integer types (rabbit_amqqueue's ?INTEGER_ARG_TYPES). */
const INTEGER_TYPES = new Set(['byte', 'short', 'signedint', 'long', 'unsignedbyte', 'unsignedshort', 'unsignedint']);
const intArg: Check = (_v, _args, type) => (INTEGER_TYPES.has(type) ? undefined : `"expected integer, got ${type}"`);
const nonNegInt: Check = (v, args, type) => intArg(v, args, type) ?? (num(v) < 0 ? `{value_negative,${v}}` : undefined);
/** RabbitMQ's ?MAX_EXPIRY_TIMER: ten years in ms (found by bisecting 3.10.8's answers). */
const MAX_EXPIRY_MS = 315_360_000_000;
const expiry: Check = (v, args, type) => nonNegInt(v, args, type) ?? (num(v) > MAX_EXPIRY_MS ? `{value_too_large,${v}}` : undefined);
const longstr: Check = (v, _args, type) => (isString(v) ? undefined : `{unacceptable_type,${type}}`);
const bool: Check = (v, _args, type) => (typeof v === 'boolean' ? undefined : `{unacceptable_type,${type}}`);
const oneOf = (values: readonly string[], error: (v: string) => string): Check => (v, args, type) =>
  longstr(v, args, type) ?? (values.includes(str(v)) ? undefined : error(str(v)));

const queueType = oneOf(['classic', 'quorum', 'stream'], (t) => `"unsupported queue type '${t}'"`);

/**
 * RabbitMQ 3.10.8's checks, in the order it makes them (found by declaring
 * two bad arguments at a time beside it): the queue type first, these, then
 * whether the type takes each argument (TYPE_ARGS), then LATE_CHECKS. The
 * first failure is reported.
 */
const CHECKS: [string, Check][] = [
  ['x-expires', (v, args, type) => intArg(v, args, type) ?? (num(v) === 0 ? `{value_zero,0}` : expiry(v, args, type))],
  ['x-message-ttl', expiry],
  ['x-dead-letter-exchange', longstr],
  ['x-dead-letter-routing-key', (v, args, type) => longstr(v, args, type) ?? (args['x-dead-letter-exchange'] === undefined ? 'routing_key_but_no_dlx_defined' : undefined)],
  ['x-max-length', nonNegInt],
  ['x-max-length-bytes', nonNegInt],
  ['x-max-in-memory-length', nonNegInt],
  ['x-max-in-memory-bytes', nonNegInt],
  ['x-max-priority', (v, args, type) => nonNegInt(v, args, type) ?? (num(v) > MAX_PRIORITY ? `{max_value_exceeded,${v}}` : undefined)],
  ['x-overflow', oneOf(['drop-head', 'reject-publish', 'reject-publish-dlx'], () => 'invalid_overflow')],
];

/** The checks made after TYPE_ARGS's: an argument the type does not take is refused before its value is looked at. */
const LATE_CHECKS: [string, Check][] = [
  ['x-queue-mode', oneOf(['default', 'lazy'], (m) => `"unsupported queue mode '${m}'"`)],
  ['x-queue-version', (v, args, type) => nonNegInt(v, args, type) ?? (num(v) === 1 || num(v) === 2 ? undefined : `"unsupported queue version '${v}'"`)],
  ['x-single-active-consumer', bool],
  ['x-quorum-initial-group-size', (v, args, type) => nonNegInt(v, args, type) ?? (num(v) === 0 ? '{value_zero,0}' : undefined)],
  ['x-queue-leader-locator', longstr],
];

/**
 * A stream's own, checked after CHECKS on a stream only (found as CHECKS were):
 * on another type, the type refuses them before their values are looked at.
 */
const STREAM_CHECKS: [string, Check][] = [
  ['x-max-age', (v, args, type) => longstr(v, args, type) ?? (maxAgeMs(str(v)) === undefined ? 'invalid_max_age' : undefined)],
  ['x-stream-max-segment-size-bytes', nonNegInt],
  ['x-initial-cluster-size', nonNegInt],
];

/** basic.consume's checks, in RabbitMQ 3.10's order (rabbit_amqqueue:consume_args()). */
const CONSUME_CHECKS: [string, Check][] = [
  ['x-priority', intArg],
  ['x-cancel-on-ha-failover', bool],
];

/**
 * Checks a basic.consume's arguments as RabbitMQ 3.10.8 does (then
 * x-stream-offset, a stream's alone, is refused by the queue's type); returns
 * the consumer's x-priority (0 when none) or throws RabbitMQ's 406.
 */
export function consumerPriority(vhost: string, queue: string, queueArgs: FieldTable, args: FieldTable): number {
  const where = `queue '${queue}' in vhost '${vhost}'`;
  checkAll(CONSUME_CHECKS, args, where);
  const type = typeOf(queueArgs);
  if (args['x-priority'] !== undefined && type === 'stream') {
    throw channelError(ReplyCode.PRECONDITION_FAILED, `invalid arg 'x-priority' for ${where} of queue type ${ERLANG_TYPE_MODULE[type]}`);
  }
  if (args['x-stream-offset'] !== undefined && type !== 'stream') {
    throw channelError(ReplyCode.PRECONDITION_FAILED, `invalid arg 'x-stream-offset' for ${where} of queue type ${ERLANG_TYPE_MODULE[type]}`);
  }
  return args['x-priority'] === undefined ? 0 : num(args['x-priority']);
}

/** Runs `checks` in order over `args`: the first failure is RabbitMQ's 406. */
function checkAll(checks: [string, Check][], args: FieldTable, where: string): void {
  for (const [key, check] of checks) {
    const value = args[key];
    if (value === undefined) continue;
    const error = check(value, args, wireTypeName(args, key));
    if (error !== undefined) throw channelError(ReplyCode.PRECONDITION_FAILED, `invalid arg '${key}' for ${where}: ${error}`);
  }
}

/** The arguments a redeclare of a queue declared with `args` must repeat, in the order RabbitMQ compares them. */
export function comparedArguments(args: FieldTable): readonly string[] {
  return TYPE_ARGS[typeOf(args)];
}

/** The type of a queue with these (checked) arguments. */
export const typeOf = (args: FieldTable): QueueType => (args['x-queue-type'] === undefined ? 'classic' : (str(args['x-queue-type']) as QueueType));

/**
 * RabbitMQ names only classic queues: asked to name a quorum or stream queue,
 * it refuses before it checks anything else (rabbit_channel, queue.declare).
 */
export function checkServerNamedType(args: FieldTable): void {
  const type = args['x-queue-type'];
  if (type === undefined || !isString(type)) return;
  const name = str(type);
  if (name === 'quorum' || name === 'stream') {
    throw channelError(ReplyCode.PRECONDITION_FAILED, `Cannot declare a server-named queue for type ${ERLANG_TYPE_MODULE[name]}`);
  }
}

/**
 * Checks a queue.declare's arguments and properties; returns the queue's
 * config or throws RabbitMQ's 406 (a channel error).
 */
export function parseQueueArguments(vhost: string, queue: string, args: FieldTable, props: QueueProperties): QueueConfig {
  const where = `queue '${queue}' in vhost '${vhost}'`;
  const dlx = args['x-dead-letter-exchange'];
  // rabbit_channel checks this one before the others, in its own words.
  if (dlx !== undefined && !isString(dlx)) {
    throw channelError(ReplyCode.PRECONDITION_FAILED, `invalid type '${wireTypeName(args, 'x-dead-letter-exchange')}' for arg 'x-dead-letter-exchange' in ${where}`);
  }
  checkAll([['x-queue-type', queueType]], args, where);
  checkAll(CHECKS, args, where);
  const type = typeOf(args);
  if (type === 'stream') checkAll(STREAM_CHECKS, args, where);
  for (const key of Object.keys(args)) {
    if (KNOWN_ARGS.has(key) && !TYPE_ARGS[type].includes(key)) {
      throw channelError(ReplyCode.PRECONDITION_FAILED, `invalid arg '${key}' for ${where} of queue type ${ERLANG_TYPE_MODULE[type]}`);
    }
  }
  checkAll(LATE_CHECKS, args, where);
  if (type !== 'classic') {
    const invalid = props.autoDelete ? 'auto-delete' : props.exclusive ? 'exclusive-owner' : !props.durable ? 'non-durable' : undefined;
    if (invalid !== undefined) throw channelError(ReplyCode.PRECONDITION_FAILED, `invalid property '${invalid}' for ${where}`);
  }
  const config: QueueConfig = {
    type,
    overflow: args['x-overflow'] === undefined ? 'drop-head' : (str(args['x-overflow']) as Overflow),
    singleActiveConsumer: args['x-single-active-consumer'] === true,
  };
  const int = (key: string) => (args[key] === undefined ? undefined : num(args[key]));
  setIf(config, 'messageTtl', int('x-message-ttl'));
  setIf(config, 'expires', int('x-expires'));
  setIf(config, 'maxLength', int('x-max-length'));
  setIf(config, 'maxLengthBytes', int('x-max-length-bytes'));
  setIf(config, 'maxPriority', int('x-max-priority'));
  setIf(config, 'segmentBytes', int('x-stream-max-segment-size-bytes'));
  if (args['x-max-age'] !== undefined) config.maxAge = maxAgeMs(str(args['x-max-age']));
  if (dlx !== undefined) config.deadLetterExchange = str(dlx);
  if (args['x-dead-letter-routing-key'] !== undefined) config.deadLetterRoutingKey = str(args['x-dead-letter-routing-key']);
  // RabbitMQ 3.10 does not check a quorum queue's x-delivery-limit; warren uses it only when it is a count.
  const limit = args['x-delivery-limit'];
  if (type === 'quorum' && isInteger(limit) && num(limit) >= 0) config.deliveryLimit = num(limit);
  return config;
}

function setIf<K extends keyof QueueConfig>(config: QueueConfig, key: K, value: QueueConfig[K] | undefined): void {
  if (value !== undefined) config[key] = value;
}

function isInteger(v: FieldValue | undefined): boolean {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
}

const isString = (v: FieldValue): boolean => typeof v === 'string' || Buffer.isBuffer(v);
const str = (v: FieldValue): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
/** Integers past 2^53 arrive as bigint; as a limit or a time they may as well be infinite. */
const num = (v: FieldValue): number => Number(v);

