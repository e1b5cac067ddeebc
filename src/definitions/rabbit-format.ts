/**
 * RabbitMQ's definitions JSON (what `rabbitmqctl export_definitions` writes and
 * `--definitions FILE` / import reads), for the durable part of a broker's
 * topology: durable exchanges, durable non-exclusive queues, and bindings whose
 * source and destination are both durable. Transient ones are never written.
 */
import type { FieldTable, FieldValue } from '../protocol/field-types.js';
import { fromJson } from '../protocol/field-table.js';
import { DEFAULT_EXCHANGES, isStored } from '../routing/topology.js';
import type { ExchangeBindingCommand, ExchangeDeclareCommand, QueueBindingCommand, QueueDeclareCommand, TopologyCommand } from '../vhost/commands.js';
import type { VHostService } from '../vhost/vhost-service.js';
import { metadataToJson, namesMetadata } from '../vhost/vhost-metadata.js';
import { typeOf } from '../vhost/queue-arguments.js';
import { RABBITMQ_VERSION, VERSION } from '../version.js';
import type { AccessControl } from '../auth/access-control.js';
import { parsePolicy, policyJson, type Policy, type PolicyKind } from '../vhost/policy.js';
import { accessEntries, exportAccess, type ParameterDefinition, type PermissionDefinition, type TopicPermissionDefinition, type UserDefinition } from './access-definitions.js';
import { globalParameterEntries, type GlobalParameterDefinition, type GlobalParameters } from './global-parameters.js';

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface ExchangeDefinition {
  name: string;
  vhost: string;
  type: string;
  durable: boolean;
  auto_delete: boolean;
  internal: boolean;
  arguments: Record<string, JsonValue>;
}

export interface QueueDefinition {
  name: string;
  vhost: string;
  type?: string;
  durable: boolean;
  auto_delete: boolean;
  arguments: Record<string, JsonValue>;
}

export interface BindingDefinition {
  source: string;
  vhost: string;
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
  arguments: Record<string, JsonValue>;
}

/** A policy as RabbitMQ writes it (policy.ts checks the fields). */
export interface PolicyDefinition {
  vhost?: string;
  name: string;
  pattern: unknown;
  'apply-to'?: unknown;
  definition: unknown;
  priority?: unknown;
}

export interface Definitions {
  rabbit_version?: string;
  product_name?: string;
  product_version?: string;
  vhosts?: { name: string; limits?: unknown; description?: string; tags?: string[]; metadata?: unknown }[];
  users?: UserDefinition[];
  permissions?: PermissionDefinition[];
  topic_permissions?: TopicPermissionDefinition[];
  parameters?: ParameterDefinition[];
  global_parameters?: GlobalParameterDefinition[];
  policies?: PolicyDefinition[];
  /** warren's data dir only: RabbitMQ keeps operator policies but leaves them out of its exports */
  operator_policies?: PolicyDefinition[];
  exchanges?: ExchangeDefinition[];
  queues?: QueueDefinition[];
  bindings?: BindingDefinition[];
}

/** The system exchanges every vhost has: never written, never declared from a file. */
const SYSTEM_EXCHANGES = new Set(DEFAULT_EXCHANGES.map(([name]) => name));

/**
 * The durable topology of `vhosts`, with the users and permissions of
 * `access`, in RabbitMQ's format; with `operatorPolicies`, theirs too (for the
 * data dir: an export, as RabbitMQ's, has none); with `globals`, the global
 * parameters.
 */
export function exportDefinitions(vhosts: Iterable<VHostService>, access: AccessControl, operatorPolicies = false, globals?: GlobalParameters): Definitions {
  const services = [...vhosts];
  const defs = {
    rabbit_version: RABBITMQ_VERSION,
    product_name: 'warren',
    product_version: VERSION,
    ...exportAccess(services, access),
    ...(globals === undefined ? {} : { global_parameters: globals.list() }),
    vhosts: [] as { name: string; description?: string; tags?: string[] }[],
    policies: [] as PolicyDefinition[],
    exchanges: [] as ExchangeDefinition[],
    queues: [] as QueueDefinition[],
    bindings: [] as BindingDefinition[],
  };
  for (const service of services) {
    const vhost = service.name;
    defs.vhosts.push({ name: vhost, ...metadataToJson(vhost, service.metadata) });
    for (const policy of service.policies()) defs.policies.push(policyJson(vhost, policy));
    const { exchanges, queues } = service.topology;
    for (const x of exchanges.values()) {
      if (!isStored(x) || SYSTEM_EXCHANGES.has(x.name)) continue;
      defs.exchanges.push({ name: x.name, vhost, type: x.type, durable: true, auto_delete: x.autoDelete, internal: x.internal, arguments: argumentsJson(x.args) });
    }
    for (const q of queues.values()) {
      if (!isStored(q)) continue;
      defs.queues.push({ name: q.name, vhost, type: typeOf(q.args), durable: true, auto_delete: q.autoDelete, arguments: argumentsJson(q.args) });
    }
    for (const source of exchanges.values()) {
      if (!isStored(source)) continue;
      for (const { destination, routingKey, args } of source.matcher.bindings()) {
        if (!isStored(destination)) continue;
        defs.bindings.push({
          source: source.name,
          vhost,
          destination: destination.name,
          destination_type: destination.kind,
          routing_key: routingKey,
          arguments: argumentsJson(args),
        });
      }
    }
  }
  if (!operatorPolicies) return defs;
  return { ...defs, operator_policies: services.flatMap((s) => [...s.policies('operator')].map((p) => policyJson(s.name, p))) };
}

