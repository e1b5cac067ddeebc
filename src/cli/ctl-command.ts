/**
 * `warren ctl [--url http://user:pass@host:port] COMMAND`: rabbitmqctl's
 * everyday commands against a running broker, through its management API.
 * The list_* commands take rabbitmqctl's info item names and print its
 * tab-separated table (a header line unless --no-table-headers; -q drops the
 * "Listing ..." line), or JSON with --formatter json. Same conventions as
 * the broker runner: one line on stderr, exit 2 for a usage error, 1 when
 * the broker refuses or cannot be reached.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FAULT_USAGE, FaultUsageError, faultRequest, type FaultFlags } from './fault-command.js';
import { ApiClient, Failure, usage } from './api-client.js';
import { POLICY_USAGE, policyCommand } from './policy-command.js';

export const CTL_USAGE = `Usage: warren ctl [--url URL] [-q] [--no-table-headers] [--formatter json] COMMAND [-p VHOST] ...
  --url URL          the management API (default ${'http://guest:guest@127.0.0.1:15672'})
  list_queues [INFO...]  list_exchanges [INFO...]  list_bindings [INFO...]  list_connections [INFO...]
  list_channels [INFO...]  list_consumers [INFO...]  list_vhosts [INFO...]  list_users  list_permissions
  list_user_permissions USER   add_user USER PASSWORD   delete_user USER   change_password USER PASSWORD
  set_user_tags USER [TAG...]   set_permissions USER CONF WRITE READ   clear_permissions USER
  add_vhost VHOST [--description TEXT] [--tags TAG,...]   delete_vhost VHOST   trace_on [-p VHOST]   trace_off [-p VHOST]
  purge_queue QUEUE   delete_queue QUEUE [--if-empty] [--if-unused]   close_connection NAME REASON
${POLICY_USAGE}
  export_definitions FILE (- = stdout)   import_definitions FILE   status
  reset [-p VHOST] [--keep-connections]  (test rigs: every queue, message, exchange, binding and policy goes; clients closed with 320)
${FAULT_USAGE}`;

const DEFAULT_URL = 'http://guest:guest@127.0.0.1:15672';

type Row = Record<string, unknown>;

/** One list command: its API path, rabbitmqctl's default items, and how each item is read from the API's JSON. */
interface Listing {
  what: string;
  path: (vhost: string) => string;
  perVhost: boolean;
  /** rabbitmqctl's "Listing ..." line when it is not "Listing WHAT [for vhost V] ..." */
  heading?: (vhost: string) => string;
  defaults: string[];
  items: Record<string, (row: Row) => unknown>;
}

const field = (name: string) => (row: Row) => row[name];
const fields = (...names: string[]) => Object.fromEntries(names.map((n) => [n, field(n)]));

/** list_policies and list_operator_policies: `heading` as rabbitmqctl words it. */
function policyListing(what: string, base: string, heading: string): Listing {
  return {
    what,
    path: (vhost) => `${base}/${encodeURIComponent(vhost)}`,
    perVhost: true,
    heading: (vhost) => `Listing ${heading} for vhost "${vhost}" ...`,
    defaults: ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'],
    items: fields('vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'),
  };
}

