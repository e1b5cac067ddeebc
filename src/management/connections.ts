/** /api/connections (list, show, DELETE closes with 320), /api/channels and /api/consumers. */
import type { Channel } from '../acceptor/channel.js';
import type { Connection } from '../acceptor/connection.js';
import type { ConsumerRef } from '../acceptor/consumer-registry.js';
import { toJsonTable } from '../definitions/rabbit-format.js';
import { AmqpError, ReplyCode } from '../protocol/errors.js';
import type { Api, Route } from './api.js';
import { HttpError, noContent, notFound, type ApiRequest } from './http.js';
import { listReply, selectColumns } from './list.js';

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

  const listConnections = (req: ApiRequest) => listReply(req, connections(req).map((c) => connectionJson(api, c)));
  route('GET', '/api/connections', listConnections);
  route('GET', '/api/vhosts/:vhost/connections', listConnections);

  const named = (req: ApiRequest): Connection => {
    for (const c of api.host.connections) if (c.state === 'open' && c.name === req.params.name && ownsOrWatches(req, c)) return c;
    throw notFound();
  };
  route('GET', '/api/connections/:name', (req) => selectColumns(req, connectionJson(api, named(req))));
  route('DELETE', '/api/connections/:name', (req) => {
    const conn = named(req);
    // A monitor sees every connection but closes only its own (RabbitMQ's is_authorized_user).
    if (conn.user !== req.user && !req.tags.includes('administrator')) throw new HttpError(401, 'not_authorised', 'User not authorised to access object');
    const reason = req.headers['x-reason'];
    const text = typeof reason === 'string' && reason !== '' ? reason : DEFAULT_REASON;
    conn.fail(new AmqpError(ReplyCode.CONNECTION_FORCED, text, 0, 0, true));
    return noContent();
  });
  route('GET', '/api/connections/:name/channels', (req) => listReply(req, [...named(req).openChannels()].map((ch) => channelJson(api, ch))));

  const listChannels = (req: ApiRequest) => listReply(req, channels(req).map((ch) => channelJson(api, ch)));
  route('GET', '/api/channels', listChannels);
  route('GET', '/api/vhosts/:vhost/channels', listChannels);
  route('GET', '/api/channels/:name', (req) => {
    const channel = channels(req).find((ch) => channelName(ch) === req.params.name);
    if (channel === undefined) throw notFound();
    return selectColumns(req, channelJson(api, channel));
  });

  const listConsumers = (req: ApiRequest) => {
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
          arguments: {},
        });
      }
    }
  }
  return out;
}

function connectionJson(api: Api, c: Connection): Record<string, unknown> {
  const s = c.socket;
  return {
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
    ssl: false,
    channels: [...c.openChannels()].length,
    channel_max: c.channelMax,
    frame_max: c.frameMax,
    timeout: c.heartbeat,
    connected_at: c.connectedAt,
    client_properties: toJsonTable(c.clientProperties),
    recv_oct: s.bytesRead,
    send_oct: s.bytesWritten,
  };
}

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
    prefetch_count: ch.prefetchCount,
    global_prefetch_count: ch.globalPrefetch,
    confirm: info.confirm,
    transactional: info.transactional,
  };
}
