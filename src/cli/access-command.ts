/**
 * rabbitmqctl's commands for users, vhosts, permissions, topic permissions and
 * limits, for `warren ctl`, with rabbitmqctl's arguments and lines, through
 * the management API's /api/users, /api/vhosts, /api/permissions,
 * /api/topic-permissions, /api/user-limits and /api/vhost-limits.
 */
import { EX_DATAERR, EX_NOUSER, EX_SOFTWARE, EX_UNAVAILABLE, Failure, NotFound, jsonArgument, usage, type ApiClient } from './api-client.js';
import { fields, printTable, type Row, type TableFlags } from './table.js';

export const ACCESS_USAGE = `  list_users  list_user_permissions USER   add_user USER PASSWORD   delete_user USER   change_password USER PASSWORD
  authenticate_user USER PASSWORD   set_user_tags USER [TAG...]   set_permissions USER CONF WRITE READ   clear_permissions USER
  set_topic_permissions USER EXCHANGE WRITE READ   clear_topic_permissions USER [EXCHANGE]   list_topic_permissions   list_user_topic_permissions USER
  set_user_limits USER JSON   clear_user_limits USER NAME|all   list_user_limits [--user USER | --global]
  set_vhost_limits JSON   clear_vhost_limits   list_vhost_limits [--global]   (-p VHOST)
  add_vhost VHOST [--description TEXT] [--tags TAG,...]   delete_vhost VHOST   trace_on [-p VHOST]   trace_off [-p VHOST]`;

export interface AccessFlags extends TableFlags {
  vhost: string;
  /** add_vhost's metadata */
  description: string | undefined;
  tags: string | undefined;
  /** list_user_limits --user */
  user: string | undefined;
  /** list_vhost_limits --global */
  global: boolean;
}

