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

export const CTL_USAGE = `Usage: warren ctl [--url URL] [-q] [--no-table-headers] [--formatter json] COMMAND [-p VHOST] ...
  --url URL          the management API (default ${'http://guest:guest@127.0.0.1:15672'})
  list_queues [INFO...]  list_exchanges [INFO...]  list_bindings [INFO...]  list_connections [INFO...]
  list_channels [INFO...]  list_consumers [INFO...]  list_vhosts [INFO...]
  purge_queue QUEUE   delete_queue QUEUE [--if-empty] [--if-unused]   close_connection NAME REASON
  export_definitions FILE (- = stdout)   import_definitions FILE   status
  reset [-p VHOST] [--keep-connections]  (test rigs: every queue, message, exchange and binding goes; clients closed with 320)`;

const DEFAULT_URL = 'http://guest:guest@127.0.0.1:15672';

class Failure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const usage = (message: string) => new Failure(2, `${message} (see warren ctl --help)`);

type Row = Record<string, unknown>;

/** One list command: its API path, rabbitmqctl's default items, and how each item is read from the API's JSON. */
interface Listing {
  what: string;
  path: (vhost: string) => string;
  perVhost: boolean;
  defaults: string[];
  items: Record<string, (row: Row) => unknown>;
}

const field = (name: string) => (row: Row) => row[name];
const fields = (...names: string[]) => Object.fromEntries(names.map((n) => [n, field(n)]));

const LISTINGS: Record<string, Listing> = {
  list_queues: {
    what: 'queues',
    path: (vhost) => `/api/queues/${encodeURIComponent(vhost)}`,
    perVhost: true,
    defaults: ['name', 'messages'],
    items: {
      ...fields('name', 'vhost', 'durable', 'auto_delete', 'arguments', 'policy', 'exclusive', 'exclusive_consumer_tag', 'messages_ready', 'messages_unacknowledged', 'messages', 'consumers', 'state', 'type'),
      consumer_utilisation: (row) => row.consumer_utilisation ?? '',
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
      ...fields('name', 'user', 'vhost', 'host', 'port', 'peer_host', 'peer_port', 'state', 'channels', 'protocol', 'auth_mechanism', 'ssl', 'frame_max', 'channel_max', 'timeout', 'client_properties', 'connected_at', 'recv_oct', 'send_oct', 'type'),
      pid: field('name'),
    },
  },
  list_channels: {
    what: 'channels',
    path: () => '/api/channels',
    perVhost: false,
    defaults: ['pid', 'user', 'consumer_count', 'messages_unacknowledged'],
    items: {
      ...fields('name', 'number', 'user', 'vhost', 'consumer_count', 'messages_unacknowledged', 'prefetch_count', 'global_prefetch_count', 'confirm', 'transactional', 'state'),
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
    info(`Listing ${listing.what}${listing.perVhost ? ` for vhost ${o.vhost}` : ''} ...`);
    const rows = (await api.request('GET', listing.path(o.vhost), undefined, {}, `vhost '${o.vhost}'`)) as Row[];
    const table = rows.map((row) => items.map((item) => listing.items[item](row)));
    if (o.json) {
      console.log(JSON.stringify(table.map((values) => Object.fromEntries(items.map((item, i) => [item, values[i] ?? null])))));
      return;
    }
    if (o.headers) console.log(items.join('\t'));
    for (const values of table) console.log(values.map(cell).join('\t'));
    return;
  }
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
    default:
      throw usage(`unknown command '${command}'`);
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
    `Alarms: ${node.mem_alarm === true ? 'memory' : '(none)'}`,
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

/** A table cell as rabbitmqctl prints it: empty tables as [], others as JSON. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') {
    if (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0) return '[]';
    return JSON.stringify(value);
  }
  return String(value);
}

class ApiClient {
  private readonly base: string;
  private readonly auth: string;

  constructor(url: string) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw usage(`--url: not a URL: '${url}'`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usage(`--url must be http:// or https://, got '${url}'`);
    const user = parsed.username === '' ? 'guest' : decodeURIComponent(parsed.username);
    const password = parsed.username === '' ? 'guest' : decodeURIComponent(parsed.password);
    this.auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    parsed.username = '';
    parsed.password = '';
    this.base = parsed.toString().replace(/\/+$/, '');
  }

  /** `missing` names what a 404 means ("queue 'q' in vhost '/'"). */
  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, missing = 'the object'): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: { authorization: this.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err: any) {
      throw new Failure(1, `cannot reach the management API at ${this.base}: ${err?.cause?.code ?? err?.cause?.message ?? err?.message}`);
    }
    const text = await res.text();
    let json: any;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    if (res.ok) return json;
    if (res.status === 401) throw new Failure(1, `${this.base}: login refused (check the user and password in --url)`);
    if (res.status === 404) throw new Failure(1, `${missing} not found`);
    throw new Failure(1, `${res.status} ${json?.error ?? res.statusText}: ${json?.reason ?? text}`);
  }
}
