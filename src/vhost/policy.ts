/**
 * Policies (rabbitmqctl set_policy, /api/policies): a name, a regular
 * expression over queue and exchange names, what it applies to, a priority and
 * a definition of settings. Of the policies whose pattern matches a name, the
 * one with the highest priority applies (on a tie, the first by name: RabbitMQ
 * leaves ties to its table's order). Checked as RabbitMQ 3.10 checks them, with
 * its texts (compared against 3.10.8, but for the words of a regular
 * expression's error: warren's are JavaScript's).
 *
 * What a policy does: message-ttl, expires, max-length, max-length-bytes, a
 * quorum queue's delivery-limit and a stream's max-age and
 * stream-max-segment-size-bytes take the lower of the policy and the queue's
 * x-argument; overflow and the dead-letter settings apply where the queue has
 * no x-argument for them; alternate-exchange where the exchange has none. The
 * other settings RabbitMQ accepts (mirroring, queue modes and versions,
 * locators) are checked, kept and shown, and change nothing: warren has one
 * node and one classic queue implementation.
 *
 * Operator policies (rabbitmqctl set_operator_policy, /api/operator-policies)
 * are an administrator's caps beside them: only the limits (OPERATOR_SETTINGS)
 * and matched the same way; where both a policy and an operator policy set a
 * limit, the lower applies, as in RabbitMQ 3.10.
 */
import type { FieldTable } from '../protocol/field-types.js';
import type { QueueConfig, Overflow } from './queue-arguments.js';
import type { AppliedPolicy } from '../routing/topology.js';
import { userRegex } from '../auth/user-regex.js';
import { maxAgeMs } from './stream-arguments.js';

export type ApplyTo = 'all' | 'queues' | 'exchanges';
/** a user's policy, or an administrator's operator policy */
export type PolicyKind = 'policy' | 'operator';
type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type PolicyDefinition = Readonly<Record<string, Json>>;

export interface Policy {
  readonly name: string;
  readonly pattern: string;
  readonly applyTo: ApplyTo;
  readonly priority: number;
  readonly definition: PolicyDefinition;
  readonly regex: RegExp;
}

/** A refused policy: the text after RabbitMQ's "Validation failed". */
export class PolicyError extends Error {}

/** A policy's JSON, as /api/policies and the definitions file show it. */
export function policyJson(vhost: string, p: Policy) {
  return { vhost, name: p.name, pattern: p.pattern, 'apply-to': p.applyTo, definition: p.definition, priority: p.priority };
}

/** Checks a policy given as RabbitMQ's JSON (pattern, definition, priority, apply-to); throws PolicyError. */
export function parsePolicy(name: string, input: Record<string, unknown>, kind: PolicyKind = 'policy'): Policy {
  const { pattern, definition } = input;
  const priority = input.priority === undefined ? 0 : input.priority;
  const applyTo = input['apply-to'] === undefined ? 'all' : input['apply-to'];
  // RabbitMQ reports each failing check on a line, the definition's first.
  const errors: string[] = [];
  const check = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      errors.push(err.message);
    }
  };
  check(() => checkDefinition(definition, kind));
  if (applyTo !== 'all' && applyTo !== 'queues' && applyTo !== 'exchanges') {
    errors.push(`apply-to '${typeof applyTo === 'string' ? applyTo : term(applyTo)}' unrecognised; should be 'queues', 'exchanges' or 'all'`);
  }
  let regex: RegExp | undefined;
  if (typeof pattern !== 'string') errors.push(`pattern should be a binary but was ${term(pattern)}`);
  else {
    try {
      regex = userRegex(pattern);
    } catch (err: any) {
      errors.push(`pattern should be regular expression but is invalid: ${err.message}`);
    }
  }
  if (typeof priority !== 'number') errors.push(`priority should be a number, actually was ${term(priority)}`);
  if (errors.length > 0) throw new PolicyError(errors.join('\n'));
  return { name, pattern: pattern as string, applyTo: applyTo as ApplyTo, priority: priority as number, definition: sortedKeys(definition as PolicyDefinition), regex: regex! };
}

/** The policy that applies to a queue or exchange of this name, if any. */
export function matchPolicy(policies: Iterable<Policy>, kind: 'queue' | 'exchange', name: string): Policy | undefined {
  let best: Policy | undefined;
  for (const p of policies) {
    if (p.applyTo !== 'all' && p.applyTo !== `${kind}s`) continue;
    if (!p.regex.test(name)) continue;
    if (best === undefined || p.priority > best.priority || (p.priority === best.priority && p.name < best.name)) best = p;
  }
  return best;
}

/**
 * What a queue's policy and operator policy set together (the management
 * API's effective_policy_definition): both definitions, the lower value where
 * both set a limit (operator policies set nothing else).
 */