/** Runs `command` if it is one of these; false when it is not. */
export async function accessCommand(api: ApiClient, command: string, args: string[], o: AccessFlags, info: (line: string) => void): Promise<boolean> {
  const arity = (n: number, what: string) => {
    if (args.length !== n) throw usage(`${command} takes ${what}`);
  };
  const user = (name: string) => `/api/users/${encodeURIComponent(name)}`;
  const vhost = (name: string) => `/api/vhosts/${encodeURIComponent(name)}`;
  const permission = (name: string) => `/api/permissions/${encodeURIComponent(o.vhost)}/${encodeURIComponent(name)}`;
  const topicPermission = (name: string) => `/api/topic-permissions/${encodeURIComponent(o.vhost)}/${encodeURIComponent(name)}`;
  const userLimits = (name: string) => `/api/user-limits/${encodeURIComponent(name)}`;
  const vhostLimits = () => `/api/vhost-limits/${encodeURIComponent(o.vhost)}`;
  const limitsParameter = () => `/api/parameters/vhost-limits/${encodeURIComponent(o.vhost)}/limits`;
  /** The limits set at a user-limits or vhost-limits path ({} when none). */
  const limitsOf = async (path: string, missing: string, missingCode?: number) => ((await api.request('GET', path, undefined, {}, missing, missingCode)) as { value: Row }[])[0]?.value ?? {};
  const tagsOf = async (name: string) => ((await api.request('GET', user(name), undefined, {}, `User "${name}" does not exist`, EX_NOUSER)) as { tags: string[] }).tags;
  /**
   * Why a permission command found nothing, as rabbitmqctl says it: no such
   * user (67), no such vhost (69); both there, nothing to refuse.
   */
  const refuseMissing = async (name: string) => {
    if (!(await api.exists(user(name)))) throw new Failure(EX_NOUSER, `User ${name} does not exist`);
    if (!(await api.exists(vhost(o.vhost)))) throw new Failure(EX_UNAVAILABLE, `Virtual host ${o.vhost} does not exist`);
  };
  /** A PUT of a permission; a refusal explained by refuseMissing when it can be. */
  const putPermission = async (path: string, body: Row) => {
    await api.request('PUT', path, body).catch(async (err) => {
      await refuseMissing(String(body.user));
      throw err;
    });
  };
  switch (command) {
    case 'list_user_permissions': {
      arity(1, 'one user name');
      info(`Listing permissions for user "${args[0]}" ...`);
      const rows = (await api.request('GET', `${user(args[0])}/permissions`, undefined, {}, `User "${args[0]}" does not exist`)) as Row[];
      printTable(rows, ['vhost', 'configure', 'write', 'read'], fields('vhost', 'configure', 'write', 'read'), o, true);
      return true;
    }
    case 'add_user': {
      arity(2, 'a user name and a password');
      info(`Adding user "${args[0]}" ...`);
      if (await api.exists(user(args[0]))) throw new Failure(EX_SOFTWARE, `User "${args[0]}" already exists`);
      await api.request('PUT', user(args[0]), { password: args[1], tags: [] });
      info("Done. Don't forget to grant the user permissions to some virtual hosts! See 'rabbitmqctl help set_permissions' to learn more.");
      return true;
    }
    case 'delete_user':
      arity(1, 'one user name');
      info(`Deleting user "${args[0]}" ...`);
      await api.request('DELETE', user(args[0]), undefined, {}, `User "${args[0]}" does not exist`, EX_NOUSER);
      return true;
    case 'change_password': {
      arity(2, 'a user name and a password');
      info(`Changing password for user "${args[0]}" ...`);
      // A PUT replaces the tags too: send the ones the user has.
      await api.request('PUT', user(args[0]), { password: args[1], tags: await tagsOf(args[0]) });
      return true;
    }
    case 'set_user_tags': {
      if (args.length < 1) throw usage('set_user_tags takes a user name and its tags');
      const [name, ...tags] = args;
      info(`Setting tags for user "${name}" to [${tags.join(', ')}] ...`);
      await tagsOf(name);
      // Without a password the API keeps the user's.
      await api.request('PUT', user(name), { tags });
      return true;
    }
    case 'set_permissions': {
      arity(4, 'a user name and configure, write and read patterns');
      info(`Setting permissions for user "${args[0]}" in vhost "${o.vhost}" ...`);
      await putPermission(permission(args[0]), { user: args[0], configure: args[1], write: args[2], read: args[3] });
      return true;
    }
    case 'clear_permissions':
      arity(1, 'one user name');
      info(`Clearing permissions for user "${args[0]}" in vhost "${o.vhost}" ...`);
      // as rabbitmqctl: none to clear is done, unless the user or vhost is not there
      if (!(await api.deleteIfExists(permission(args[0])))) await refuseMissing(args[0]);
      return true;
    case 'add_vhost': {
      arity(1, 'one vhost name');
      info(`Adding vhost "${args[0]}" ...`);
      // As rabbitmqctl: an existing vhost is left as it is (a PUT would replace its description and tags).
      if (await api.exists(vhost(args[0]))) return true;
      const status = await api.put(vhost(args[0]), { description: o.description, tags: o.tags });
      // The HTTP API grants the vhost's creator full permissions; rabbitmqctl add_vhost grants nothing.
      if (status === 201) await api.request('DELETE', `/api/permissions/${encodeURIComponent(args[0])}/${encodeURIComponent(api.user)}`);
      return true;
    }
    case 'delete_vhost':
      arity(1, 'one vhost name');
      info(`Deleting vhost "${args[0]}" ...`);
      await api.request('DELETE', vhost(args[0]), undefined, {}, `Virtual host '${args[0]}' does not exist`, EX_DATAERR);
      return true;
    case 'trace_on':
    case 'trace_off': {
      arity(0, 'no arguments (the vhost is -p VHOST)');
      const on = command === 'trace_on';
      info(`${on ? 'Starting' : 'Stopping'} tracing for vhost "${o.vhost}" ...`);
      // A PUT replaces description and tags: they go back as they are.
      const { description, tags } = (await api.request('GET', vhost(o.vhost), undefined, {}, `Virtual host '${o.vhost}' does not exist`)) as { description: string; tags: string[] };
      await api.put(vhost(o.vhost), { description, tags, tracing: on });
      info(`Trace ${on ? 'enabled' : 'disabled'} for vhost ${o.vhost}`);
      return true;
    }
    case 'set_topic_permissions': {
      arity(4, 'a user name, an exchange and write and read patterns');
      info(`Setting topic permissions on "${args[1]}" for user "${args[0]}" in vhost "${o.vhost}" ...`);
      await putPermission(topicPermission(args[0]), { user: args[0], exchange: args[1], write: args[2], read: args[3] });
      return true;
    }
    case 'clear_topic_permissions': {
      if (args.length < 1 || args.length > 2) throw usage(`${command} takes a user name and, optionally, an exchange`);
      const [name, exchange] = args;
      info(exchange === undefined
        ? `Clearing topic permissions for user "${name}" in vhost "${o.vhost}" ...`
        : `Clearing topic permissions on "${exchange}" for user "${name}" in vhost "${o.vhost}" ...`);
      // The API clears a user's topic permissions in a vhost all at once: the other exchanges' go back.
      const held = (await api.request('GET', topicPermission(name)).catch((err) => {
        if (err instanceof NotFound) return [];
        throw err;
      })) as Row[];
      // as rabbitmqctl: none to clear is done, unless the user or vhost is not there
      if (held.length === 0) return (await refuseMissing(name), true);
      await api.request('DELETE', topicPermission(name));
      for (const { exchange: e, write, read } of held.filter((p) => exchange !== undefined && p.exchange !== exchange)) await api.request('PUT', topicPermission(name), { exchange: e, write, read });
      return true;
    }
    case 'list_user_topic_permissions': {
      arity(1, 'one user name');
      info(`Listing topic permissions for user "${args[0]}" ...`);
      const rows = (await api.request('GET', `${user(args[0])}/topic-permissions`, undefined, {}, `User "${args[0]}" does not exist`)) as Row[];
      // rabbitmqctl 3.10.8 prints this one without a header line
      printTable(rows, ['vhost', 'exchange', 'write', 'read'], fields('vhost', 'exchange', 'write', 'read'), { ...o, headers: false }, true);
      return true;
    }
    case 'set_user_limits': {
      arity(2, 'a user name and its limits (JSON)');
      info(`Setting user limits to "${args[1]}" for user "${args[0]}" ...`);
      // As rabbitmqctl: the limits given change, the others stay.
      for (const [limit, value] of Object.entries(limitsArgument(args[1]))) await api.request('PUT', `${userLimits(args[0])}/${encodeURIComponent(limit)}`, { value });
      return true;
    }
    case 'clear_user_limits': {
      arity(2, "a user name and a limit's name (or all)");
      const [name, limit] = args;
      info(limit === 'all' ? `Clearing all limits for user "${name}" ...` : `Clearing "${limit}" limit for user "${name}" ...`);
      const limits = limit === 'all' ? Object.keys(await limitsOf(userLimits(name), `User "${name}" does not exist`)) : [limit];
      for (const l of limits) await api.request('DELETE', `${userLimits(name)}/${encodeURIComponent(l)}`, undefined, {}, `User "${name}" does not exist`);
      return true;
    }
    case 'list_user_limits': {
      arity(0, 'no arguments (--user USER for one user, --global for all; else the user of --url)');
      if (o.global) return listLimits(api, '/api/user-limits', 'user', 'Listing limits for all users ...', o, info);
      const name = o.user ?? api.user;
      info(`Listing limits for user "${name}" ...`);
      // as rabbitmqctl: {} for a user without limits
      console.log(JSON.stringify(await limitsOf(userLimits(name), `User "${name}" does not exist`)));
      return true;
    }
    case 'set_vhost_limits': {
      arity(1, 'the limits (JSON; the vhost is -p VHOST)');
      info(`Setting vhost limits to "${args[0]}" for vhost "${o.vhost}" ...`);
      // As rabbitmqctl: the limits given replace the vhost's (its vhost-limits parameter).
      await api.request('PUT', limitsParameter(), { value: limitsArgument(args[0]) }, {}, `Virtual host '${o.vhost}' does not exist`, EX_DATAERR);
      return true;
    }
    case 'clear_vhost_limits': {
      arity(0, 'no arguments (the vhost is -p VHOST)');
      info(`Clearing vhost "${o.vhost}" limits ...`);
      // the parameter goes (none there: nothing to do, as rabbitmqctl), unless the vhost does not exist
      if (!(await api.deleteIfExists(limitsParameter()))) await api.request('GET', vhost(o.vhost), undefined, {}, `Virtual host '${o.vhost}' does not exist`);
      return true;
    }
    case 'list_vhost_limits': {
      arity(0, 'no arguments (-p VHOST, or --global for every vhost)');
      if (o.global) return listLimits(api, '/api/vhost-limits', 'vhost', 'Listing limits for all vhosts ...', o, info);
      info(`Listing limits for vhost "${o.vhost}" ...`);
      const limits = await limitsOf(vhostLimits(), `Virtual host '${o.vhost}' does not exist`, EX_DATAERR);
      // as rabbitmqctl: an empty line for a vhost without limits
      console.log(o.json || Object.keys(limits).length > 0 ? JSON.stringify(limits) : '');
      return true;
    }
    case 'authenticate_user': {
      arity(2, 'a user name and a password');
      info(`Authenticating user "${args[0]}" ...`);
      // The management API checks a login as AMQP does.
      if (!(await api.as(args[0], args[1]).loginAccepted())) throw new Failure(EX_DATAERR, `failed to authenticate user "${args[0]}": user '${args[0]}' - invalid credentials`);
      info('Success');
      return true;
    }
    default:
      return false;
  }
}

/** A limits argument: a JSON object, as rabbitmqctl takes it. */
function limitsArgument(text: string): Row {
  const limits = jsonArgument(text, 'the limits');
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) throw new Failure(EX_UNAVAILABLE, `limits must be a JSON object, got ${text}`);
  return limits as Row;
}

/** Every user's or vhost's limits, in rabbitmqctl's table. */
async function listLimits(api: ApiClient, path: string, owner: string, heading: string, o: TableFlags, info: (line: string) => void): Promise<true> {
  info(heading);
  printTable((await api.request('GET', path)) as Row[], [owner, 'limits'], { [owner]: (row) => row[owner], limits: (row) => row.value }, o, true);
  return true;
}
