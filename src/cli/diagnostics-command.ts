/**
 * rabbitmq-diagnostics' health checks and reports for `warren ctl` (a
 * container's or a CI script's "is it up?"): ping, check_running,
 * check_local_alarms, check_alarms, check_port_connectivity,
 * check_virtual_hosts, check_protocol_listener, check_port_listener,
 * check_certificate_expiration, the quorum and mirror-sync checks (a single
 * node: they do not apply), is_running, is_booting, listeners, alarms,
 * server_version and rabbitmqctl's deprecated node_health_check, with their
 * lines, through /api/nodes, /api/overview and /api/health/checks. A failed
 * check exits 1 with its reason.
 */
import net from 'node:net';
import { EX_UNAVAILABLE, EX_USAGE, Failure, refusedWith, usage, type ApiClient } from './api-client.js';
import type { Row, TableFlags } from './table.js';

export const DIAGNOSTICS_USAGE = `  ping   check_running   check_local_alarms   check_alarms   check_port_connectivity   check_virtual_hosts  (rabbitmq-diagnostics')
  check_protocol_listener PROTOCOL   check_port_listener PORT   check_certificate_expiration [--within N] [--unit days|weeks|months|years]
  check_if_node_is_quorum_critical   check_if_node_is_mirror_sync_critical   is_running   is_booting   listeners   alarms   server_version
  node_health_check (rabbitmqctl's, deprecated)`;

export interface DiagnosticsFlags extends TableFlags {
  /** check_certificate_expiration --within, --unit */
  within: string | undefined;
  unit: string | undefined;
}

interface Node {
  name: string;
  running: boolean;
  mem_alarm: boolean;
  disk_free_alarm: boolean;
}

/** `info`: the banner line (-q drops it); `say`: the result (a check's outcome, a report's lines) */
type Check = (api: ApiClient, node: Node, info: Say, say: Say, args: string[], o: DiagnosticsFlags) => Promise<void>;
type Say = (line: string) => void;

/** Runs `command` if it is one of these; false when it is not. */
export async function diagnosticsCommand(api: ApiClient, command: string, args: string[], o: DiagnosticsFlags, info: (line: string) => void): Promise<boolean> {
  if (!Object.hasOwn(CHECKS, command)) return false;
  const [arity, check] = CHECKS[command];
  if (args.length !== arity.length) throw usage(arity.length === 0 ? `${command} takes no arguments` : `${command} takes ${arity.join(' and ')}`);
  const [node] = (await api.request('GET', '/api/nodes')) as Node[];
  const say = (line: string) => {
    if (!o.json) console.log(line);
  };
  await check(api, node, info, say, args, o);
  return true;
}

