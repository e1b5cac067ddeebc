/**
 * Users, their permissions per vhost and their topic permissions: RabbitMQ's
 * internal auth backend (rabbit_auth_backend_internal) and its access checks
 * (rabbit_access_control). Passwords are kept only as salted hashes.
 *
 * Every change bumps `generation`, so what a channel cached (PublishPermits)
 * is checked again after any change.
 */
import { AmqpError, ReplyCode, channelError } from '../protocol/errors.js';
import type { UserLimits } from './user-limits.js';
import { DEFAULT_HASHING, hashPassword, isHashingAlgorithm, verifyPassword, type HashingAlgorithm } from './password-hash.js';
import { userRegex } from './user-regex.js';

export type Access = 'configure' | 'write' | 'read';
export type ResourceKind = 'queue' | 'exchange';

export interface User {
  readonly name: string;
  readonly passwordHash: Buffer;
  readonly hashingAlgorithm: HashingAlgorithm;
  readonly tags: readonly string[];
  readonly limits: UserLimits;
}

/** configure / write / read: regular expressions a resource name must match. */
export interface PermissionSpec {
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

/** write / read: regular expressions a routing key must match on `exchange` (a topic exchange). */
export interface TopicPermissionSpec {
  readonly exchange: string;
  readonly write: string;
  readonly read: string;
}

/** A new user's credentials: a password (hashed here), or a hash as RabbitMQ exports it. */
export type Credentials = { password: string } | { passwordHash: string; hashingAlgorithm?: string };

interface Compiled<T> {
  readonly spec: T;
  readonly configure: RegExp;
  readonly write: RegExp;
  readonly read: RegExp;
}

export class AccessControl {
  private readonly users = new Map<string, User>();
  /** vhost -> user -> permission */
  private readonly permissions = new Map<string, Map<string, Compiled<PermissionSpec>>>();
  /** vhost -> user -> exchange -> topic permission */
  private readonly topics = new Map<string, Map<string, Map<string, Compiled<TopicPermissionSpec>>>>();
  /** bumped by every change: caches of earlier checks are stale */
  generation = 0;

  user(name: string): User | undefined {
    return this.users.get(name);
  }

  listUsers(): User[] {
    return [...this.users.values()];
  }

  /** Adds a user or replaces its credentials and tags (RabbitMQ's put_user); limits stay unless given. */
  putUser(name: string, credentials: Credentials, tags: readonly string[] = [], limits?: UserLimits): User {
    let passwordHash: Buffer;
    let hashingAlgorithm: HashingAlgorithm;
    if ('password' in credentials) {
      hashingAlgorithm = DEFAULT_HASHING;
      passwordHash = Buffer.from(hashPassword(credentials.password), 'base64');
    } else {
      const algorithm = credentials.hashingAlgorithm ?? DEFAULT_HASHING;
      if (!isHashingAlgorithm(algorithm)) throw new Error(`user '${name}': unknown hashing_algorithm '${algorithm}'`);
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(credentials.passwordHash)) throw new Error(`user '${name}': password_hash is not base64`);
      hashingAlgorithm = algorithm;
      passwordHash = Buffer.from(credentials.passwordHash, 'base64');
    }
    const user: User = { name, passwordHash, hashingAlgorithm, tags: [...tags], limits: { ...(limits ?? this.users.get(name)?.limits) } };
    this.users.set(name, user);
    this.generation++;
    return user;
  }

  /** Removes a user with its permissions; false if there was none. */
  deleteUser(name: string): boolean {
    if (!this.users.delete(name)) return false;
    for (const byUser of this.permissions.values()) byUser.delete(name);
    for (const byUser of this.topics.values()) byUser.delete(name);
    this.generation++;
    return true;
  }

  /** The user if `password` is theirs, else null (unknown users and wrong passwords alike). */
  authenticate(name: string, password: string): User | null {
    const user = this.users.get(name);
    if (user === undefined || password === '') return null;
    return verifyPassword(user.passwordHash, user.hashingAlgorithm, password) ? user : null;
  }

  setPermissions(user: string, vhost: string, spec: PermissionSpec): void {
    this.mustExist(user);
    const compiled = { spec: { configure: spec.configure, write: spec.write, read: spec.read }, configure: regex(spec.configure), write: regex(spec.write), read: regex(spec.read) };
    mapIn(this.permissions, vhost).set(user, compiled);
    this.generation++;
  }

  clearPermissions(user: string, vhost: string): void {
    this.permissions.get(vhost)?.delete(user);
    this.generation++;
  }

