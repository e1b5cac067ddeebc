/**
 * Users, vhosts, permissions, topic permissions and vhost limits: RabbitMQ
 * 3.10's /api/users, /api/permissions, /api/topic-permissions, PUT/DELETE
 * /api/vhosts, /api/user-limits and /api/vhost-limits. Administrator only, as RabbitMQ's;
 * every change goes through the Broker's methods (they persist and close the
 * connections a deletion ends).
 */
import type { User } from '../auth/access-control.js';
import { userLimitsFromJson, userLimitsToJson } from '../auth/user-limits.js';
import { limitsFromJson, parameterValue } from '../vhost/vhost-limits.js';
import { metadataFromJson } from '../vhost/vhost-metadata.js';
import { commaList } from '../definitions/tag-list.js';
import type { Api, Route } from './api.js';
import { HttpError, badRequest, created, noContent, notFound, objectBody, param, stringField, type ApiRequest } from './http.js';
import { listReply, selectColumns } from './list.js';

const ADMIN = 'administrator';

export function userRoutes(api: Api, route: Route): void {
  const access = api.host.access;
  const user = (req: ApiRequest): User => {
    const found = access.user(param(req, 'user'));
    if (found === undefined) throw notFound();
    return found;
  };
  const vhostExists = (req: ApiRequest) => api.host.vhosts.has(param(req, 'vhost'));

  // --- users ---
  route('GET', '/api/users', (req) => listReply(req, access.listUsers().map(userJson)), ADMIN);
  route('GET', '/api/users/without-permissions', (req) => {
    const withSome = new Set(access.listPermissions().map((p) => p.user));
    return listReply(req, access.listUsers().filter((u) => !withSome.has(u.name)).map(userJson));
  }, ADMIN);
  route('GET', '/api/users/:user', (req) => selectColumns(req, userJson(user(req))), ADMIN);
  route('PUT', '/api/users/:user', (req) => {
    const name = param(req, 'user');
    const body = objectBody(req);
    const existed = access.user(name) !== undefined;
    // RabbitMQ requires the key, to create or to update ("" for none)
    if (body.tags === undefined) throw new HttpError(400, 'bad_request', 'tags_not_present');
    const tags = tagList(body.tags);
    let credentials;
    if (body.password !== undefined) credentials = { password: stringField(body, 'password', '') };
    else if (body.password_hash !== undefined) {
      credentials = { passwordHash: stringField(body, 'password_hash', ''), hashingAlgorithm: body.hashing_algorithm === undefined ? undefined : stringField(body, 'hashing_algorithm', '') };
    } else if (existed) {
      // RabbitMQ keeps the password of a user updated with neither field (only its tags change).
      const old = access.user(name)!;
      credentials = { passwordHash: old.passwordHash.toString('base64'), hashingAlgorithm: old.hashingAlgorithm };
    } else {
      // Neither: the user cannot log in with a password (RabbitMQ's documented behaviour).
      credentials = { passwordHash: '' };
    }
    try {
      api.host.putUser(name, credentials, tags);
    } catch (err: any) {
      throw badRequest(err.message);
    }
    return existed ? noContent() : created();
  }, ADMIN);
  route('DELETE', '/api/users/:user', (req) => {
    api.host.deleteUser(user(req).name);
    return noContent();
  }, ADMIN);
  route('POST', '/api/users/bulk-delete', (req) => {
    const users = objectBody(req).users;
    if (!Array.isArray(users) || !users.every((u) => typeof u === 'string')) throw badRequest('users must be a list of names');
    for (const name of users) if (access.user(name) !== undefined) api.host.deleteUser(name);
    return noContent();
  }, ADMIN);
  route('GET', '/api/users/:user/permissions', (req) => {
    const name = user(req).name;
    return listReply(req, access.listPermissions().filter((p) => p.user === name).map(permissionJson));
  }, ADMIN);
  route('GET', '/api/users/:user/topic-permissions', (req) => {
    const name = user(req).name;
    return listReply(req, access.listTopicPermissions().filter((p) => p.user === name).map(topicPermissionJson));
  }, ADMIN);

  // --- permissions ---
  route('GET', '/api/permissions', (req) => listReply(req, access.listPermissions().map(permissionJson)), ADMIN);
  route('GET', '/api/vhosts/:vhost/permissions', (req) => {
    const vhost = api.service(req.params.vhost).name;
    return listReply(req, access.listPermissions().filter((p) => p.vhost === vhost).map(permissionJson));
  }, ADMIN);
  const permission = (req: ApiRequest) => {
    const vhost = param(req, 'vhost');
    const name = user(req).name;
    const spec = access.permissionsOf(vhost).get(name)?.spec;
    if (!vhostExists(req) || spec === undefined) throw notFound();
    return { user: name, vhost, spec };
  };
  route('GET', '/api/permissions/:vhost/:user', (req) => selectColumns(req, permissionJson(permission(req))), ADMIN);
  route('PUT', '/api/permissions/:vhost/:user', (req) => {
    const vhost = param(req, 'vhost');
    const name = param(req, 'user');
    if (!vhostExists(req) || access.user(name) === undefined) throw badRequest('vhost_or_user_not_found');
    const body = objectBody(req);
    const spec = { configure: required(body, 'configure'), write: required(body, 'write'), read: required(body, 'read') };
    const existed = access.permissionsOf(vhost).has(name);
    try {
      api.host.setPermissions(name, vhost, spec);
    } catch (err: any) {
      throw badRequest(err.message);
    }
    return existed ? noContent() : created();
  }, ADMIN);
  route('DELETE', '/api/permissions/:vhost/:user', (req) => {
    const { user: name, vhost } = permission(req);
    api.host.clearPermissions(name, vhost);
    return noContent();
  }, ADMIN);

  // --- topic permissions ---
  route('GET', '/api/topic-permissions', (req) => listReply(req, access.listTopicPermissions().map(topicPermissionJson)), ADMIN);
  route('GET', '/api/vhosts/:vhost/topic-permissions', (req) => {
    const vhost = api.service(req.params.vhost).name;
    return listReply(req, access.listTopicPermissions().filter((p) => p.vhost === vhost).map(topicPermissionJson));
  }, ADMIN);
  const topicPermissions = (req: ApiRequest) => {
    const vhost = param(req, 'vhost');
    const name = user(req).name;
    const found = access.listTopicPermissions().filter((p) => p.vhost === vhost && p.user === name);
    if (!vhostExists(req) || found.length === 0) throw notFound();
    return found;
  };
  route('GET', '/api/topic-permissions/:vhost/:user', (req) => listReply(req, topicPermissions(req).map(topicPermissionJson)), ADMIN);
  route('PUT', '/api/topic-permissions/:vhost/:user', (req) => {
    const vhost = param(req, 'vhost');
    const name = param(req, 'user');
    if (!vhostExists(req) || access.user(name) === undefined) throw badRequest('vhost_or_user_not_found');
    const body = objectBody(req);
    const spec = { exchange: required(body, 'exchange'), write: required(body, 'write'), read: required(body, 'read') };
    const existed = access.topicPermission(name, vhost, spec.exchange) !== undefined;
    try {
      api.host.setTopicPermissions(name, vhost, spec);
    } catch (err: any) {
      throw badRequest(err.message);
    }
    return existed ? noContent() : created();
  }, ADMIN);
  route('DELETE', '/api/topic-permissions/:vhost/:user', (req) => {
    const [{ user: name, vhost }] = topicPermissions(req);
    api.host.clearTopicPermissions(name, vhost);
    return noContent();
  }, ADMIN);

  // --- vhosts ---
  route('PUT', '/api/vhosts/:vhost', (req) => {
    const vhost = param(req, 'vhost');
    // As RabbitMQ 3.10: a PUT replaces description and tags, also of an existing vhost; tracing changes only when given.
    const body = objectBody(req);
    let metadata;
    try {
      metadata = metadataFromJson(body, `vhost '${vhost}'`) ?? { description: '', tags: [] };
    } catch (err: any) {
      throw badRequest(err.message);
    }
    if (body.tracing !== undefined && typeof body.tracing !== 'boolean') throw badRequest(`not_boolean: ${JSON.stringify(body.tracing)}`);
    const existed = api.host.vhosts.has(vhost);
    if (!existed) api.host.addVHost(vhost);
    api.host.setVHostMetadata(vhost, metadata);
    if (typeof body.tracing === 'boolean') api.host.setVHostTracing(vhost, body.tracing);
    if (existed) return noContent();
    // rabbit_vhost:put_vhost grants its creator full permissions on the new vhost.
    if (access.user(req.user) !== undefined) api.host.setPermissions(req.user, vhost, { configure: '.*', write: '.*', read: '.*' });
    return created();
  }, ADMIN);
  route('DELETE', '/api/vhosts/:vhost', async (req) => {
    await api.host.deleteVHost(api.service(req.params.vhost).name);
    return noContent();
  }, ADMIN);

  // A vhost never stops here, so there is nothing to restart (RabbitMQ restarts a failed vhost's supervisor).
  route('POST', '/api/vhosts/:vhost/start/:node', (req) => {
    const node = param(req, 'node');
    if (node !== api.node) throw badRequest(`Request to node ${node} failed with nodedown`);
    if (!vhostExists(req)) throw badRequest(`Request to node ${node} failed with {no_such_vhost,<<"${param(req, 'vhost')}">>}`);
    return noContent();
  }, ADMIN);

  // --- user and vhost limits ---
  limitRoutes(route, '/api/user-limits', 'user', ADMIN, {
    list: () => access.listUsers(),
    find: (req, forPut) => {
      const found = access.user(param(req, 'user'));
      // RabbitMQ: a PUT for no such user is 400 no_such_user, a GET 404
      if (found === undefined) throw forPut ? badRequest(`no user '${param(req, 'user')}'`) : notFound();
      return found;
    },
    name: (u) => u.name,
    limits: (u) => {
      const json = userLimitsToJson(u.limits);
      return Object.keys(json).length === 0 ? null : json;
    },
    set: (u, limits) => api.host.setUserLimits(u.name, userLimitsFromJson(limits, 'user-limits')),
  });
  limitRoutes(route, '/api/vhost-limits', 'vhost', undefined, {
    list: (req) => [...api.host.vhosts.values()].filter((s) => req.sees(s.name)),
    find: (req, forPut) => {
      // RabbitMQ: a PUT for no such vhost is 404 not_found, vhost_not_found
      if (forPut && !vhostExists(req)) throw new HttpError(404, 'not_found', 'vhost_not_found');
      return api.service(req.params.vhost);
    },
    name: (s) => s.name,
    limits: (s) => (s.limits === null ? null : parameterValue(s.limits)),
    set: (s, limits) => api.host.setVHostLimits(s.name, limitsFromJson(limits, 'vhost-limits')),
  });
}

