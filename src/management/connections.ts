/** /api/connections (list, show, DELETE closes with 320; also a user's all at once), /api/channels and /api/consumers. */
import { TLSSocket } from 'node:tls';
import type { Channel } from '../acceptor/channel.js';
import type { Connection } from '../acceptor/connection.js';
import type { ConsumerRef } from '../acceptor/consumer-registry.js';
import { argumentsJson, toJsonTable } from '../definitions/rabbit-format.js';
import { AmqpError, ReplyCode } from '../protocol/errors.js';
import type { Api, Route } from './api.js';
import { HttpError, noContent, notFound, type ApiRequest } from './http.js';
import { listReply, selectColumns } from './list.js';
import { refuseWithoutStats, withoutStats } from './disable-stats.js';
import { CHANNEL_CONSUMING, CHANNEL_MESSAGE_STATS, channelTotals, details, messageStatsJson } from './stats.js';

/** RabbitMQ's text when the management API closes a connection without X-Reason. */
const DEFAULT_REASON = 'Closed via management plugin';

export function connectionRoutes(api: Api, route: Route): void {
  /** Connections past their handshake, of one vhost when the path names it. */
  const connections = (req: ApiRequest): Connection[] => {
    const vhost = req.params.vhost;
    if (vhost !== undefined) api.service(vhost);
    return [...api.host.connections].filter((c) => c.state === 'open' && (vhost === undefined || c.service.name === vhost) && ownsOrWatches(req, c));
  };
  const channels = (req: ApiRequest): Channel[] => connections(req).flatMap((c) => [...c.openChannels()]);

  const listConnections = (req: ApiRequest) => {
    const live = connections(req);
    if (req.params.vhost === undefined) api.connectionRates.forgetAllBut(new Set(live.map((c) => c.id)));
    // RabbitMQ 3.10.8 leaves a vhost's connections whole under disable_stats
    return listReply(req, live.map((c) => (req.params.vhost === undefined ? withoutStats(req, 'connection', connectionJson(api, c)) : connectionJson(api, c))));
  };
  route('GET', '/api/connections', listConnections);
  route('GET', '/api/vhosts/:vhost/connections', listConnections);

  const named = (req: ApiRequest): Connection => {
    for (const c of api.host.connections) if (c.state === 'open' && c.name === req.params.name && ownsOrWatches(req, c)) return c;
    throw notFound();
  };
  /** Closes `conns` with 320 and the request's X-Reason. A monitor sees every connection but closes only its own (RabbitMQ's is_authorized_user). */
  const close = (req: ApiRequest, conns: Connection[]) => {
    if (conns.some((c) => c.user !== req.user) && !req.tags.includes('administrator')) throw new HttpError(401, 'not_authorised', 'User not authorised to access object');
    const reason = req.headers['x-reason'];
    const text = typeof reason === 'string' && reason !== '' ? reason : DEFAULT_REASON;
    for (const conn of conns) conn.fail(new AmqpError(ReplyCode.CONNECTION_FORCED, text, 0, 0, true));
    return noContent();
  };
  route('GET', '/api/connections/:name', (req) => selectColumns(req, connectionJson(api, named(req))));
  route('DELETE', '/api/connections/:name', (req) => close(req, [named(req)]));
  const ofUser = (req: ApiRequest) => connections(req).filter((c) => c.user === req.params.username);
  route('GET', '/api/connections/username/:username', (req) => listReply(req, ofUser(req).map((c) => connectionJson(api, c))));
  route('DELETE', '/api/connections/username/:username', (req) => close(req, ofUser(req)));
  route('GET', '/api/connections/:name/channels', (req) => listReply(req, [...named(req).openChannels()].map((ch) => channelJson(api, ch))));

  const listChannels = (req: ApiRequest) => {
    refuseWithoutStats(req);
    const live = channels(req);
    if (req.params.vhost === undefined) api.channelRates.forgetAllBut(new Set(live.map((ch) => ch.ref)));
    return listReply(req, live.map((ch) => channelJson(api, ch)));
  };
  route('GET', '/api/channels', listChannels);
  route('GET', '/api/vhosts/:vhost/channels', listChannels);
  route('GET', '/api/channels/:name', (req) => {
    const channel = channels(req).find((ch) => channelName(ch) === req.params.name);
    if (channel === undefined) throw notFound();
    return selectColumns(req, channelJson(api, channel));
  });

  const listConsumers = (req: ApiRequest) => {
    refuseWithoutStats(req);
    const vhost = req.params.vhost;
    if (vhost !== undefined) api.service(vhost);
    return listReply(req, consumersOf(api, (c) => vhost === undefined || c.queue.vhost === vhost));
  };
  route('GET', '/api/consumers', listConsumers);
  route('GET', '/api/consumers/:vhost', listConsumers);
}

/** RabbitMQ shows a management user only its own connections and channels; monitors and admins see all. */
function ownsOrWatches(req: ApiRequest, conn: Connection): boolean {
  return conn.user === req.user || req.tags.includes('administrator') || req.tags.includes('monitoring');
}