const LISTINGS: Record<string, Listing> = {
  list_queues: {
    what: 'queues',
    path: (vhost) => `/api/queues/${encodeURIComponent(vhost)}`,
    perVhost: true,
    defaults: ['name', 'messages'],
    items: {
      ...fields('name', 'vhost', 'durable', 'auto_delete', 'arguments', 'policy', 'exclusive', 'exclusive_consumer_tag', 'messages_ready', 'messages_unacknowledged', 'messages', 'consumers', 'state', 'type'),
      ...fields('messages_ready_ram', 'messages_unacknowledged_ram', 'messages_ram', 'messages_persistent'),
      ...fields('message_bytes', 'message_bytes_ready', 'message_bytes_unacknowledged', 'message_bytes_ram', 'message_bytes_persistent', 'memory'),
      consumer_utilisation: (row) => row.consumer_utilisation ?? '',
      consumer_capacity: (row) => row.consumer_capacity ?? '',
    },
  },
  list_exchanges: {
    what: 'exchanges',
    path: (vhost) => `/api/exchanges/${encodeURIComponent(vhost)}`,
    perVhost: true,
    defaults: ['name', 'type'],
    items: fields('name', 'vhost', 'type', 'durable', 'auto_delete', 'internal', 'arguments', 'policy'),
  },
  list_bindings: {
    what: 'bindings',
    path: (vhost) => `/api/bindings/${encodeURIComponent(vhost)}`,
    perVhost: true,
    defaults: ['source_name', 'source_kind', 'destination_name', 'destination_kind', 'routing_key', 'arguments'],
    items: {
      ...fields('vhost', 'routing_key', 'arguments'),
      source_name: field('source'),
      source_kind: () => 'exchange',
      destination_name: field('destination'),
      destination_kind: field('destination_type'),
    },
  },
  list_connections: {
    what: 'connections',
    path: () => '/api/connections',
    perVhost: false,
    defaults: ['user', 'peer_host', 'peer_port', 'state'],
    items: {
      ...fields('name', 'user', 'vhost', 'host', 'port', 'peer_host', 'peer_port', 'state', 'channels', 'protocol', 'auth_mechanism', 'ssl', 'frame_max', 'channel_max', 'timeout', 'client_properties', 'connected_at', 'recv_oct', 'send_oct', 'send_pend', 'type', 'ssl_protocol', 'ssl_key_exchange', 'ssl_cipher', 'ssl_hash', 'peer_cert_subject', 'peer_cert_issuer', 'peer_cert_validity'),
      pid: field('name'),
    },
  },
  list_channels: {
    what: 'channels',
    path: () => '/api/channels',
    perVhost: false,
    defaults: ['pid', 'user', 'consumer_count', 'messages_unacknowledged'],
    items: {
      ...fields('name', 'number', 'user', 'vhost', 'consumer_count', 'messages_unacknowledged', 'messages_unconfirmed', 'messages_uncommitted', 'acks_uncommitted', 'prefetch_count', 'global_prefetch_count', 'confirm', 'transactional', 'state'),
      // warren has no Erlang pids: a channel is named by its connection and number
      pid: field('name'),
      connection: (row) => (row.connection_details as Row | undefined)?.name,
    },
  },
  list_consumers: {
    what: 'consumers',
    path: (vhost) => `/api/consumers/${encodeURIComponent(vhost)}`,
    perVhost: true,
    defaults: ['queue_name', 'channel_pid', 'consumer_tag', 'ack_required', 'prefetch_count', 'active', 'arguments'],
    items: {
      ...fields('consumer_tag', 'ack_required', 'prefetch_count', 'active', 'activity_status', 'arguments', 'exclusive'),
      queue_name: (row) => (row.queue as Row | undefined)?.name,
      channel_pid: (row) => (row.channel_details as Row | undefined)?.name,
    },
  },
  list_vhosts: {
    what: 'vhosts',
    path: () => '/api/vhosts',
    perVhost: false,
    defaults: ['name'],
    items: fields('name', 'description', 'tags', 'tracing'),
  },
  list_users: {
    what: 'users',
    path: () => '/api/users',
    perVhost: false,
    defaults: ['user', 'tags'],
    items: { user: field('name'), tags: field('tags') },
  },
  list_policies: policyListing('policies', '/api/policies', 'policies'),
  list_operator_policies: policyListing('operator policies', '/api/operator-policies', 'operator policy overrides'),
  list_permissions: {
    what: 'permissions',
    path: (vhost) => `/api/vhosts/${encodeURIComponent(vhost)}/permissions`,
    perVhost: true,
    heading: (vhost) => `Listing permissions for vhost "${vhost}" ...`,
    defaults: ['user', 'configure', 'write', 'read'],
    items: fields('user', 'configure', 'write', 'read'),
  },
};

interface Options {
  quiet: boolean;
  headers: boolean;
  json: boolean;
  vhost: string;
  ifEmpty: boolean;
  ifUnused: boolean;
  /** -p was given (reset then covers that vhost only) */
  vhostGiven: boolean;
  keepConnections: boolean;
  /** set_policy's */
  priority: string | undefined;
  applyTo: string | undefined;
  /** add_vhost's metadata */
  description: string | undefined;
  tags: string | undefined;
  /** the fault subcommand's flags */
  fault: FaultFlags;
}