/**
 * Replays definitions through each vhost's apply(), as an administrator (owner
 * 0): policies, exchanges and queues of every vhost first (a queue is created
 * with its policy), then the bindings between them. The first refusal stops
 * it with a line that names the entry.
 */
export async function applyDefinitions(defs: Definitions, vhost: (name: string) => VHostService): Promise<void> {
  const names = [...vhostNames(defs)];
  const all = names.map((name) => ({ service: vhost(name), ...commandsFor(defs, name) }));
  for (const { service, policies, operatorPolicies, exchanges, queues } of all) {
    for (const policy of policies) service.setPolicy(policy);
    for (const policy of operatorPolicies) service.setPolicy(policy, 'operator');
    for (const c of exchanges) replay(service, c, `exchange '${c.name}'`);
    for (const c of queues) await replay(service, c, `queue '${c.name}'`);
  }
  for (const { service, bindings } of all) {
    for (const c of bindings) {
      const [source, destination] = 'queue' in c ? [c.exchange, c.queue] : [c.source, c.destination];
      replay(service, c, `binding from '${source}' to '${destination}'`);
    }
  }
}

/**
 * Checks every entry the way applyDefinitions reads it, without applying
 * anything; throws a line that names the first bad entry.
 */
export function checkEntries(defs: Definitions): void {
  accessEntries(defs);
  globalParameterEntries(defs.global_parameters);
  for (const name of vhostNames(defs)) commandsFor(defs, name);
}

/**
 * `overlay` merged into `base`: an exchange or queue of `overlay` replaces the
 * one of the same vhost and name, a binding equal to one already there is kept
 * once; everything else of both is kept. A vhost entry replaces the one of the
 * same name too, but one that says nothing of description and tags keeps the
 * base's, as importing it into a running broker leaves them.
 */
export function mergeDefinitions(base: Definitions, overlay: Definitions): Definitions {
  const merge = <T extends object>(a: T[] | undefined, b: T[] | undefined, key: (d: T) => string): T[] => {
    const byKey = new Map<string, T>();
    for (const d of [...(a ?? []), ...(b ?? [])]) byKey.set(`${(d as { vhost?: string }).vhost ?? '/'}\0${key(d)}`, d);
    return [...byKey.values()];
  };
  return {
    ...base,
    ...overlay,
    vhosts: merge(base.vhosts, overlay.vhosts?.map((v) => keepMetadata(v, base.vhosts?.find((b) => b.name === v.name))), (v) => v.name),
    users: merge(base.users, overlay.users, (u) => String(u.name)),
    permissions: merge(base.permissions, overlay.permissions, (p) => String(p.user)),
    topic_permissions: merge(base.topic_permissions, overlay.topic_permissions, (p) => JSON.stringify([p.user, p.exchange])),
    parameters: merge(base.parameters, overlay.parameters, (p) => JSON.stringify([p.component, p.name])),
    global_parameters: merge(base.global_parameters, overlay.global_parameters, (p) => String(p.name)),
    policies: merge(base.policies, overlay.policies, (p) => String(p.name)),
    operator_policies: merge(base.operator_policies, overlay.operator_policies, (p) => String(p.name)),
    exchanges: merge(base.exchanges, overlay.exchanges, (x) => x.name),
    queues: merge(base.queues, overlay.queues, (q) => q.name),
    bindings: merge(base.bindings, overlay.bindings, (b) => JSON.stringify([b.source, b.destination, b.destination_type, b.routing_key ?? '', b.arguments ?? {}])),
  };
}

type VHostEntry = NonNullable<Definitions['vhosts']>[number];

function keepMetadata(entry: VHostEntry, base: VHostEntry | undefined): VHostEntry {
  if (base === undefined || namesMetadata(entry)) return entry;
  // Fields the base lacks stay undefined, which JSON leaves out.
  return { ...entry, description: base.description, tags: base.tags, metadata: base.metadata };
}

function replay(service: VHostService, command: TopologyCommand, what: string): void | Promise<unknown> {
  const fail = (err: any): never => {
    throw new Error(`${what} in vhost '${service.name}': ${err?.message ?? err}`);
  };
  try {
    const result = service.apply(command);
    return result instanceof Promise ? result.catch(fail) : result;
  } catch (err) {
    fail(err);
  }
}