  setTopicPermissions(user: string, vhost: string, spec: TopicPermissionSpec): void {
    this.mustExist(user);
    const compiled = { spec: { exchange: spec.exchange, write: spec.write, read: spec.read }, configure: regex(''), write: regex(spec.write), read: regex(spec.read) };
    mapIn(mapIn(this.topics, vhost), user).set(spec.exchange, compiled);
    this.generation++;
  }

  /** Clears one exchange's topic permission, or all of the user's in the vhost. */
  clearTopicPermissions(user: string, vhost: string, exchange?: string): void {
    if (exchange === undefined) this.topics.get(vhost)?.delete(user);
    else this.topics.get(vhost)?.get(user)?.delete(exchange);
    this.generation++;
  }

  /** A deleted vhost takes every permission in it. */
  forgetVHost(vhost: string): void {
    this.permissions.delete(vhost);
    this.topics.delete(vhost);
    this.generation++;
  }

  permissionsOf(vhost: string): ReadonlyMap<string, { spec: PermissionSpec }> {
    return this.permissions.get(vhost) ?? new Map();
  }

  listPermissions(): { user: string; vhost: string; spec: PermissionSpec }[] {
    return [...this.permissions].flatMap(([vhost, byUser]) => [...byUser].map(([user, p]) => ({ user, vhost, spec: p.spec })));
  }

  listTopicPermissions(): { user: string; vhost: string; spec: TopicPermissionSpec }[] {
    return [...this.topics].flatMap(([vhost, byUser]) => [...byUser].flatMap(([user, byExchange]) => [...byExchange.values()].map((p) => ({ user, vhost, spec: p.spec }))));
  }

  /** connection.open: a user may use a vhost where it has permissions (any). */
  mayUseVHost(user: string, vhost: string): boolean {
    return this.permissions.get(vhost)?.has(user) === true;
  }

  /**
   * RabbitMQ's check_resource_access: the name must match the user's regex for
   * `access` in the vhost (unanchored, as Erlang's re:run; '' matches nothing);
   * the default exchange is checked as 'amq.default'. Throws 403.
   */
  check(user: string, vhost: string, kind: ResourceKind, name: string, access: Access): void {
    if (kind === 'exchange' && name === '') name = 'amq.default';
    const permission = this.permissions.get(vhost)?.get(user);
    if (permission !== undefined && permission[access].test(name)) return;
    throw channelError(ReplyCode.ACCESS_REFUSED, `access to ${kind} '${name}' in vhost '${vhost}' refused for user '${user}'`);
  }

  /** The topic permission that governs routing keys on `exchange` for this user, if any (none: every key is allowed). */
  topicPermission(user: string, vhost: string, exchange: string): Compiled<TopicPermissionSpec> | undefined {
    return this.topics.get(vhost)?.get(user)?.get(exchange);
  }

  /**
   * RabbitMQ's topic authorisation for a topic exchange: without a topic
   * permission for the exchange every key passes; with one, the key must match
   * its write (publish) or read (bind) regex, where {username} and {vhost}
   * stand for the user's and vhost's names. Throws 403.
   */
  checkTopic(user: string, vhost: string, exchange: string, routingKey: string, access: 'write' | 'read'): void {
    const permission = this.topicPermission(user, vhost, exchange);
    if (permission === undefined || topicAllows(permission, access, user, vhost, routingKey)) return;
    throw topicRefused(user, vhost, exchange, routingKey);
  }

  private mustExist(user: string): void {
    if (!this.users.has(user)) throw new Error(`no user '${user}'`);
  }
}

/** Whether a topic permission lets `routingKey` through for `access`. */
export function topicAllows(permission: Compiled<TopicPermissionSpec>, access: 'write' | 'read', user: string, vhost: string, routingKey: string): boolean {
  const pattern = permission.spec[access];
  if (!pattern.includes('{')) return permission[access].test(routingKey);
  return regex(pattern.replaceAll('{username}', escape(user)).replaceAll('{vhost}', escape(vhost))).test(routingKey);
}

export function topicRefused(user: string, vhost: string, exchange: string, routingKey: string): AmqpError {
  // rabbit_access_control's text, whose resource reads "topic 'x' in vhost 'v'".
  return channelError(ReplyCode.ACCESS_REFUSED, `access to topic '${routingKey}' in exchange topic '${exchange}' in vhost '${vhost}' refused for user '${user}'`);
}

/** A permission regex; an empty one matches nothing (RabbitMQ reads it as ^$). Throws for a bad one. */
function regex(pattern: string): RegExp {
  try {
    return userRegex(pattern === '' ? '^$' : pattern);
  } catch (err: any) {
    throw new Error(`invalid regular expression '${pattern}': ${err.message}`);
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function mapIn<K, K2, V>(outer: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let inner = outer.get(key);
  if (inner === undefined) outer.set(key, (inner = new Map()));
  return inner;
}
