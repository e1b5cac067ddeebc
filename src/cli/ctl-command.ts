/**
 * `warren ctl [--url http://user:pass@host:port] COMMAND`: rabbitmqctl's
 * everyday commands against a running broker, through its management API.
 * The list_* commands take rabbitmqctl's info item names and print its
 * tab-separated table (a header line unless --no-table-headers; -q drops the
 * "Listing ..." line), or JSON with --formatter json. Same conventions as
 * the broker runner: one line on stderr; the exit codes are rabbitmqctl's
 * (api-client.ts: 64 for a usage error, 69 when the broker refuses or cannot
 * be reached, 65, 67 and 70 where rabbitmqctl gives those).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACCESS_USAGE, accessCommand, type AccessFlags } from './access-command.js';
import { DIAGNOSTICS_USAGE, diagnosticsCommand, type DiagnosticsFlags } from './diagnostics-command.js';
import { FAULT_USAGE, FaultUsageError, faultRequest, type FaultFlags } from './fault-command.js';
import { ApiClient, EX_DATAERR, EX_SOFTWARE, EX_USAGE, Failure, NotFound, refusedWith, usage } from './api-client.js';
import { NODE_USAGE, nodeCommand } from './node-command.js';
import { PARAMETER_USAGE, parameterCommand } from './parameter-command.js';
import { POLICY_USAGE, policyCommand } from './policy-command.js';
import { field, fields, printTable, type Row } from './table.js';

export const CTL_USAGE = `Usage: warren ctl [--url URL] [-q] [--no-table-headers] [--formatter json] COMMAND [-p VHOST] ...
  --url URL          the management API (default ${'http://guest:guest@127.0.0.1:15672'})
  list_queues [INFO...]  list_exchanges [INFO...]  list_bindings [INFO...]  list_connections [INFO...]
  list_channels [INFO...]  list_consumers [INFO...]  list_vhosts [INFO...]  list_permissions
${ACCESS_USAGE}
  purge_queue QUEUE   delete_queue QUEUE [--if-empty] [--if-unused]   close_connection NAME REASON
  close_all_connections [-p VHOST | --global] [--limit N] [--per-connection-delay MS] REASON
${POLICY_USAGE}
${PARAMETER_USAGE}
  export_definitions FILE (- = stdout)   import_definitions FILE
${NODE_USAGE}
${DIAGNOSTICS_USAGE}
  reset [-p VHOST] [--keep-connections]  (test rigs: every queue, message, exchange, binding and policy goes; clients closed with 320)
${FAULT_USAGE}`;

const DEFAULT_URL = 'http://guest:guest@127.0.0.1:15672';


/** One list command: its API path, rabbitmqctl's default items, and how each item is read from the API's JSON. */
interface Listing {
  what: string;
  path: (vhost: string) => string;
  perVhost: boolean;
  /** rabbitmqctl's "Listing ..." line when it is not "Listing WHAT [for vhost V] ..." */
  heading?: (vhost: string) => string;
  defaults: string[];
  items: Record<string, (row: Row) => unknown>;
  /** rabbitmqctl prints an empty line for no rows (else nothing) */
  blankWhenEmpty?: boolean;
}