/** Each command: the arguments it takes (named for the usage line), and what it does. */
const CHECKS: Record<string, [string[], Check]> = {
  // The node answered /api/nodes: that is the ping.
  ping: [[], async (_api, _node, _info, say) => say('Ping succeeded')],
  check_running: [[], async (_api, node, info, say) => {
    info(`Checking if RabbitMQ is running on node ${node.name} ...`);
    if (!node.running) throw new Failure(EX_UNAVAILABLE, `RabbitMQ on node ${node.name} is not running or has not fully booted yet`);
    say(`RabbitMQ on node ${node.name} is fully booted and running`);
  }],
  check_local_alarms: [[], (api, node, info, say) => alarmCheck(api, node, info, say, 'local-alarms', 'no local alarms')],
  check_alarms: [[], (api, node, info, say) => alarmCheck(api, node, info, say, 'alarms', 'no alarms, local or clusterwide')],
  check_port_connectivity: [[], async (api, node, info, say) => {
    info(`Testing TCP connections to all active listeners on node ${node.name} ...`);
    const { listeners } = (await api.request('GET', '/api/overview')) as { listeners: { ip_address: string; port: number }[] };
    const failed: number[] = [];
    for (const { ip_address, port } of listeners) if (!(await connects(ip_address, port))) failed.push(port);
    if (failed.length > 0) throw new Failure(EX_UNAVAILABLE, `Connection to ports ${failed.join(', ')} on node ${node.name} failed`);
    say(`Successfully connected to ports ${listeners.map((l) => l.port).join(', ')} on node ${node.name}.`);
  }],
  check_virtual_hosts: [[], async (api, node, info, say) => {
    info(`Checking if all vhosts are running on node ${node.name} ...`);
    await api.request('GET', '/api/health/checks/virtual-hosts');
    say(`Node ${node.name} reported all vhosts as running`);
  }],
  check_protocol_listener: [['a protocol'], async (api, node, info, say, [protocol]) => {
    info(`Asking node ${node.name} if there's an active listener for protocol ${protocol} ...`);
    const listeners = await running(api, node);
    if (!(await api.check(`/api/health/checks/protocol-listener/${encodeURIComponent(protocol)}`)).ok) {
      throw new Failure(EX_UNAVAILABLE, `No listener for protocol ${protocol} is active on node ${node.name}. Found listeners for the following protocols: ${listeners.map((l) => l.protocol).join(', ')}`);
    }
    say(`A listener for protocol ${protocol} is running on node ${node.name}.`);
  }],
  check_port_listener: [['a port'], async (api, node, info, say, [port]) => {
    if (!/^\d+$/.test(port)) throw usage(`'${port}' is not a port number`);
    info(`Asking node ${node.name} if there's an active listener on port ${port} ...`);
    const listeners = await running(api, node);
    if (!(await api.check(`/api/health/checks/port-listener/${port}`)).ok) {
      throw new Failure(EX_UNAVAILABLE, `No listener for port ${port} is active on node ${node.name}. Found listeners that use the following ports: ${listeners.map((l) => l.port).join(', ')}`);
    }
    say(`A listener for port ${port} is running on node ${node.name}.`);
  }],
  check_certificate_expiration: [[], async (api, node, info, say, _args, o) => {
    const within = o.within ?? '4';
    const unit = o.unit ?? 'weeks';
    info(`Checking certificate expiration on node ${node.name} ...`);
    await running(api, node);
    // a unit or number the broker refuses: rabbitmq-diagnostics' argument validation
    const { ok, body } = await api.check(`/api/health/checks/certificate-expiration/${encodeURIComponent(within)}/${encodeURIComponent(unit)}`).catch(refusedWith(EX_USAGE));
    if (!ok) {
      const expired = ((body as { expired?: Row[] }).expired ?? []).map((l) => `Certificate in listener on port ${String(l.port)} (${String(l.protocol)}) expires within ${within} ${unit}.`);
      throw new Failure(EX_UNAVAILABLE, `Certificates expiring on node ${node.name}:\n${expired.join('\n')}`);
    }
    say(`No certificates are expiring within ${within} ${unit}.`);
  }],
  check_if_node_is_quorum_critical: [[], async (_api, node, info, say) => {
    info(`Checking if node ${node.name} is critical for quorum of any quorum queues ...`);
    say(`Node ${node.name} seems to be the only one in a single node cluster, the check does not apply`);
  }],
  check_if_node_is_mirror_sync_critical: [[], async (_api, node, info, say) => {
    info(`Checking if node ${node.name} is critical for data safety of any classic mirrored queues ...`);
    say(`Node ${node.name} seems to be the only one in a single node cluster, the check does not apply`);
  }],
  // is_running and is_booting report; they do not fail
  is_running: [[], async (_api, node, info, say) => {
    info(`Asking node ${node.name} for its status ...`);
    say(node.running ? `RabbitMQ on node ${node.name} is fully booted and running` : `RabbitMQ on node ${node.name} is not running or has not fully booted yet (check with is_booting)`);
  }],
  is_booting: [[], async (_api, node, info, say) => {
    info(`Asking node ${node.name} for its boot status ...`);
    say(`RabbitMQ on node ${node.name} is fully booted (check with is_running), stopped or has not started booting yet`);
  }],
  listeners: [[], async (api, node, info, say) => {
    info(`Asking node ${node.name} to report its protocol listeners ...`);
    for (const l of await running(api, node)) say(`Interface: ${l.interface}, port: ${l.port}, protocol: ${l.protocol}, purpose: ${l.purpose}`);
  }],
  alarms: [[], async (_api, node, info, say) => {
    info(`Asking node ${node.name} to report any known resource alarms ...`);
    const alarms = alarmLines(node);
    if (alarms.length === 0) say(`Node ${node.name} reported no alarms, local or clusterwide`);
    for (const line of alarms) say(line);
  }],
  server_version: [[], async (api, node, info, say) => {
    info(`Asking node ${node.name} for its RabbitMQ version...`);
    say(String(((await api.request('GET', '/api/overview')) as Row).rabbitmq_version));
  }],
  node_health_check: [[], async (api, node, info, say) => {
    info('This command is DEPRECATED and will be removed in a future version.');
    info(`Checking health of node ${node.name} ...`);
    await running(api, node);
    if (node.mem_alarm || node.disk_free_alarm) {
      const resources = [...(node.mem_alarm ? ['memory'] : []), ...(node.disk_free_alarm ? ['disk'] : [])];
      throw new Failure(EX_UNAVAILABLE, `health check failed. Message: resource alarm(s) in effect: ${resources.join(', ')}`);
    }
    say('Health check passed');
  }],
};