/** The consumers `wanted` picks, as RabbitMQ lists them. */
export function consumersOf(api: Api, wanted: (c: ConsumerRef) => boolean): Record<string, unknown>[] {
  const out = [];
  for (const conn of api.host.connections) {
    if (conn.state !== 'open') continue;
    for (const ch of conn.openChannels()) {
      for (const c of ch.consumers.values()) {
        if (!wanted(c)) continue;
        out.push({
          consumer_tag: c.tag,
          queue: { name: c.queue.name, vhost: c.queue.vhost },
          channel_details: channelDetails(api, ch),
          ack_required: !c.noAck,
          exclusive: c.exclusive,
          prefetch_count: c.noAck ? 0 : ch.prefetchCount,
          active: true,
          activity_status: 'up',
          arguments: argumentsJson(c.arguments),
        });
      }
    }
  }
  return out;
}

function connectionJson(api: Api, c: Connection): Record<string, unknown> {
  const s = c.socket;
  const [recvRate, sendRate] = api.connectionRates.observe(c.id, [s.bytesRead, s.bytesWritten]);
  const name = c.clientProperties.connection_name;
  const tls = s instanceof TLSSocket ? s : null;
  const cipher = tls?.getCipher();
  const cert = tls?.getPeerCertificate();
  // {} when the client sent none
  const peerCert = cert === undefined || cert.subject === undefined ? null : cert;
  return {
    // RabbitMQ shows the client's connection_name property only when it sent one.
    ...(typeof name === 'string' ? { user_provided_name: name } : {}),
    name: c.name,
    node: api.node,
    type: 'network',
    state: 'running',
    user: c.user,
    user_who_performed_action: c.user,
    vhost: c.service.name,
    protocol: 'AMQP 0-9-1',
    auth_mechanism: 'PLAIN',
    host: s.localAddress,
    port: s.localPort,
    peer_host: s.remoteAddress,
    peer_port: s.remotePort,
    ssl: tls !== null,
    ssl_protocol: tls?.getProtocol() ?? null,
    ssl_cipher: cipher?.name ?? null,
    // Node's server side does not report the key exchange or the MAC apart from the cipher.
    ssl_key_exchange: null,
    ssl_hash: null,
    peer_cert_subject: peerCert === null ? null : distinguishedName(peerCert.subject),
    peer_cert_issuer: peerCert === null ? null : distinguishedName(peerCert.issuer),
    peer_cert_validity: peerCert === null ? null : `${peerCert.valid_from} - ${peerCert.valid_to}`,
    channels: [...c.openChannels()].length,
    channel_max: c.channelMax,
    frame_max: c.frameMax,
    timeout: c.heartbeat,
    connected_at: c.connectedAt,
    client_properties: toJsonTable(c.clientProperties),
    recv_oct: s.bytesRead,
    recv_oct_details: details(recvRate),
    send_oct: s.bytesWritten,
    send_oct_details: details(sendRate),
    // bytes written to the socket and not yet sent
    send_pend: s.writableLength,
  };
}

/** A certificate's subject or issuer as RabbitMQ writes it: CN=alice,O=example. */
const distinguishedName = (name: object) =>
  Object.entries(name)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(',');

/** RabbitMQ names a channel after its connection and number. */
const channelName = (ch: Channel) => `${ch.conn.name} (${ch.id})`;

function channelDetails(api: Api, ch: Channel): Record<string, unknown> {
  const s = ch.conn.socket;
  return {
    name: channelName(ch),
    number: ch.id,
    connection_name: ch.conn.name,
    node: api.node,
    peer_host: s.remoteAddress,
    peer_port: s.remotePort,
    user: ch.conn.user,
  };
}

function channelJson(api: Api, ch: Channel): Record<string, unknown> {
  const info = ch.info;
  return {
    name: channelName(ch),
    number: ch.id,
    node: api.node,
    vhost: ch.conn.service.name,
    user: ch.conn.user,
    user_who_performed_action: ch.conn.user,
    state: ch.state === 'open' ? 'running' : 'closing',
    connection_details: { name: ch.conn.name, peer_host: ch.conn.socket.remoteAddress, peer_port: ch.conn.socket.remotePort },
    consumer_count: ch.consumers.size,
    messages_unacknowledged: info.unacked,
    messages_unconfirmed: info.unconfirmed,
    messages_uncommitted: info.uncommitted,
    acks_uncommitted: info.acksUncommitted,
    prefetch_count: ch.prefetchCount,
    global_prefetch_count: ch.globalPrefetch,
    confirm: info.confirm,
    transactional: info.transactional,
    ...channelMessageStats(api, ch),
  };
}

/**
 * RabbitMQ's channel message_stats: the publishing keys once it published, the
 * consuming keys once it got a delivery or a basic.get answer; none before.
 */
function channelMessageStats(api: Api, ch: Channel): { message_stats?: Record<string, unknown> } {
  const totals = channelTotals(ch.messageStats);
  const rates = api.channelRates.observe(ch.ref, totals);
  const published = totals[0] > 0;
  const consumed = totals.slice(CHANNEL_CONSUMING).some((n) => n > 0);
  if (!published && !consumed) return {};
  const from = published ? 0 : CHANNEL_CONSUMING;
  const to = consumed ? CHANNEL_MESSAGE_STATS.length : CHANNEL_CONSUMING;
  return { message_stats: messageStatsJson(CHANNEL_MESSAGE_STATS.slice(from, to), totals.slice(from, to), rates.slice(from, to)) };
}