/** The commands that recreate one vhost's definitions, in an order that works: policies, exchanges, queues, bindings. */
function commandsFor(defs: Definitions, vhost: string) {
  const mine = <T extends { vhost?: string }>(list: T[] | undefined): T[] => (list ?? []).filter((d) => (d.vhost ?? '/') === vhost);
  const policiesOf = (list: PolicyDefinition[] | undefined, kind: PolicyKind): Policy[] =>
    mine(list).map((p) => {
      const name = text(p.name, 'policy name');
      try {
        return parsePolicy(name, p as unknown as Record<string, unknown>, kind);
      } catch (err: any) {
        throw new Error(`${kind === 'policy' ? 'policy' : 'operator policy'} '${name}' in vhost '${vhost}': ${err.message}`);
      }
    });
  const policies = policiesOf(defs.policies, 'policy');
  const operatorPolicies = policiesOf(defs.operator_policies, 'operator');
  const exchanges: ExchangeDeclareCommand[] = mine(defs.exchanges)
    .filter((x) => !SYSTEM_EXCHANGES.has(x.name))
    .map((x) => ({
      kind: 'exchange.declare',
      name: text(x.name, 'exchange name'),
      type: text(x.type, `type of exchange '${x.name}'`),
      durable: flag(x.durable, true, `durable of exchange '${x.name}'`),
      autoDelete: flag(x.auto_delete, false, `auto_delete of exchange '${x.name}'`),
      internal: flag(x.internal, false, `internal of exchange '${x.name}'`),
      arguments: table(x.arguments),
    }));
  const queues: QueueDeclareCommand[] = mine(defs.queues).map((q) => ({
    kind: 'queue.declare',
    name: text(q.name, 'queue name'),
    reservedName: true,
    durable: flag(q.durable, true, `durable of queue '${q.name}'`),
    exclusive: false,
    autoDelete: flag(q.auto_delete, false, `auto_delete of queue '${q.name}'`),
    arguments: table(q.arguments),
    owner: 0,
  }));
  const bindings: (QueueBindingCommand | ExchangeBindingCommand)[] = mine(defs.bindings).map((b) => {
    const source = text(b.source, 'source of a binding');
    const destination = text(b.destination, `destination of a binding from '${source}'`);
    const routingKey = text(b.routing_key ?? '', `routing_key of binding from '${source}'`);
    const args = table(b.arguments);
    if (b.destination_type === 'exchange') {
      return { kind: 'exchange.bind', source, destination, routingKey, arguments: args };
    }
    if (b.destination_type !== 'queue') throw new Error(`binding from '${source}' to '${destination}': destination_type must be 'queue' or 'exchange'`);
    return { kind: 'bind', exchange: source, queue: destination, routingKey, arguments: args, owner: 0 };
  });
  return { policies, operatorPolicies, exchanges, queues, bindings };
}

/** Every vhost the definitions mention. */
function vhostNames(defs: Definitions): Set<string> {
  const names = new Set<string>((defs.vhosts ?? []).map((v) => text(v.name, 'vhost name')));
  for (const list of [defs.policies, defs.operator_policies, defs.exchanges, defs.queues, defs.bindings]) for (const d of list ?? []) names.add(text(d.vhost ?? '/', 'vhost'));
  return names;
}

/** Checks the shape of a parsed definitions file; throws a one-line reason. */
export function checkDefinitions(value: unknown): Definitions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
  const defs = value as Record<string, unknown>;
  for (const key of ['vhosts', 'users', 'permissions', 'topic_permissions', 'parameters', 'global_parameters', 'policies', 'operator_policies', 'exchanges', 'queues', 'bindings']) {
    if (defs[key] !== undefined && !Array.isArray(defs[key])) throw new Error(`'${key}' must be an array`);
    for (const entry of (defs[key] as unknown[] | undefined) ?? []) {
      if (typeof entry !== 'object' || entry === null) throw new Error(`an entry of '${key}' is not an object`);
    }
  }
  return defs as Definitions;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function flag(value: unknown, absent: boolean, what: string): boolean {
  if (value === undefined) return absent;
  if (typeof value !== 'boolean') throw new Error(`${what} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

export function table(value: unknown): FieldTable {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`arguments must be an object, got ${JSON.stringify(value)}`);
  return fromJson(value as FieldTable);
}

/**
 * AMQP field values as JSON, as RabbitMQ writes them: byte strings as text,
 * timestamps as seconds. `sorted`: keys in order at every depth.
 */
export function toJsonTable(table: FieldTable, sorted = false): Record<string, JsonValue> {
  const entries = Object.entries(table);
  if (sorted) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // fromEntries: a key named __proto__ stays a key
  return Object.fromEntries(entries.map(([key, value]) => [key, toJson(value, sorted)]));
}

/** A declare's or a bind's arguments (or a consume's) as RabbitMQ shows them: it sorts them by key, at every depth, when it takes them. */
export const argumentsJson = (table: FieldTable): Record<string, JsonValue> => toJsonTable(table, true);

/** An integer past a JS number's exact range as JSON: a number while it is exact, else its digits as a string. */
export function jsonInteger(value: bigint): JsonValue {
  return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
}

function toJson(value: FieldValue, sorted: boolean): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return jsonInteger(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (value instanceof Date) return Math.floor(value.getTime() / 1000);
  if (Array.isArray(value)) return value.map((item) => toJson(item, sorted));
  // A table, or a decimal ({ decimals, value }), which compares like the two-key table it becomes.
  return toJsonTable(value as FieldTable, sorted);
}