/** Runs the subcommand; resolves with the exit code (an error's line is already on stderr). */
export async function runCtlCommand(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(args);
    if (values.help) {
      console.log(CTL_USAGE);
      return 0;
    }
    const [command, ...rest] = positionals;
    if (command === undefined) throw usage('a command is required');
    if (values.formatter !== undefined && values.formatter !== 'json' && values.formatter !== 'table') {
      throw usage(`unknown formatter '${values.formatter}'`);
    }
    const api = new ApiClient(values.url ?? DEFAULT_URL);
    const options: Options = {
      quiet: values.quiet === true,
      headers: values['no-table-headers'] !== true,
      json: values.formatter === 'json',
      vhost: values.vhost ?? '/',
      ifEmpty: values['if-empty'] === true,
      ifUnused: values['if-unused'] === true,
      vhostGiven: values.vhost !== undefined,
      keepConnections: values['keep-connections'] === true,
      description: values.description,
      tags: values.tags,
      priority: values.priority,
      applyTo: values['apply-to'],
      fault: {
        user: values.user,
        vhost: values.vhost,
        name: values.name,
        code: values.code,
        text: values.text,
        for: values.for,
        ms: values.ms,
        mode: values.mode,
        queue: values.queue,
        'down-ms': values['down-ms'],
      },
    };
    await run(api, command, rest, options);
    return 0;
  } catch (err: any) {
    console.error(`warren ctl: ${err?.message ?? err}`);
    return err instanceof Failure ? err.code : 1;
  }
}

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        'no-table-headers': { type: 'boolean' },
        formatter: { type: 'string' },
        vhost: { type: 'string', short: 'p' },
        'if-empty': { type: 'boolean' },
        'if-unused': { type: 'boolean' },
        'keep-connections': { type: 'boolean' },
        description: { type: 'string' },
        tags: { type: 'string' },
        priority: { type: 'string' },
        'apply-to': { type: 'string' },
        // warren ctl fault ...
        user: { type: 'string' },
        name: { type: 'string' },
        code: { type: 'string' },
        text: { type: 'string' },
        for: { type: 'string' },
        ms: { type: 'string' },
        mode: { type: 'string' },
        queue: { type: 'string' },
        'down-ms': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (err: any) {
    const sentence = String(err?.message).split(/\.\s|\n/)[0];
    throw usage(`${sentence.charAt(0).toLowerCase()}${sentence.slice(1)}`);
  }
}

async function run(api: ApiClient, command: string, args: string[], o: Options): Promise<void> {
  const info = (line: string) => {
    if (!o.quiet && !o.json) console.log(line);
  };
  const listing = LISTINGS[command];
  if (listing !== undefined) {
    const items = args.length > 0 ? args : listing.defaults;
    const unknown = items.find((item) => !Object.hasOwn(listing.items, item));
    if (unknown !== undefined) throw usage(`info key '${unknown}' is not one of ${Object.keys(listing.items).join(', ')}`);
    info(listing.heading?.(o.vhost) ?? `Listing ${listing.what}${listing.perVhost ? ` for vhost ${o.vhost}` : ''} ...`);
    const rows = (await api.request('GET', listing.path(o.vhost), undefined, {}, `vhost '${o.vhost}'`)) as Row[];
    printTable(rows, items, listing.items, o);
    return;
  }
  if (await accessCommand(api, command, args, o, info)) return;
  if (await policyCommand(api, command, args, o, info)) return;
  const queuePath = () => {
    if (args.length !== 1) throw usage(`${command} takes one queue name`);
    return `/api/queues/${encodeURIComponent(o.vhost)}/${encodeURIComponent(args[0])}`;
  };
  const queue = `queue '${args[0]}' in vhost '${o.vhost}'`;
  switch (command) {
    case 'purge_queue': {
      const path = queuePath();
      info(`Purging queue '${args[0]}' in vhost '${o.vhost}' ...`);
      await api.request('DELETE', `${path}/contents`, undefined, {}, queue);
      return;
    }
    case 'delete_queue': {
      const path = queuePath();
      info(`Deleting queue '${args[0]}' on vhost '${o.vhost}' ...`);
      const { messages } = (await api.request('GET', path, undefined, {}, queue)) as { messages: number };
      const flags = [o.ifEmpty ? 'if-empty=true' : '', o.ifUnused ? 'if-unused=true' : ''].filter((f) => f !== '').join('&');
      await api.request('DELETE', flags === '' ? path : `${path}?${flags}`, undefined, {}, queue);
      info(`Queue was successfully deleted with ${messages} message${messages === 1 ? '' : 's'}`);
      return;
    }
    case 'close_connection': {
      if (args.length !== 2) throw usage('close_connection takes a connection name and a reason');
      info(`Closing connection ${args[0]}, reason: ${args[1]}...`);
      await api.request('DELETE', `/api/connections/${encodeURIComponent(args[0])}`, undefined, { 'X-Reason': args[1] }, `connection '${args[0]}'`);
      return;
    }
    case 'export_definitions': {
      if (args.length !== 1) throw usage('export_definitions takes a file (- for stdout)');
      const text = `${JSON.stringify(await api.request('GET', '/api/definitions'), null, 2)}\n`;
      if (args[0] === '-') process.stdout.write(text);
      else {
        writeFileSync(args[0], text);
        info(`Exported definitions for virtual hosts and users to a file at "${args[0]}"`);
      }
      return;
    }
    case 'import_definitions': {
      if (args.length !== 1) throw usage('import_definitions takes a file');
      let defs: unknown;
      try {
        defs = JSON.parse(readFileSync(args[0], 'utf8'));
      } catch (err: any) {
        throw new Failure(1, `cannot read ${args[0]}: ${err.message}`);
      }
      info(`Importing definitions in JSON from a file at "${args[0]}" ...`);
      await api.request('POST', '/api/definitions', defs);
      info('Successfully started definition import. This process is asynchronous and can take some time.');
      return;
    }
    case 'status':
      return status(api, o);
    case 'reset': {
      if (args.length !== 0) throw usage('reset takes no arguments (-p VHOST for one vhost)');
      info(`Resetting ${o.vhostGiven ? `vhost '${o.vhost}'` : 'every vhost'} ...`);
      const body = { ...(o.vhostGiven ? { vhost: o.vhost } : {}), keep_connections: o.keepConnections };
      await api.request('POST', '/api/warren/reset', body, {}, `vhost '${o.vhost}'`);
      return;
    }
    case 'fault':
      return fault(api, args, o, info);
    default:
      throw usage(`unknown command '${command}'`);
  }
}

