/** /api/overview, /api/nodes, /api/vhosts, /api/whoami and the health checks. */
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import { RABBITMQ_VERSION, VERSION } from '../version.js';
import type { Api, Route } from './api.js';
import { HttpError, badRequest, noContent, notFound, type ApiRequest } from './http.js';
import { listReply, selectColumns } from './list.js';
import { overviewWithoutStats, withoutStats } from './disable-stats.js';
import { QUEUE_MESSAGE_STATS, addTotals, depthFields, details, messageStatsJson, queueTotals, vhostChannelTotals, type QueueCounters } from './stats.js';
import { publish } from '../acceptor/internal-publish.js';
import type { VHostService } from '../vhost/vhost-service.js';

const EXCHANGE_TYPES = [
  ['direct', 'AMQP direct exchange, as per the AMQP specification'],
  ['fanout', 'AMQP fanout exchange, as per the AMQP specification'],
  ['headers', 'AMQP headers exchange, as per the AMQP specification'],
  ['topic', 'AMQP topic exchange, as per the AMQP specification'],
].map(([name, description]) => ({ name, description, enabled: true }));

const CHURN_KEYS = ['connection_created', 'connection_closed', 'channel_created', 'channel_closed', 'queue_declared', 'queue_created', 'queue_deleted'];

const AUTH_MECHANISMS = [
  ['PLAIN', 'SASL PLAIN authentication mechanism'],
  ['AMQPLAIN', 'QPid AMQPLAIN mechanism'],
  ['EXTERNAL', 'SASL EXTERNAL authentication mechanism (a TLS client certificate)'],
].map(([name, description]) => ({ name, description, enabled: true }));

/** RabbitMQ's default sample retention (seconds); warren keeps rates over the last 5 s only. */
const SAMPLE_RETENTION_POLICIES = { global: [600, 3600, 28800, 86400], basic: [600, 3600], detailed: [600] };

/** The overview's and a vhost's message_stats: the queues' counters, then what only channels count. */
const OVERVIEW_MESSAGE_STATS = [...QUEUE_MESSAGE_STATS, 'confirm', 'return_unroutable', 'drop_unroutable'];

/** Totals in the order of OVERVIEW_MESSAGE_STATS from queue totals and channel totals (CHANNEL_MESSAGE_STATS' order). */
const overviewTotals = (queues: number[], channels: number[]) => [...(queues.length > 0 ? queues : queueTotals(undefined)), channels[1], channels[2], channels[3]];