/** What limitRoutes needs of users or vhosts. */
interface Limited<T> {
  list(req: ApiRequest): T[];
  /** the one the path names; `forPut`: for a PUT, whose refusal may differ */
  find(req: ApiRequest, forPut: boolean): T;
  name(o: T): string;
  /** null: none to list; [] a vhost's limits parameter of no limits, which is listed (vhost-limits.ts) */
  limits(o: T): Record<string, number> | [] | null;
  /** throws an Error saying what is wrong with them */
  set(o: T, limits: Record<string, unknown>): void;
}

/**
 * RabbitMQ's limits endpoints, alike for users and vhosts: GET all that have
 * limits, GET one, PUT ({"value": n}) and DELETE one limit (an unknown one's
 * DELETE changes nothing: 204, as RabbitMQ's). Changes are for administrators.
 */
function limitRoutes<T>(route: Route, base: string, key: 'user' | 'vhost', readLevel: typeof ADMIN | undefined, kind: Limited<T>): void {
  const listed = (o: T) => {
    const limits = kind.limits(o);
    return limits === null ? [] : [{ [key]: kind.name(o), value: limits }];
  };
  route('GET', base, (req) => kind.list(req).flatMap(listed), readLevel);
  // one object's: RabbitMQ answers [] for a parameter of no limits here
  route('GET', `${base}/:${key}`, (req) => listed(kind.find(req, false)).filter((entry) => !Array.isArray(entry.value)), readLevel);
  route('PUT', `${base}/:${key}/:limit`, (req) => {
    const o = kind.find(req, true);
    try {
      kind.set(o, { ...kind.limits(o), [param(req, 'limit')]: objectBody(req).value });
    } catch (err: any) {
      throw badRequest(err.message);
    }
    return noContent();
  }, ADMIN);
  route('DELETE', `${base}/:${key}/:limit`, (req) => {
    const o = kind.find(req, false);
    const { [param(req, 'limit')]: _, ...rest }: Record<string, unknown> = { ...kind.limits(o) };
    kind.set(o, rest);
    return noContent();
  }, ADMIN);
}