export function effectiveDefinition(policy: AppliedPolicy | undefined, operator: AppliedPolicy | undefined): PolicyDefinition | undefined {
  if (operator === undefined || policy === undefined) return (policy ?? operator)?.definition as PolicyDefinition | undefined;
  const merged: Record<string, Json> = { ...(policy.definition as PolicyDefinition) };
  for (const [key, value] of Object.entries(operator.definition as PolicyDefinition)) {
    const own = merged[key];
    merged[key] = typeof own === 'number' && typeof value === 'number' ? Math.min(own, value) : value;
  }
  return sortedKeys(merged);
}

/** RabbitMQ shows a definition's keys in order (an Erlang map's). */
function sortedKeys(d: PolicyDefinition): PolicyDefinition {
  return Object.fromEntries(Object.entries(d).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * A queue's config with its policies' effective definition applied (RabbitMQ
 * 3.10's res_min / res_arg per setting; a quorum queue's overflow and expires:
 * the policy's, as rabbit_quorum_queue's policyHasPrecedence). A quorum queue has
 * no reject-publish-dlx: RabbitMQ drops its head instead.
 */
export function effectiveQueueConfig(config: QueueConfig, args: FieldTable, d: PolicyDefinition | undefined): QueueConfig {
  const out = d === undefined ? config : withPolicy(config, args, d);
  return out.type === 'quorum' && out.overflow === 'reject-publish-dlx' ? { ...out, overflow: 'drop-head' } : out;
}

function withPolicy(config: QueueConfig, args: FieldTable, d: PolicyDefinition): QueueConfig {
  const quorum = config.type === 'quorum';
  const out: QueueConfig = { ...config };
  const lower = (field: 'messageTtl' | 'expires' | 'maxLength' | 'maxLengthBytes' | 'deliveryLimit' | 'segmentBytes', key: string) => {
    const value = d[key];
    if (typeof value === 'number') out[field] = config[field] === undefined ? value : Math.min(value, config[field]!);
  };
  lower('messageTtl', 'message-ttl');
  if (quorum && typeof d.expires === 'number') out.expires = d.expires;
  else lower('expires', 'expires');
  lower('maxLength', 'max-length');
  lower('maxLengthBytes', 'max-length-bytes');
  if (quorum) lower('deliveryLimit', 'delivery-limit');
  if (config.type === 'stream') {
    lower('segmentBytes', 'stream-max-segment-size-bytes');
    // (a policy's max-age passed its check: digits and a unit)
    const age = typeof d['max-age'] === 'string' ? maxAgeMs(d['max-age']) : undefined;
    if (age !== undefined) out.maxAge = config.maxAge === undefined ? age : Math.min(age, config.maxAge);
  }
  if ((quorum || args['x-overflow'] === undefined) && typeof d.overflow === 'string') out.overflow = d.overflow as Overflow;
  if (config.deadLetterExchange === undefined && typeof d['dead-letter-exchange'] === 'string') out.deadLetterExchange = d['dead-letter-exchange'];
  if (config.deadLetterRoutingKey === undefined && typeof d['dead-letter-routing-key'] === 'string') out.deadLetterRoutingKey = d['dead-letter-routing-key'];
  return out;
}

/** Whether two policies (or none) set the same: the same name and definition. */
export function sameSettings(a: AppliedPolicy | undefined, b: AppliedPolicy | undefined): boolean {
  if (a === b) return true;
  return a !== undefined && b !== undefined && a.name === b.name && JSON.stringify(a.definition) === JSON.stringify(b.definition);
}

/** An exchange's alternate exchange: its argument's, else its policy's. */
export function policyAlternate(policy: Policy | undefined): string | undefined {
  const name = policy?.definition['alternate-exchange'];
  return typeof name === 'string' ? name : undefined;
}

// --- the settings RabbitMQ 3.10 knows, and their checks ----------------------------

type Check = (value: Json) => boolean;
const isString: Check = (v) => typeof v === 'string';
const count = (min: number): Check => (v) => typeof v === 'number' && Number.isInteger(v) && v >= min;
const oneOf = (...values: (string | number)[]): Check => (v) => (typeof v === 'string' || typeof v === 'number') && values.includes(v);

/** [check, what the error calls a bad value] */
const SETTINGS: Record<string, [Check, string]> = {
  'alternate-exchange': [isString, 'is not a valid alternate exchange name'],
  'dead-letter-exchange': [isString, 'is not a valid dead letter exchange name'],
  'dead-letter-routing-key': [isString, 'is not a valid dead letter routing key'],
  'dead-letter-strategy': [oneOf('at-most-once', 'at-least-once'), 'is not a valid dead letter strategy'],
  'message-ttl': [count(0), 'is not a valid message TTL'],
  expires: [count(1), 'is not a valid queue expiry'],
  'max-length': [count(0), 'is not a valid maximum length'],
  'max-length-bytes': [count(0), 'is not a valid maximum length in bytes'],
  'max-in-memory-length': [count(0), 'is not a valid maximum memory in bytes'],
  'max-in-memory-bytes': [count(0), 'is not a valid maximum memory in bytes'],
  'queue-mode': [oneOf('default', 'lazy'), 'is not a valid queue-mode value'],
  'queue-version': [oneOf(1, 2), 'is not a valid queue-version value'],
  overflow: [oneOf('drop-head', 'reject-publish', 'reject-publish-dlx'), 'is not a valid overflow value'],
  'delivery-limit': [count(0), 'is not a valid delivery limit'],
  'max-age': [(v) => typeof v === 'string' && /^\d+[YMDhms]$/.test(v), 'is not a valid max age'],
  'stream-max-segment-size-bytes': [count(0), 'is not a valid segment size'],
  'queue-leader-locator': [oneOf('client-local', 'balanced'), 'is not a valid queue leader locator value'],
  'initial-cluster-size': [count(0), 'is not a valid cluster size'],
  'queue-master-locator': [oneOf('min-masters', 'client-local', 'random'), 'invalid queue-master-locator value'],
};

/** Classic mirroring's settings: checked together (rabbit_mirror_queue_misc), meaningless on one node. */
const HA_SETTINGS = ['ha-mode', 'ha-params', 'ha-sync-mode', 'ha-sync-batch-size', 'ha-promote-on-shutdown', 'ha-promote-on-failure'];

/** The settings an operator policy may have: caps on what a queue holds (RabbitMQ 3.10's). */
const OPERATOR_SETTINGS = ['expires', 'message-ttl', 'max-length', 'max-length-bytes', 'max-in-memory-length', 'max-in-memory-bytes', 'delivery-limit'];

function checkDefinition(definition: unknown, kind: PolicyKind): void {
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) {
    throw new PolicyError(`definition must be a dictionary: ${term(definition)}`);
  }
  const d = definition as Record<string, Json>;
  const keys = Object.keys(d).sort();
  if (keys.length === 0) throw new PolicyError('no policy provided');
  const known = (key: string) => (kind === 'operator' ? OPERATOR_SETTINGS.includes(key) : SETTINGS[key] !== undefined || HA_SETTINGS.includes(key));
  if (kind === 'policy') checkMirroring(d);
  for (const key of keys) {
    const setting = SETTINGS[key];
    if (known(key) && setting !== undefined && !setting[0](d[key])) throw new PolicyError(`${term(d[key])} ${setting[1]}`);
  }
  const unknown = keys.filter((k) => !known(k));
  if (unknown.length > 0) throw new PolicyError(`[${unknown.map((k) => `{${term(k)},${term(d[k])}}`).join(',')}] are not recognised policy settings`);
}

function checkMirroring(d: Record<string, Json>): void {
  if (!HA_SETTINGS.some((k) => k in d)) return;
  const mode = d['ha-mode'];
  if (mode === undefined) throw new PolicyError('ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown');
  if (mode !== 'all' && mode !== 'exactly' && mode !== 'nodes') throw new PolicyError(`${term(mode)} is not a valid ha-mode value`);
  const params = d['ha-params'];
  if (mode === 'all' && params !== undefined) throw new PolicyError('ha-mode="all" does not take parameters');
  if (mode === 'exactly' && !(typeof params === 'number' && Number.isInteger(params) && params > 0)) {
    throw new PolicyError(`ha-mode="exactly" takes an integer, ${params === undefined ? 'none' : term(params)} given`);
  }
  if (mode === 'nodes' && !(Array.isArray(params) && params.length > 0 && params.every((n) => typeof n === 'string'))) {
    throw new PolicyError(`ha-mode="nodes" takes a list, ${params === undefined ? 'none' : term(params)} given`);
  }
  const sync = d['ha-sync-mode'];
  if (sync !== undefined && sync !== 'manual' && sync !== 'automatic') throw new PolicyError(`ha-sync-mode must be "manual" or "automatic", got ${term(sync)}`);
  const batch = d['ha-sync-batch-size'];
  if (batch !== undefined && !count(1)(batch)) throw new PolicyError(`ha-sync-batch-size takes an integer greater than 0, ${term(batch)} given`);
  for (const key of ['ha-promote-on-shutdown', 'ha-promote-on-failure']) {
    const v = d[key];
    if (v !== undefined && v !== 'always' && v !== 'when-synced') throw new PolicyError(`${key} must be "always" or "when-synced", got ${term(v)}`);
  }
}

/** A JSON value as Erlang prints the term RabbitMQ decoded it to (its error texts show them so). */
function term(v: unknown): string {
  if (typeof v === 'string') return `<<${JSON.stringify(v)}>>`;
  if (v === null || v === undefined) return v === null ? 'null' : 'undefined';
  if (Array.isArray(v)) return `[${v.map(term).join(',')}]`;
  if (typeof v === 'object') {
    const map = v as Record<string, unknown>;
    return `#{${Object.keys(map).sort().map((k) => `${term(k)} => ${term(map[k])}`).join(',')}}`;
  }
  return String(v);
}