export function overviewRoutes(api: Api, route: Route): void {
  route('GET', '/api/overview', async (req) => {
    const counters = await api.counters();
    let ready = 0;
    let unacked = 0;
    const queueSums: number[] = [];
    for (const c of counters.values()) {
      ready += c.ready;
      unacked += c.unacked;
      addTotals(queueSums, queueTotals(c));
    }
    const channelSums: number[] = [];
    for (const s of api.host.vhosts.values()) addTotals(channelSums, vhostChannelTotals(s));
    const totals = overviewTotals(queueSums, channelSums);
    const rates = api.overviewRates.observe('overview', [...totals, ready + unacked, ready, unacked]);
    const connections = [...api.host.connections].filter((c) => c.state === 'open');
    const openChannels = connections.flatMap((c) => [...c.openChannels()]);
    let exchanges = 0;
    let queues = 0;
    for (const s of api.host.vhosts.values()) {
      exchanges += s.topology.exchanges.size;
      queues += s.topology.queues.size;
    }
    return selectColumns(req, overviewWithoutStats(req, {
      management_version: RABBITMQ_VERSION,
      rates_mode: 'basic',
      exchange_types: EXCHANGE_TYPES,
      product_version: VERSION,
      product_name: 'warren',
      rabbitmq_version: RABBITMQ_VERSION,
      cluster_name: api.host.globals.clusterName,
      erlang_version: `node ${process.versions.node}`,
      erlang_full_version: `Node.js ${process.version}`,
      disable_stats: false,
      enable_queue_totals: true,
      message_stats: messageStatsJson(OVERVIEW_MESSAGE_STATS, totals, rates),
      queue_totals: depthFields(ready, unacked, rates.slice(totals.length)),
      object_totals: {
        channels: openChannels.length,
        connections: connections.length,
        consumers: openChannels.reduce((n, ch) => n + ch.consumers.size, 0),
        exchanges,
        queues,
      },
      statistics_db_event_queue: 0,
      node: api.node,
      listeners: listeners(api).map(({ protocol, port }) => ({ node: api.node, protocol, ip_address: api.listener.host, port })),
      contexts: [{ node: api.node, ...managementContext() }],
      churn_rates: churnJson(),
      sample_retention_policies: SAMPLE_RETENTION_POLICIES,
      release_series_support_status: 'supported',
    }));
  });

  /** RabbitMQ's churn keys (objects created and gone since start), each with its rate. */
  const churnJson = () => {
    const c = api.host.churn;
    const totals = [c.connectionCreated, c.connectionClosed, c.channelCreated, c.channelClosed, c.queueDeclared, c.queueCreated, c.queueDeleted];
    return messageStatsJson(CHURN_KEYS, totals, api.overviewRates.observe('churn', totals));
  };

  const managementContext = () => ({
    description: 'RabbitMQ Management',
    path: '/',
    port: String(api.managementPort),
    ip: api.managementHost,
    ssl_opts: [],
    cowboy_opts: '[]',
  });

  const nodeJson = () => {
    const alarms = api.host.alarms;
    alarms.refresh();
    const disk = alarms.disk;
    const [memRate, diskRate] = api.overviewRates.observe('node memory and disk', [alarms.used(), disk.dir === null ? 0 : disk.free]);
    return {
      name: api.node,
      type: 'disc',
      running: !api.host.appStopped,
      os_pid: String(process.pid),
      uptime: Date.now() - api.startedAt,
      mem_used: alarms.used(),
      mem_used_details: details(memRate),
      ...churnJson(),
      mem_limit: alarms.memoryLimit,
      mem_alarm: alarms.memoryOn,
      // In memory nothing is written: no data dir to measure, no disk alarm.
      ...(disk.dir === null ? {} : { disk_free: disk.free, disk_free_details: details(diskRate) }),
      disk_free_limit: disk.limit,
      disk_free_alarm: alarms.diskOn,
      processors: os.availableParallelism(),
      partitions: [],
      rates_mode: 'basic',
      exchange_types: EXCHANGE_TYPES,
      auth_mechanisms: AUTH_MECHANISMS,
      contexts: [managementContext()],
    };
  };
  route('GET', '/api/nodes', (req) => listReply(req, [withoutStats(req, 'node', nodeJson())]), 'monitoring');
  route('GET', '/api/nodes/:name', (req) => {
    if (req.params.name !== api.node) throw notFound();
    return selectColumns(req, nodeJson());
  }, 'monitoring');

  const vhostJson = (s: VHostService, counters: Map<number, QueueCounters>) => {
    let ready = 0;
    let unacked = 0;
    for (const q of s.topology.queues.values()) {
      ready += counters.get(q.id)?.ready ?? 0;
      unacked += counters.get(q.id)?.unacked ?? 0;
    }
    const queues: number[] = [];
    for (const q of s.topology.queues.values()) addTotals(queues, queueTotals(counters.get(q.id)));
    const totals = overviewTotals(queues, vhostChannelTotals(s));
    let recv = 0;
    let send = 0;
    for (const conn of s.connections) {
      recv += conn.socket.bytesRead;
      send += conn.socket.bytesWritten;
    }
    const rates = api.overviewRates.observe(`vhost ${s.name}`, [ready + unacked, ready, unacked, recv, send, ...totals]);
    return {
      name: s.name,
      description: s.metadata.description,
      tags: s.metadata.tags,
      metadata: s.metadata,
      default_queue_type: 'undefined',
      tracing: s.topology.tracing,
      cluster_state: { [api.node]: 'running' },
      ...depthFields(ready, unacked, rates),
      // bytes of its open connections (RabbitMQ keeps closed ones' too)
      recv_oct: recv,
      recv_oct_details: details(rates[3]),
      send_oct: send,
      send_oct_details: details(rates[4]),
      ...(totals.some((n) => n > 0) ? { message_stats: messageStatsJson(OVERVIEW_MESSAGE_STATS, totals, rates.slice(5)) } : {}),
    };
  };
  route('GET', '/api/vhosts', async (req) => {
    const counters = await api.counters();
    const visible = [...api.host.vhosts.values()].filter((s) => req.sees(s.name));
    return listReply(req, visible.map((s) => withoutStats(req, 'vhost', vhostJson(s, counters))));
  });
  route('GET', '/api/vhosts/:vhost', async (req) => {
    const service = api.service(req.params.vhost);
    return selectColumns(req, withoutStats(req, 'vhost', vhostJson(service, await api.counters())));
  });

  // Queue leaders spread over a cluster's nodes: here there is one node.
  route('POST', '/api/rebalance/queues', () => noContent(), 'administrator');

  // Logins by protocol; by source address RabbitMQ tracks only when configured to (off by default), as here.
  const attempts = (req: ApiRequest) => {
    if (req.params.node !== api.node) throw notFound();
    return api.host.authAttempts;
  };
  route('GET', '/api/auth/attempts/:node', (req) => attempts(req).toJson(), 'monitoring');
  route('GET', '/api/auth/attempts/:node/source', (req) => {
    attempts(req);
    return [];
  }, 'monitoring');
  for (const path of ['/api/auth/attempts/:node', '/api/auth/attempts/:node/source']) {
    route('DELETE', path, (req) => {
      attempts(req).clear();
      return noContent();
    }, 'monitoring');
  }
  // The management UI's plugins; warren has none.
  route('GET', '/api/extensions', () => []);

  route('GET', '/api/whoami', (req) => ({ name: req.user, tags: req.tags }));

  route('GET', '/api/healthchecks/node', () => ({ status: 'ok' }));
  // RabbitMQ 3.10's health checks: 200 {"status":"ok"}, or 503 {"status":"failed","reason":...}.
  // RabbitMQ 3.10.8's 503 body names each alarm's node and resource ("memory", "disk space").
  const alarms = (where: string) => () => {
    api.host.alarms.refresh();
    const resources = api.host.alarms.resources();
    if (resources.length > 0) {
      throw new HttpError(503, 'failed', `There are alarms in effect ${where}`, {}, 'status', { alarms: resources.map((resource) => ({ node: api.node, resource })) });
    }
    return { status: 'ok' };
  };
  route('GET', '/api/health/checks/alarms', alarms('in the cluster'));
  route('GET', '/api/health/checks/local-alarms', alarms('on the node'));
  route('GET', '/api/health/checks/virtual-hosts', () => ({ status: 'ok' }));
  route('GET', '/api/health/checks/port-listener/:port', (req) => {
    const port = Number(req.params.port);
    if (!listeners(api).some((l) => l.port === port)) {
      throw new HttpError(503, 'failed', `No active listener on port ${req.params.port}`, {}, 'status');
    }
    return { status: 'ok', port };
  });
  route('GET', '/api/health/checks/protocol-listener/:protocol', (req) => {
    const asked = String(req.params.protocol).toLowerCase();
    // RabbitMQ's aliases of its protocol names
    const protocol = ['amqp091', 'amqp0-9-1'].includes(asked) ? 'amqp' : ['amqps', 'amqp091/ssl', 'amqp0-9-1/ssl'].includes(asked) ? 'amqp/ssl' : asked;
    if (!listeners(api).some((l) => l.protocol === protocol)) {
      throw new HttpError(503, 'failed', `No active listener for protocol ${req.params.protocol}`, {}, 'status');
    }
    return { status: 'ok', protocol: req.params.protocol };
  });
  // One node: no queue depends on it for a quorum or a mirror.
  for (const check of ['node-is-quorum-critical', 'node-is-mirror-sync-critical']) {
    route('GET', `/api/health/checks/${check}`, () => ({ status: 'ok', reason: 'single node cluster' }));
  }
  route('GET', '/api/health/checks/certificate-expiration/:within/:unit', (req) => {
    if (!/^-?\d+$/.test(req.params.within ?? '')) throw badRequest('Invalid expiration value.');
    const unitSeconds = CERTIFICATE_UNITS[req.params.unit ?? ''];
    if (unitSeconds === undefined) throw badRequest('Time unit not recognised. Supported units: days, weeks, months, years.');
    const tls = api.listener.tls;
    if (tls === undefined || !expiresBefore(tls.cert, Date.now() + Number(req.params.within) * unitSeconds * 1000)) return { status: 'ok' };
    const expired = [{ node: api.node, protocol: 'amqp/ssl', ip_address: api.listener.host, port: tls.port }];
    throw new HttpError(503, 'failed', 'Certificates expiring', {}, 'status', { expired });
  });

  route('GET', '/api/aliveness-test/:vhost', async (req: ApiRequest) => aliveness(api, req.params.vhost));
}