async function fault(api: ApiClient, args: string[], o: Options, info: (line: string) => void): Promise<void> {
  let request;
  try {
    request = faultRequest(args[0], args.slice(1), o.fault);
  } catch (err) {
    throw err instanceof FaultUsageError ? usage(err.message) : err;
  }
  info(request.line);
  const reply = await api.request('POST', request.path, request.body, {}, request.missing);
  if (o.json) {
    console.log(JSON.stringify(reply ?? {}));
    return;
  }
  const done = request.done(reply);
  if (done !== undefined) info(done);
}

function printTable(rows: Row[], items: string[], read: Record<string, (row: Row) => unknown>, o: Options): void {
  const table = rows.map((row) => items.map((item) => read[item](row)));
  if (o.json) {
    console.log(JSON.stringify(table.map((values) => Object.fromEntries(items.map((item, i) => [item, values[i] ?? null])))));
    return;
  }
  if (o.headers) console.log(items.join('\t'));
  for (const values of table) console.log(values.map(cell).join('\t'));
}

/**
 * Users, vhosts and permissions, with rabbitmqctl's arguments and lines.
 * False when `command` is none of them.
 */
async function accessCommand(api: ApiClient, command: string, args: string[], o: Options, info: (line: string) => void): Promise<boolean> {
  const arity = (n: number, what: string) => {
    if (args.length !== n) throw usage(`${command} takes ${what}`);
  };
  const user = (name: string) => `/api/users/${encodeURIComponent(name)}`;
  const vhost = (name: string) => `/api/vhosts/${encodeURIComponent(name)}`;
  const permission = (name: string) => `/api/permissions/${encodeURIComponent(o.vhost)}/${encodeURIComponent(name)}`;
  const tagsOf = async (name: string) => ((await api.request('GET', user(name), undefined, {}, `user '${name}'`)) as { tags: string[] }).tags;
  switch (command) {
    case 'list_user_permissions': {
      arity(1, 'one user name');
      info(`Listing permissions for user "${args[0]}" ...`);
      const rows = (await api.request('GET', `${user(args[0])}/permissions`, undefined, {}, `user '${args[0]}'`)) as Row[];
      printTable(rows, ['vhost', 'configure', 'write', 'read'], fields('vhost', 'configure', 'write', 'read'), o);
      return true;
    }
    case 'add_user': {
      arity(2, 'a user name and a password');
      info(`Adding user "${args[0]}" ...`);
      if (await api.exists(user(args[0]))) throw new Failure(1, `user_already_exists: ${args[0]}`);
      await api.request('PUT', user(args[0]), { password: args[1], tags: [] });
      info("Done. Don't forget to grant the user permissions to some virtual hosts! See 'rabbitmqctl help set_permissions' to learn more.");
      return true;
    }
    case 'delete_user':
      arity(1, 'one user name');
      info(`Deleting user "${args[0]}" ...`);
      await api.request('DELETE', user(args[0]), undefined, {}, `user '${args[0]}'`);
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
      await api.request('PUT', permission(args[0]), { configure: args[1], write: args[2], read: args[3] });
      return true;
    }
    case 'clear_permissions':
      arity(1, 'one user name');
      info(`Clearing permissions for user "${args[0]}" in vhost "${o.vhost}" ...`);
      await api.request('DELETE', permission(args[0]), undefined, {}, `permissions of user '${args[0]}' in vhost '${o.vhost}'`);
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
      await api.request('DELETE', vhost(args[0]), undefined, {}, `vhost '${args[0]}'`);
      return true;
    case 'trace_on':
    case 'trace_off': {
      arity(0, 'no arguments (the vhost is -p VHOST)');
      const on = command === 'trace_on';
      info(`${on ? 'Starting' : 'Stopping'} tracing for vhost "${o.vhost}" ...`);
      // A PUT replaces description and tags: they go back as they are.
      const { description, tags } = (await api.request('GET', vhost(o.vhost), undefined, {}, `vhost '${o.vhost}'`)) as { description: string; tags: string[] };
      await api.put(vhost(o.vhost), { description, tags, tracing: on });
      info(`Trace ${on ? 'enabled' : 'disabled'} for vhost ${o.vhost}`);
      return true;
    }
    default:
      return false;
  }
}