/** RabbitMQ 3.10's user object: tags as a list, limits as an object. */
function userJson(u: User): Record<string, unknown> {
  return { name: u.name, password_hash: u.passwordHash.toString('base64'), hashing_algorithm: u.hashingAlgorithm, tags: [...u.tags], limits: userLimitsToJson(u.limits) };
}

function permissionJson(p: { user: string; vhost: string; spec: { configure: string; write: string; read: string } }) {
  return { user: p.user, vhost: p.vhost, configure: p.spec.configure, write: p.spec.write, read: p.spec.read };
}

function topicPermissionJson(p: { user: string; vhost: string; spec: { exchange: string; write: string; read: string } }) {
  return { user: p.user, vhost: p.vhost, exchange: p.spec.exchange, write: p.spec.write, read: p.spec.read };
}

/** Tags as RabbitMQ takes them: "a,b" (spaces around commas allowed) or ["a","b"]; absent is none. */
function tagList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = commaList(value);
  if (list === null) throw badRequest(`tags must be a comma-separated string or a list of strings, got ${JSON.stringify(value)}`);
  return list.map((t) => t.trim()).filter((t) => t !== '');
}

/** A string field RabbitMQ requires (with_decode's key_missing). */
function required(body: Record<string, unknown>, key: string): string {
  if (body[key] === undefined) throw new HttpError(400, 'bad_request', `key_missing: ${key}`);
  return stringField(body, key, '');
}