/** list_policies and list_operator_policies: `heading` as rabbitmqctl words it. */
function policyListing(what: string, base: string, heading: string): Listing {
  return {
    what,
    path: (vhost) => `${base}/${encodeURIComponent(vhost)}`,
    perVhost: true,
    heading: (vhost) => `Listing ${heading} for vhost "${vhost}" ...`,
    blankWhenEmpty: true,
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
    heading: (vhost) => `Listing bindings for vhost ${vhost}...`,
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
    heading: (vhost) => `Listing consumers in vhost ${vhost} ...`,
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
  list_feature_flags: {
    what: 'feature flags',
    path: () => '/api/feature-flags',
    perVhost: false,
    defaults: ['name', 'state'],
    items: fields('name', 'state', 'stability', 'provided_by', 'desc', 'doc_url'),
  },
  list_policies: policyListing('policies', '/api/policies', 'policies'),
  list_operator_policies: policyListing('operator policies', '/api/operator-policies', 'operator policy overrides'),
  list_topic_permissions: {
    what: 'topic permissions',
    blankWhenEmpty: true,
    path: (vhost) => `/api/vhosts/${encodeURIComponent(vhost)}/topic-permissions`,
    perVhost: true,
    heading: (vhost) => `Listing topic permissions for vhost "${vhost}" ...`,
    defaults: ['user', 'exchange', 'write', 'read'],
    items: fields('user', 'exchange', 'write', 'read'),
  },
  list_permissions: {
    what: 'permissions',
    blankWhenEmpty: true,
    path: (vhost) => `/api/vhosts/${encodeURIComponent(vhost)}/permissions`,
    perVhost: true,
    heading: (vhost) => `Listing permissions for vhost "${vhost}" ...`,
    defaults: ['user', 'configure', 'write', 'read'],
    items: fields('user', 'configure', 'write', 'read'),
  },
};

interface Options extends AccessFlags, DiagnosticsFlags {
  quiet: boolean;
  /** list_queues --offline: none */
  offline: boolean;
  ifEmpty: boolean;
  ifUnused: boolean;
  /** -p was given (reset then covers that vhost only) */
  vhostGiven: boolean;
  keepConnections: boolean;
  /** set_policy's */
  priority: string | undefined;
  applyTo: string | undefined;
  /** close_all_connections' */
  limit: string | undefined;
  perConnectionDelay: string | undefined;
  /** await_startup's, seconds */
  timeout: string | undefined;
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
    if (values.formatter !== undefined && !['json', 'table', 'csv'].includes(values.formatter)) {
      throw usage(`unknown formatter '${values.formatter}' (json, table or csv)`);
    }
    const api = new ApiClient(values.url ?? DEFAULT_URL);
    // -s, --silent: rabbitmqctl's -q and --no-table-headers together
    const silent = values.silent === true;
    const options: Options = {
      quiet: values.quiet === true || silent,
      headers: values['no-table-headers'] !== true && !silent,
      json: values.formatter === 'json',
      csv: values.formatter === 'csv',
      offline: values.offline === true,
      vhost: values.vhost ?? '/',
      ifEmpty: values['if-empty'] === true,
      ifUnused: values['if-unused'] === true,
      vhostGiven: values.vhost !== undefined,
      keepConnections: values['keep-connections'] === true,
      description: values.description,
      tags: values.tags,
      user: values.user,
      global: values.global === true,
      priority: values.priority,
      applyTo: values['apply-to'],
      limit: values.limit,
      perConnectionDelay: values['per-connection-delay'],
      timeout: values.timeout,
      within: values.within,
      unit: values.unit,
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
    return err instanceof Failure ? err.code : EX_SOFTWARE;
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
        silent: { type: 'boolean', short: 's' },
        // rabbitmqctl's target node: warren ctl's is the broker at --url, whatever the name
        node: { type: 'string', short: 'n' },
        longnames: { type: 'boolean', short: 'l' },
        // list_queues': one node, so every queue is online and local, none offline
        online: { type: 'boolean' },
        offline: { type: 'boolean' },
        local: { type: 'boolean' },
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
        global: { type: 'boolean' },
        limit: { type: 'string' },
        'per-connection-delay': { type: 'string' },
        // list_unresponsive_queues': every queue answers within it
        'queue-timeout': { type: 'string' },
        timeout: { type: 'string', short: 't' },
        // check_certificate_expiration's
        within: { type: 'string' },
        unit: { type: 'string' },
        // warren ctl fault ..., list_user_limits --user
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
    if (!o.quiet && !o.json && !o.csv) console.log(line);
  };
  const listing = LISTINGS[command];
  if (listing !== undefined) {
    const items = args.length > 0 ? args : listing.defaults;
    const unknown = items.find((item) => !Object.hasOwn(listing.items, item));
    if (unknown !== undefined) throw usage(`info key '${unknown}' is not one of ${Object.keys(listing.items).join(', ')}`);
    // rabbitmqctl says its timeout first for this one list alone (-t, 60 s by default)
    if (command === 'list_queues') info(`Timeout: ${Number(o.timeout ?? 60).toFixed(1)} seconds ...`);
    info(listing.heading?.(o.vhost) ?? `Listing ${listing.what}${listing.perVhost ? ` for vhost ${o.vhost}` : ''} ...`);
    const rows = (await api.request('GET', listing.path(o.vhost), undefined, {}, `Virtual host '${o.vhost}' does not exist`, EX_DATAERR).catch((err) => {
      // rabbitmqctl lists no queues, exchanges, bindings or consumers of a vhost that is not there; its other lists refuse it
      if (err instanceof NotFound && listing.perVhost && !listing.blankWhenEmpty) return [];
      throw err;
    })) as Row[];
    printTable(command === 'list_queues' && o.offline ? [] : rows, items, listing.items, o, listing.blankWhenEmpty);
    return;
  }
  if (await accessCommand(api, command, args, o, info)) return;
  if (await policyCommand(api, command, args, o, info)) return;
  if (await diagnosticsCommand(api, command, args, o, info)) return;
  if (await nodeCommand(api, command, args, o, info)) return;
  if (await parameterCommand(api, command, args, o, info)) return;
  const queuePath = () => {
    if (args.length !== 1) throw usage(`${command} takes one queue name`);
    return `/api/queues/${encodeURIComponent(o.vhost)}/${encodeURIComponent(args[0])}`;
  };
  const queue = `queue '${args[0]}' in vhost '${o.vhost}' not found`;
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
      // rabbitmqctl exits 64 for a queue not found and for one not empty or unused
      const { messages } = (await api.request('GET', path, undefined, {}, queue, EX_USAGE)) as { messages: number };
      const flags = [o.ifEmpty ? 'if-empty=true' : '', o.ifUnused ? 'if-unused=true' : ''].filter((f) => f !== '').join('&');
      await api.request('DELETE', flags === '' ? path : `${path}?${flags}`, undefined, {}, queue, EX_USAGE).catch(refusedWith(EX_USAGE));
      info(`Queue was successfully deleted with ${messages} message${messages === 1 ? '' : 's'}`);
      return;
    }
    case 'close_connection': {
      if (args.length !== 2) throw usage('close_connection takes a connection name and a reason');
      info(`Closing connection ${args[0]}, reason: ${args[1]}...`);
      await api.request('DELETE', `/api/connections/${encodeURIComponent(args[0])}`, undefined, { 'X-Reason': args[1] }, `connection '${args[0]}'`);
      return;
    }
    case 'close_all_connections':
      return closeAll(api, args, o, info);
    case 'export_definitions': {
      if (args.length !== 1) throw usage('export_definitions takes a file (- for stdout)');
      const text = `${JSON.stringify(await api.request('GET', '/api/definitions'), null, 2)}\n`;
      if (args[0] === '-') process.stdout.write(text);
      else {
        try {
          writeFileSync(args[0], text);
        } catch (err: any) {
          throw new Failure(EX_DATAERR, `cannot write ${args[0]}: ${err.message}`);
        }
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
        throw new Failure(EX_DATAERR, `cannot read ${args[0]}: ${err.message}`);
      }
      info(`Importing definitions in JSON from a file at "${args[0]}" ...`);
      await api.request('POST', '/api/definitions', defs);
      info('Successfully started definition import. This process is asynchronous and can take some time.');
      return;
    }
    case 'reset': {
      if (args.length !== 0) throw usage('reset takes no arguments (-p VHOST for one vhost)');
      const [node] = (await api.request('GET', '/api/nodes')) as { name: string; running: boolean }[];
      if (!node.running) info(`Resetting node ${node.name} ...`);
      else info(`Resetting ${o.vhostGiven ? `vhost '${o.vhost}'` : 'every vhost'} ...`);
      const body = { ...(o.vhostGiven ? { vhost: o.vhost } : {}), keep_connections: o.keepConnections };
      await api.request('POST', '/api/warren/reset', body, {}, `vhost '${o.vhost}' not found`);
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

/** rabbitmqctl close_all_connections: a vhost's connections (or the node's, --global), up to --limit, each with 320 and REASON. */
async function closeAll(api: ApiClient, args: string[], o: Options, info: (line: string) => void): Promise<void> {
  if (args.length !== 1) throw usage('close_all_connections takes a reason');
  const count = (option: string, text: string | undefined, absent: number) => {
    if (text === undefined) return absent;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) throw usage(`${option} must be a whole number, got '${text}'`);
    return n;
  };
  const limit = count('--limit', o.limit, Infinity);
  const delay = count('--per-connection-delay', o.perConnectionDelay, 0);
  const reason = args[0];
  if (o.global) {
    const { node } = (await api.request('GET', '/api/overview')) as { node: string };
    info(`Closing all connections to node ${node} (across all vhosts), reason: ${reason}...`);
  } else {
    info(`Closing ${limit === Infinity ? 'all' : limit} connections in vhost ${o.vhost}, reason: ${reason}...`);
  }
  const path = o.global ? '/api/connections' : `/api/vhosts/${encodeURIComponent(o.vhost)}/connections`;
  // a vhost that is not there has no connections: rabbitmqctl closes none
  const all = (await api.request('GET', path).catch((err) => {
    if (err instanceof NotFound) return [];
    throw err;
  })) as { name: string }[];
  const conns = all.slice(0, limit);
  let closed = 0;
  for (const [i, { name }] of conns.entries()) {
    if (i > 0 && delay > 0) await sleep(delay);
    // one that went meanwhile is not counted
    if (await api.deleteIfExists(`/api/connections/${encodeURIComponent(name)}`, { 'X-Reason': reason })) closed++;
  }
  info(`Closed ${closed} connections`);
}
