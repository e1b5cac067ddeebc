/**
 * rabbitmqctl's commands about the node itself for `warren ctl`: status,
 * cluster_status (one node, its cluster name), await_startup, stop_app and
 * start_app, with rabbitmqctl's lines, through /api/overview, /api/nodes and
 * /api/warren.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EX_DATAERR, EX_UNAVAILABLE, EX_USAGE, Failure, LoginRefused, TagRefused, refusedWith, usage, type ApiClient } from './api-client.js';
import { alarmLines, listenerLines } from './diagnostics-command.js';
import type { Row, TableFlags } from './table.js';

export const NODE_USAGE = `  status   cluster_status   await_startup [--timeout S] (default 300)
  stop_app   start_app   (between them reset is rabbitmqctl's: users, vhosts and all as a new broker's)   shutdown   stop
  set_vm_memory_high_watermark FRACTION | absolute BYTES   set_disk_free_limit BYTES | mem_relative FRACTION
  list_feature_flags [INFO...]   enable_feature_flag NAME|all   list_unresponsive_queues (none: a queue's shard answers, or the broker stops)`;

export interface NodeFlags extends TableFlags {
  /** await_startup --timeout */
  timeout: string | undefined;
  vhost: string;
}

/** Runs `command` if it is one of these; false when it is not. */
export async function nodeCommand(api: ApiClient, command: string, args: string[], o: NodeFlags, info: (line: string) => void): Promise<boolean> {
  if (command === 'set_vm_memory_high_watermark' || command === 'set_disk_free_limit') {
    await setThreshold(api, command, args, info);
    return true;
  }
  if (command === 'enable_feature_flag') {
    if (args.length !== 1) throw usage(`${command} takes a feature flag's name, or all`);
    await enableFeatureFlag(api, args[0], info);
    return true;
  }
  if (command === 'list_unresponsive_queues') {
    info(`Listing unresponsive queues for vhost ${o.vhost} ...`);
    return true;
  }
  if (command === 'shutdown' || command === 'stop') {
    if (args.length !== 0) throw usage(`${command} takes no arguments`);
    await shutdown(api, command, o.timeout, info);
    return true;
  }
  if (!['status', 'cluster_status', 'await_startup', 'stop_app', 'start_app'].includes(command)) return false;
  if (args.length !== 0) throw usage(`${command} takes no arguments`);
  switch (command) {
    case 'status':
      await status(api, o);
      break;
    case 'cluster_status':
      await clusterStatus(api, o);
      break;
    case 'await_startup':
      await awaitStartup(api, o.timeout);
      break;
    default: {
      const [{ name }] = (await api.request('GET', '/api/nodes')) as { name: string }[];
      info(command === 'stop_app' ? `Stopping rabbit application on node ${name} ...` : `Starting node ${name} ...`);
      await api.request('POST', command === 'stop_app' ? '/api/warren/stop-app' : '/api/warren/start-app', {});
    }
  }
  return true;
}

/**
 * rabbitmqctl set_vm_memory_high_watermark FRACTION | absolute BYTES and
 * set_disk_free_limit BYTES | mem_relative FRACTION, with its lines; the
 * broker checks the values (400 with the reason).
 */
async function setThreshold(api: ApiClient, command: string, args: string[], info: (line: string) => void): Promise<void> {
  const memory = command === 'set_vm_memory_high_watermark';
  const [form, value] = args.length === 2 ? args : [memory ? 'relative' : 'absolute', args[0]];
  const forms = memory ? ['relative', 'absolute'] : ['absolute', 'mem_relative'];
  if (args.length < 1 || args.length > 2 || (args.length === 2 && form !== forms[1])) {
    throw usage(memory ? `${command} takes a fraction, or absolute and bytes` : `${command} takes bytes, or mem_relative and a fraction`);
  }
  const number = Number(value);
  // fractions are numbers; bytes a number or a string with a unit
  if (form !== 'absolute' && (value.trim() === '' || !Number.isFinite(number))) throw new Failure(EX_DATAERR, `'${value}' is not a number (see warren ctl --help)`);
  const body = { [form]: form === 'absolute' ? (value.trim() !== '' && Number.isFinite(number) ? number : value) : number };
  const [{ name }] = (await api.request('GET', '/api/nodes')) as { name: string }[];
  if (memory) info(`Setting memory threshold on ${name} to ${value}${form === 'absolute' ? ' bytes' : ''} ...`);
  else info(`Setting disk free limit on ${name} to ${value}${form === 'absolute' ? ' bytes' : ' times the total RAM'} ...`);
  // a value the broker refuses: rabbitmqctl's bad argument
  await api.request('PUT', memory ? '/api/warren/memory-high-watermark' : '/api/warren/disk-free-limit', body).catch(refusedWith(EX_DATAERR));
}

