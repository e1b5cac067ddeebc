/**
 * rabbitmq-diagnostics' health checks for `warren ctl` (a container's or a CI
 * script's "is it up?"): ping, check_running, check_local_alarms,
 * check_alarms, check_port_connectivity, check_virtual_hosts, with its lines,
 * through /api/nodes, /api/overview and /api/health/checks. A failed check
 * exits 1 with its reason.
 */
import net from 'node:net';
import { Failure, usage, type ApiClient } from './api-client.js';

export const DIAGNOSTICS_USAGE = `  ping   check_running   check_local_alarms   check_alarms   check_port_connectivity   check_virtual_hosts  (rabbitmq-diagnostics')`;

interface Node {
  name: string;
  running: boolean;
}

/** Runs `command` if it is one of these; false when it is not. */
export async function diagnosticsCommand(api: ApiClient, command: string, args: string[], info: (line: string) => void): Promise<boolean> {
  if (!Object.hasOwn(CHECKS, command)) return false;
  if (args.length !== 0) throw usage(`${command} takes no arguments`);
  const [node] = (await api.request('GET', '/api/nodes')) as Node[];
  await CHECKS[command](api, node, info);
  return true;
}

const CHECKS: Record<string, (api: ApiClient, node: Node, info: (line: string) => void) => Promise<void>> = {
  // The node answered /api/nodes: that is the ping.
  ping: async (_api, _node, info) => info('Ping succeeded'),
  check_running: async (_api, node, info) => {
    info(`Checking if RabbitMQ is running on node ${node.name} ...`);
    if (!node.running) throw new Failure(1, `RabbitMQ on node ${node.name} is not running or has not fully booted yet`);
    info(`RabbitMQ on node ${node.name} is fully booted and running`);
  },
  check_local_alarms: (api, node, info) => alarms(api, node, info, 'local-alarms', 'no local alarms'),
  check_alarms: (api, node, info) => alarms(api, node, info, 'alarms', 'no alarms, local or clusterwide'),
  check_port_connectivity: async (api, node, info) => {
    info(`Testing TCP connections to all active listeners on node ${node.name} ...`);
    const { listeners } = (await api.request('GET', '/api/overview')) as { listeners: { ip_address: string; port: number }[] };
    const failed: number[] = [];
    for (const { ip_address, port } of listeners) if (!(await connects(ip_address, port))) failed.push(port);
    if (failed.length > 0) throw new Failure(1, `Connection to ports ${failed.join(', ')} on node ${node.name} failed`);
    info(`Successfully connected to ports ${listeners.map((l) => l.port).join(', ')} on node ${node.name}.`);
  },
  check_virtual_hosts: async (api, node, info) => {
    info(`Checking if all vhosts are running on node ${node.name} ...`);
    await api.request('GET', '/api/health/checks/virtual-hosts');
    info(`Node ${node.name} reported all vhosts as running`);
  },
};

async function alarms(api: ApiClient, node: Node, info: (line: string) => void, check: string, none: string): Promise<void> {
  info(`Asking node ${node.name} to report any local resource alarms ...`);
  const { ok, body } = await api.check(`/api/health/checks/${check}`);
  if (!ok) {
    const resources = ((body as { alarms?: { resource: string }[] }).alarms ?? []).map((a) => a.resource);
    throw new Failure(1, `Node ${node.name} reported alarms: ${resources.join(', ')}`);
  }
  info(`Node ${node.name} reported ${none}`);
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