/** The node's listeners as RabbitMQ names their protocols. */
function listeners(api: Api): { protocol: string; port: number }[] {
  const all = [{ protocol: 'amqp', port: api.listener.port }];
  if (api.listener.tls !== undefined) all.push({ protocol: 'amqp/ssl', port: api.listener.tls.port });
  if (api.managementPort !== 0) all.push({ protocol: 'http', port: api.managementPort });
  return all;
}

/** RabbitMQ's lengths of the certificate check's units, in seconds (a month and a year on average). */
const CERTIFICATE_UNITS: Record<string, number> = { days: 86_400, weeks: 604_800, months: 2_629_744, years: 31_556_926 };

/** Whether a certificate of a PEM chain is no longer valid at `when` (ms). */
function expiresBefore(pem: string | Buffer, when: number): boolean {
  const certificates = String(pem).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return certificates.some((c) => Date.parse(new X509Certificate(c).validTo) < when);
}

/**
 * RabbitMQ's aliveness test: declare the queue `aliveness-test`, publish a
 * message to it through the default exchange and get it back.
 */
async function aliveness(api: Api, vhost: string | undefined): Promise<unknown> {
  const service = api.service(vhost);
  const queue = 'aliveness-test';
  await service.apply({ kind: 'queue.declare', name: queue, durable: false, exclusive: false, autoDelete: false, arguments: {}, owner: 0 });
  const record = service.topology.queues.get(queue)!;
  const link = api.host.links[record.shard];
  publish(api.host, service.topology, service.topology.exchanges.get('')!, queue, {}, Buffer.from('test_message'));
  const got = await link.request({ op: 'get', queueId: record.id, noAck: true });
  if (got.empty) throw new HttpError(503, 'failed', 'aliveness test message was not delivered', {}, 'status');
  return { status: 'ok' };
}