/** rabbitmqctl shutdown and stop: the broker closes (warren's process exits); waits until its API is gone, at most `timeout` seconds. */
async function shutdown(api: ApiClient, command: string, timeout = '120', info: (line: string) => void): Promise<void> {
  const { seconds, deadline } = waitFor(timeout);
  const [node] = (await api.request('GET', '/api/nodes')) as { name: string; os_pid: string }[];
  if (command === 'stop') info(`Stopping and halting node ${node.name} ...`);
  else info(`Shutting down RabbitMQ node ${node.name} running at PID ${node.os_pid}`);
  await api.request('POST', '/api/warren/shutdown', {});
  if (command === 'shutdown') info(`Waiting for PID ${node.os_pid} to terminate`);
  while (await api.answers()) {
    if (Date.now() >= deadline) throw new Failure(EX_UNAVAILABLE, `node ${node.name} still answers after ${seconds} s`);
    await sleep(50);
  }
  if (command === 'shutdown') info(`RabbitMQ node ${node.name} running at PID ${node.os_pid} successfully shut down`);
}

/** rabbitmqctl enable_feature_flag: one flag, or all there are (an enabled one stays so). */
async function enableFeatureFlag(api: ApiClient, name: string, info: (line: string) => void): Promise<void> {
  info(name === 'all' ? 'Enabling all feature flags ...' : `Enabling feature flag "${name}" ...`);
  const flags = (await api.request('GET', '/api/feature-flags')) as { name: string; state: string }[];
  const names = name === 'all' ? flags.filter((f) => f.state !== 'unavailable').map((f) => f.name) : [name];
  for (const flag of names) await api.request('PUT', `/api/feature-flags/${encodeURIComponent(flag)}/enable`, {}, {}, `feature flag '${flag}' not found`, EX_USAGE).catch(refusedWith(EX_USAGE));
}

/** A --timeout in seconds, and the time it ends. */
function waitFor(timeout: string): { seconds: number; deadline: number } {
  const seconds = Number(timeout);
  if (!(seconds >= 0)) throw usage(`--timeout must be seconds, got '${timeout}'`);
  return { seconds, deadline: Date.now() + seconds * 1000 };
}

/** rabbitmqctl cluster_status: a one-node cluster, its name, alarms and listeners. */
async function clusterStatus(api: ApiClient, o: TableFlags): Promise<void> {
  const overview = (await api.request('GET', '/api/overview')) as Row;
  const [node] = (await api.request('GET', '/api/nodes')) as Row[];
  const name = String(node.name);
  const alarms = alarmLines(node);
  const listeners = listenerLines(overview, name);
  const running = node.running === true ? [name] : [];
  if (o.json) {
    const versions = { [name]: { rabbitmq_name: String(overview.product_name), rabbitmq_version: String(overview.rabbitmq_version) } };
    console.log(JSON.stringify({ alarms, cluster_name: overview.cluster_name, disk_nodes: [name], listeners: { [name]: listeners }, partitions: {}, ram_nodes: [], running_nodes: running, versions }));
    return;
  }
  const section = (title: string, lines: string[]) => [title, '', ...(lines.length === 0 ? ['(none)'] : lines), ''];
  const lines = [
    `Cluster status of node ${name} ...`,
    ...section('Basics', [`Cluster name: ${typeof overview.cluster_name === 'string' ? overview.cluster_name : JSON.stringify(overview.cluster_name)}`]),
    ...section('Disk Nodes', [name]),
    ...section('Running Nodes', running),
    ...section('Versions', [`${name}: ${String(overview.product_name)} ${String(overview.product_version)} (RabbitMQ ${String(overview.rabbitmq_version)}) on ${String(overview.erlang_full_version)}`]),
    ...section('Alarms', alarms),
    ...section('Network Partitions', []),
    ...section('Listeners', listeners.map((l) => `Node: ${l.node}, interface: ${l.interface}, port: ${l.port}, protocol: ${l.protocol}, purpose: ${l.purpose}`)),
  ];
  console.log(lines.join('\n').trimEnd());
}

/** rabbitmqctl await_startup: until the management API answers (the broker is up), at most `timeout` seconds. */
async function awaitStartup(api: ApiClient, timeout = '300'): Promise<void> {
  const { deadline } = waitFor(timeout);
  for (;;) {
    try {
      await api.request('GET', '/api/overview');
      return;
    } catch (err) {
      // A refused login or tag is an answer: the broker is up, and waiting will not change it.
      if (err instanceof LoginRefused || err instanceof TagRefused || Date.now() >= deadline) throw err;
    }
    await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
  }
}

async function status(api: ApiClient, o: TableFlags): Promise<void> {
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