/** What rabbitmqctl's listeners say each protocol is for. */
const PURPOSES: Record<string, string> = { amqp: 'AMQP 0-9-1', 'amqp/ssl': 'AMQP 0-9-1 over TLS', http: 'HTTP API' };

export interface ListenerLine {
  interface: string;
  node: string;
  port: number;
  protocol: string;
  purpose: string;
}

/** The node's listeners as rabbitmqctl reports them (an IPv6 address in brackets). */
export function listenerLines(overview: Row, node: string): ListenerLine[] {
  return (overview.listeners as Row[]).map((l) => ({
    interface: String(l.ip_address).includes(':') ? `[${String(l.ip_address)}]` : String(l.ip_address),
    node,
    port: Number(l.port),
    protocol: String(l.protocol),
    purpose: PURPOSES[String(l.protocol)] ?? String(l.protocol),
  }));
}

/** The alarms in effect, as rabbitmqctl words them. */
export function alarmLines(node: Node | Row): string[] {
  return [...(node.mem_alarm === true ? [`Memory alarm on node ${String(node.name)}`] : []), ...(node.disk_free_alarm === true ? [`Free disk space alarm on node ${String(node.name)}`] : [])];
}

/** The listeners, for a command that needs the app running (as rabbitmqctl's do). */
async function running(api: ApiClient, node: Node): Promise<ListenerLine[]> {
  if (!node.running) throw new Failure(EX_UNAVAILABLE, "this command requires the 'rabbit' app to be running on the target node. Start it with 'warren ctl start_app'.");
  return listenerLines((await api.request('GET', '/api/overview')) as Row, node.name);
}

async function alarmCheck(api: ApiClient, node: Node, info: Say, say: Say, check: string, none: string): Promise<void> {
  info(`Asking node ${node.name} to report any local resource alarms ...`);
  const { ok, body } = await api.check(`/api/health/checks/${check}`);
  if (!ok) {
    const resources = ((body as { alarms?: { resource: string }[] }).alarms ?? []).map((a) => a.resource);
    throw new Failure(EX_UNAVAILABLE, `Node ${node.name} reported alarms: ${resources.join(', ')}`);
  }
  say(`Node ${node.name} reported ${none}`);
}

/** Whether a TCP connection to the listener opens (a wildcard address is tried on loopback). */
function connects(address: string, port: number): Promise<boolean> {
  const host = address === '::' || address === '0.0.0.0' ? '127.0.0.1' : address;
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 5000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}