async function status(api: ApiClient, o: Options): Promise<void> {
  const overview = (await api.request('GET', '/api/overview')) as Row;
  const [node] = (await api.request('GET', '/api/nodes')) as Row[];
  if (o.json) {
    console.log(JSON.stringify({ overview, node }));
    return;
  }
  const totals = overview.object_totals as Row;
  const queued = overview.queue_totals as Row;
  const lines = [
    `Status of node ${String(overview.node)} ...`,
    '',
    'Runtime',
    '',
    `OS PID: ${String(node.os_pid)}`,
    `Uptime (seconds): ${Math.floor(Number(node.uptime) / 1000)}`,
    `Product name: ${String(overview.product_name)}`,
    `Product version: ${String(overview.product_version)}`,
    `RabbitMQ version (API compatibility): ${String(overview.rabbitmq_version)}`,
    '',
    'Memory',
    '',
    `Total memory used: ${(Number(node.mem_used) / 1024 ** 3).toFixed(4)} gb`,
    `Memory high watermark: ${(Number(node.mem_limit) / 1024 ** 3).toFixed(4)} gb`,
    `Alarms: ${[...(node.mem_alarm === true ? ['memory'] : []), ...(node.disk_free_alarm === true ? ['disk'] : [])].join(', ') || '(none)'}`,
    '',
    'Free Disk Space',
    '',
    `Low free disk space watermark: ${(Number(node.disk_free_limit) / 1e9).toFixed(4)} gb`,
    `Free disk space: ${node.disk_free === undefined ? '(in memory: no data dir)' : `${(Number(node.disk_free) / 1e9).toFixed(4)} gb`}`,
    '',
    'Listeners',
    '',
    ...(overview.listeners as Row[]).map((l) => `Interface: ${String(l.ip_address)}, port: ${String(l.port)}, protocol: ${String(l.protocol)}`),
    '',
    'Totals',
    '',
    `Connections: ${String(totals.connections)}`,
    `Channels: ${String(totals.channels)}`,
    `Queues: ${String(totals.queues)}`,
    `Consumers: ${String(totals.consumers)}`,
    `Messages: ${String(queued.messages)} (ready ${String(queued.messages_ready)}, unacknowledged ${String(queued.messages_unacknowledged)})`,
  ];
  console.log(lines.join('\n'));
}

/** A table cell as rabbitmqctl prints it: lists of names as [a, b], empty tables as [], others as JSON. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return `[${value.join(', ')}]`;
  if (typeof value === 'object') {
    if (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0) return '[]';
    return JSON.stringify(value);
  }
  return String(value);
}
