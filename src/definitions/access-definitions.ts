/**
 * The access part of RabbitMQ's definitions JSON: users (password_hash,
 * hashing_algorithm, tags), vhosts with their limits, permissions and
 * topic_permissions. Read and written as `rabbitmqctl export_definitions`
 * does, so a file moves between RabbitMQ and warren.
 */
import type { AccessControl, Credentials, PermissionSpec, TopicPermissionSpec } from '../auth/access-control.js';
import { limitsFromJson, limitsFromParameter, parameterValue, type VHostLimits } from '../vhost/vhost-limits.js';
import { userLimitsFromJson, userLimitsToJson, type UserLimits } from '../auth/user-limits.js';
import type { VHostService } from '../vhost/vhost-service.js';
import { metadataFromJson, type VHostMetadata } from '../vhost/vhost-metadata.js';
import { commaList } from './tag-list.js';
import { userRegex } from '../auth/user-regex.js';

export interface UserDefinition {
  name: string;
  password_hash?: string;
  /** RabbitMQ accepts a clear password in an imported file too */
  password?: string;
  hashing_algorithm?: string;
  /** a list, or RabbitMQ's older comma-separated string */
  tags?: string[] | string;
  limits?: Record<string, unknown>;
}

export interface PermissionDefinition {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

export interface TopicPermissionDefinition {
  user: string;
  vhost: string;
  exchange: string;
  write: string;
  read: string;
}

export interface ParameterDefinition {
  vhost: string;
  component: string;
  name: string;
  value: unknown;
}

/** The access part of a definitions file, checked and in the broker's terms. */
export interface AccessEntries {
  /** the vhosts named, with the metadata their entries give */
  vhosts: { name: string; metadata: VHostMetadata | undefined }[];
  users: { name: string; credentials: Credentials; tags: string[]; limits: UserLimits }[];
  limits: { vhost: string; limits: VHostLimits }[];
  permissions: { user: string; vhost: string; spec: PermissionSpec }[];
  topicPermissions: { user: string; vhost: string; spec: TopicPermissionSpec }[];
}

/** What applying access definitions changes: the broker's management methods. */
export interface AccessHost {
  putUser(name: string, credentials: Credentials, tags: readonly string[], limits?: UserLimits): void;
  addVHost(name: string): unknown;
  setVHostMetadata(name: string, metadata: VHostMetadata): void;
  setVHostLimits(name: string, limits: VHostLimits): void;
  setPermissions(user: string, vhost: string, spec: PermissionSpec): void;
  setTopicPermissions(user: string, vhost: string, spec: TopicPermissionSpec): void;
}

interface AccessDefinitionsInput {
  vhosts?: { name: string; limits?: unknown; description?: unknown; tags?: unknown; metadata?: unknown }[];
  users?: unknown[];
  permissions?: unknown[];
  topic_permissions?: unknown[];
  parameters?: unknown[];
}

/** Reads and checks the access entries; throws a line that names the first bad one. */
export function accessEntries(defs: AccessDefinitionsInput): AccessEntries {
  const users = (defs.users ?? []).map((entry) => {
    const u = object(entry, 'an entry of users');
    const name = text(u.name, 'user name');
    const where = `user '${name}'`;
    let credentials: Credentials;
    if (u.password_hash !== undefined) {
      credentials = { passwordHash: text(u.password_hash, `password_hash of ${where}`), hashingAlgorithm: optionalText(u.hashing_algorithm, `hashing_algorithm of ${where}`) };
    } else if (u.password !== undefined) {
      credentials = { password: text(u.password, `password of ${where}`) };
    } else {
      throw new Error(`${where} has neither password_hash nor password`);
    }
    const limits = u.limits === undefined ? {} : userLimitsFromJson(u.limits, `limits of ${where}`);
    return { name, credentials, tags: tagList(u.tags, where), limits };
  });
  const vhosts = (defs.vhosts ?? []).map((entry) => {
    const v = object(entry, 'an entry of vhosts');
    const name = text(v.name, 'vhost name');
    return { name, metadata: metadataFromJson(v, `vhost '${name}'`) };
  });
  const limits: AccessEntries['limits'] = [];
  for (const v of defs.vhosts ?? []) {
    // RabbitMQ writes a vhost's limits as [] when it has none.
    if (v.limits !== undefined && !(Array.isArray(v.limits) && v.limits.length === 0)) {
      limits.push({ vhost: v.name, limits: limitsFromJson(v.limits, `limits of vhost '${v.name}'`) });
    }
  }
  for (const entry of defs.parameters ?? []) {
    const p = object(entry, 'an entry of parameters');
    if (p.component !== 'vhost-limits') continue; // other runtime parameters (shovels, federation) are not warren's
    const vhost = text(p.vhost, 'vhost of a vhost-limits parameter');
    limits.push({ vhost, limits: limitsFromParameter(p.value, `vhost-limits of vhost '${vhost}'`) });
  }
  const permissions = (defs.permissions ?? []).map((entry) => {
    const p = object(entry, 'an entry of permissions');
    const user = text(p.user, 'user of a permission');
    const vhost = text(p.vhost, `vhost of the permission of user '${user}'`);
    const where = `permission of user '${user}' in vhost '${vhost}'`;
    return { user, vhost, spec: { configure: pattern(p.configure, `configure of ${where}`), write: pattern(p.write, `write of ${where}`), read: pattern(p.read, `read of ${where}`) } };
  });
  const topicPermissions = (defs.topic_permissions ?? []).map((entry) => {
    const p = object(entry, 'an entry of topic_permissions');
    const user = text(p.user, 'user of a topic permission');
    const vhost = text(p.vhost, `vhost of the topic permission of user '${user}'`);
    const exchange = text(p.exchange, `exchange of the topic permission of user '${user}'`);
    const where = `topic permission of user '${user}' on exchange '${exchange}' in vhost '${vhost}'`;
    return { user, vhost, spec: { exchange, write: pattern(p.write, `write of ${where}`), read: pattern(p.read, `read of ${where}`) } };
  });
  return { vhosts, users, limits, permissions, topicPermissions };
}

/**
 * Applies the access entries: users first, then the vhosts the entries name,
 * their limits, then permissions. A permission for a user the file does not
 * define must name one the broker has.
 */
export function applyAccessDefinitions(defs: AccessDefinitionsInput, host: AccessHost): void {
  const entries = accessEntries(defs);
  for (const u of entries.users) host.putUser(u.name, u.credentials, u.tags, u.limits);
  for (const { name, metadata } of entries.vhosts) {
    host.addVHost(name);
    if (metadata !== undefined) host.setVHostMetadata(name, metadata);
  }
  for (const { vhost, limits } of entries.limits) {
    host.addVHost(vhost);
    host.setVHostLimits(vhost, limits);
  }
  for (const p of entries.permissions) {
    host.addVHost(p.vhost);
    host.setPermissions(p.user, p.vhost, p.spec);
  }
  for (const p of entries.topicPermissions) {
    host.addVHost(p.vhost);
    host.setTopicPermissions(p.user, p.vhost, p.spec);
  }
}

/** Users, permissions, topic permissions and vhost limits in RabbitMQ's export format. */
export function exportAccess(vhosts: Iterable<VHostService>, access: AccessControl) {
  const users = access.listUsers().map((u) => ({
    name: u.name,
    password_hash: u.passwordHash.toString('base64'),
    hashing_algorithm: u.hashingAlgorithm,
    tags: [...u.tags],
    limits: userLimitsToJson(u.limits),
  }));
  const permissions: PermissionDefinition[] = access.listPermissions().map(({ user, vhost, spec }) => ({ user, vhost, ...spec }));
  const topic_permissions: TopicPermissionDefinition[] = access.listTopicPermissions().map(({ user, vhost, spec }) => ({ user, vhost, ...spec }));
  const parameters: ParameterDefinition[] = [];
  for (const service of vhosts) {
    if (service.limits !== null) parameters.push({ vhost: service.name, component: 'vhost-limits', name: 'limits', value: parameterValue(service.limits) });
  }
  return { users, permissions, topic_permissions, parameters };
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function optionalText(value: unknown, what: string): string | undefined {
  return value === undefined ? undefined : text(value, what);
}

/** A permission regex, compiled once here so that a bad one is refused before anything is applied. */
function pattern(value: unknown, what: string): string {
  const source = text(value, what);
  try {
    userRegex(source);
  } catch (err: any) {
    throw new Error(`${what}: invalid regular expression '${source}': ${err.message}`);
  }
  return source;
}

function tagList(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  const tags = commaList(value);
  if (tags === null) throw new Error(`tags of ${where} must be a list of strings or a comma-separated string`);
  return typeof value === 'string' ? tags.filter((t) => t !== '') : tags;
}
