/**
 * POST /api/exchanges/{vhost}/{name}/publish and POST /api/queues/{vhost}/{name}/get:
 * RabbitMQ's testing aids. A publish is routed like an AMQP one and written
 * straight into its shards' rings; it answers once its queues did, as
 * RabbitMQ's confirm channel does: "routed" says whether any queue took it,
 * and one that refused it (a length limit with reject-publish) makes it RabbitMQ's 400. A get takes up to `count` messages, then acks, rejects or
 * requeues them all as `ackmode` says.
 */
import type { GetResult } from '../acceptor/shard-link.js';
import type { FieldTable } from '../protocol/field-types.js';
import { decodeBasicProperties, type BasicProperties } from '../protocol/methods.generated.js';
import { BlockView, SETTLE_ACK, SETTLE_DROP, SETTLE_REQUEUE } from '../shard/records.js';
import { arrayItems, decodedValue, headerEntries, tableValueEntries, type TableEntry } from '../protocol/header-edit.js';
import { BASIC_PROPERTIES } from '../protocol/basic-property-names.js';
import { jsonInteger } from '../definitions/rabbit-format.js';
import { AmqpError, ReplyCode } from '../protocol/errors.js';
import { publish } from '../acceptor/internal-publish.js';
import { exchangeName, type Api, type Route } from './api.js';
import { HttpError, badRequest, httpError, objectBody, param, stringField } from './http.js';
import { typeOf } from '../vhost/queue-arguments.js';

const ACK_MODES: Record<string, number> = {
  ack_requeue_true: SETTLE_REQUEUE,
  reject_requeue_true: SETTLE_REQUEUE,
  ack_requeue_false: SETTLE_ACK,
  reject_requeue_false: SETTLE_DROP,
};

export function messageRoutes(api: Api, route: Route): void {
  route('POST', '/api/exchanges/:vhost/:name/publish', async (req) => {
    const service = api.service(req.params.vhost);
    const name = exchangeName(param(req, 'name'));
    const exchange = service.topology.exchanges.get(name);
    // RabbitMQ publishes through a channel: a missing exchange is that channel's 404 error, sent as a 400.
    if (exchange === undefined) throw badRequest(`404 NOT_FOUND - no exchange '${name}' in vhost '${service.name}'`);
    api.permit(req, service.name, 'exchange', exchange.name, 'write');
    const body = objectBody(req);
    const routingKey = stringField(body, 'routing_key', '');
    const encoding = stringField(body, 'payload_encoding', 'string');
    if (encoding !== 'string' && encoding !== 'base64') throw badRequest(`payload_encoding must be 'string' or 'base64', got '${encoding}'`);
    const payload = Buffer.from(stringField(body, 'payload', ''), encoding === 'base64' ? 'base64' : 'utf8');
    if (payload.length > api.host.options.maxMessageSize) throw badRequest(`message size ${payload.length} is larger than the configured maximum ${api.host.options.maxMessageSize}`);
    // The channel's 403, sent as a 400 like the other channel errors of a publish (not the API's own 401)
    if (exchange.internal) throw badRequest(`403 ACCESS_REFUSED - cannot publish to internal exchange '${exchange.name}' in vhost '${service.name}'`);
    if (Buffer.byteLength(routingKey) > 255) throw badRequest('routing_key is longer than 255 bytes');
    if (exchange.type === 'topic') {
      try {
        api.host.access.checkTopic(req.user, service.name, exchange.name, routingKey, 'write');
      } catch (err) {
        throw httpError(err);
      }
    }
    const properties = propertiesOf(body.properties);
    if (properties.userId !== undefined && properties.userId !== req.user) {
      throw badRequest(`406 PRECONDITION_FAILED - user_id property set to '${properties.userId}' but authenticated user was '${req.user}'`);
    }
    let sent;
    try {
      sent = publish(api.host, service.topology, exchange, routingKey, properties, payload, api.host.internalConfirms);
    } catch (err: any) {
      // a CC header that is not an array: the channel's 406, as RabbitMQ answers it
      if (err instanceof AmqpError) throw badRequest(`${err.code} ${err.message}`);
      // a header key over 255 bytes, say
      throw badRequest(`cannot encode the properties: ${err.message}`);
    }
    if (!(await sent.answers)) throw badRequest('rejected Unable to publish message. Check queue limits.');
    return { routed: sent.routed };
  });

  route('POST', '/api/queues/:vhost/:name/get', async (req) => {
    const service = api.service(req.params.vhost);
    const name = param(req, 'name');
    const queue = service.topology.queues.get(name);
    // RabbitMQ gets through a channel: a missing queue is that channel's 404, not the API's "Object Not Found".
    if (queue === undefined) throw new HttpError(404, 'not_found', `NOT_FOUND - no queue '${name}' in vhost '${service.name}'`);
    api.permit(req, queue.vhost, 'queue', queue.name, 'read');
    const body = objectBody(req);
    const count = body.count === undefined ? 1 : Number(body.count);
    if (!Number.isInteger(count) || count < 1) throw badRequest(`count must be a positive integer, got ${JSON.stringify(body.count)}`);
    const ackmode = stringField(body, 'ackmode', '');
    const settle = ACK_MODES[ackmode];
    if (settle === undefined) throw badRequest(`ackmode must be one of ${Object.keys(ACK_MODES).join(', ')}, got '${ackmode}'`);
    const encoding = stringField(body, 'encoding', 'auto');
    if (encoding !== 'auto' && encoding !== 'base64') throw badRequest(`encoding must be 'auto' or 'base64', got '${encoding}'`);
    const truncate = body.truncate === undefined || body.truncate === null ? Infinity : Number(body.truncate);
    if (!(truncate >= 0)) throw badRequest(`truncate must be a number of bytes, got ${JSON.stringify(body.truncate)}`);
    if (typeOf(queue.args) === 'stream') throw badRequest(`540 basic.get not supported by stream queues queue '${queue.name}' in vhost '${queue.vhost}'`);
    if (queue.exclusiveOwner !== 0) throw httpError(new AmqpError(ReplyCode.RESOURCE_LOCKED, `cannot obtain exclusive access to locked queue '${queue.name}' in vhost '${queue.vhost}'`));
    const link = api.host.links[queue.shard];
    const got: GetResult[] = [];
    try {
      // All taken before any is settled, so a requeue does not hand the same message back.
      while (got.length < count) {
        const result = await link.request({ op: 'get', queueId: queue.id, noAck: false });
        if (result.empty) break;
        got.push(result as GetResult);
      }
    } finally {
      link.settle(settle, got.flatMap((g) => [g.queueId, g.msgId]));
      api.host.output.linkDirty(link);
    }
    // Rejected ones may be dead-lettered: a round trip behind the settle lets those reach their queues before the
    // answer, so the next request sees them there, as it does on RabbitMQ.
    if (settle === SETTLE_DROP && got.length > 0) await link.request({ op: 'count', queueId: queue.id });
    return got.map((g) => messageJson(g, encoding === 'base64', truncate));
  });
}

/** RabbitMQ's JSON message properties as AMQP basic properties. */
function propertiesOf(value: unknown): BasicProperties {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest('properties must be an object');
  const p = value as Record<string, unknown>;
  const str = (key: string) => {
    const v = p[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || Buffer.byteLength(v) > 255) throw badRequest(`property ${key} must be a string of at most 255 bytes`);
    return v;
  };
  const octet = (key: string) => {
    const v = p[key];
    if (v === undefined || v === null) return undefined;
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 255) throw badRequest(`property ${key} must be an integer from 0 to 255`);
    return v as number;
  };
  const timestamp = p.timestamp;
  if (timestamp !== undefined && timestamp !== null && !(Number.isSafeInteger(timestamp) && (timestamp as number) >= 0)) {
    throw badRequest('property timestamp must be a non-negative integer (seconds)');
  }
  return {
    contentType: str('content_type'),
    contentEncoding: str('content_encoding'),
    headers: headersOf(p.headers),
    deliveryMode: octet('delivery_mode'),
    priority: octet('priority'),
    correlationId: str('correlation_id'),
    replyTo: str('reply_to'),
    expiration: str('expiration'),
    messageId: str('message_id'),
    timestamp: timestamp as number | undefined,
    type: str('type'),
    userId: str('user_id'),
    appId: str('app_id'),
    clusterId: str('cluster_id'),
  };
}

function headersOf(value: unknown): FieldTable | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest('property headers must be an object');
  return withLongs(value) as FieldTable;
}

/** JSON integers become AMQP longs (int64), as RabbitMQ's API sends them; in arrays and nested tables too. */
function withLongs(value: unknown): unknown {
  if (Number.isSafeInteger(value)) return BigInt(value as number);
  if (Array.isArray(value)) return value.map(withLongs);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withLongs(v)]));
  return value;
}

/** A got message as RabbitMQ's management API returns it. */
function messageJson(g: GetResult, base64: boolean, truncate: number): Record<string, unknown> {
  const view = new BlockView().read(g.block, 0);
  const buf = g.block;
  const decoded = decodeBasicProperties(buf, view.propertiesAt, view.propertiesEnd);
  const properties: Record<string, unknown> = {};
  for (const [key, name] of BASIC_PROPERTIES) {
    if (key === 'headers') continue; // below, from their bytes
    const v = decoded[key];
    if (v !== undefined) properties[name] = typeof v === 'bigint' ? Number(v) : v;
  }
  if (decoded.headers !== undefined) properties.headers = tableJson(headerEntries(buf, view.propertiesAt, view.propertiesEnd));
  const body = buf.subarray(view.bodyAt, view.end);
  const shown = body.subarray(0, Math.min(body.length, truncate));
  const text = base64 ? undefined : utf8(shown);
  return {
    payload_bytes: body.length,
    redelivered: g.redelivered,
    exchange: buf.toString('utf8', 1, view.routingKeyAt),
    routing_key: buf.toString('utf8', view.routingKeyAt + 1, view.routingKeyAt + 1 + buf[view.routingKeyAt]),
    message_count: g.messageCount,
    // RabbitMQ's JSON encoder writes an empty property list as [] (an Erlang empty list), not {}.
    properties: Object.keys(properties).length === 0 ? [] : properties,
    payload: text ?? shown.toString('base64'),
    payload_encoding: text === undefined ? 'base64' : 'string',
  };
}

/** The bytes as text when they are valid UTF-8 (encoding "auto"), else undefined. */
/**
 * A message's headers as RabbitMQ's management API writes them
 * (rabbit_mgmt_format), read from their bytes: a string or byte array that is
 * not UTF-8 says so with its base64, void is "undefined", and a decimal is its
 * scale, a point and its digits, as RabbitMQ 3.10.8 renders it.
 */
function tableJson(entries: readonly TableEntry[]): Record<string, unknown> {
  return Object.fromEntries(entries.map((e) => [e.key.toString('utf8'), valueJson(e.value)]));
}

function valueJson(value: Buffer): unknown {
  switch (String.fromCharCode(value[0])) {
    case 'F':
      return tableJson(tableValueEntries(value)!);
    case 'A':
      return arrayItems(value).map(valueJson);
    case 'V':
      return 'undefined';
    case 'D':
      return Number(`${value[1]}.${value.readUInt32BE(2)}`);
    case 'S':
    case 'x': {
      const bytes = value.subarray(5);
      return utf8(bytes) ?? `Not UTF-8, base64 is: ${bytes.toString('base64').replace(/.{76}(?=.)/g, '$&\n')}`;
    }
    default: {
      const v = decodedValue(value);
      return typeof v === 'bigint' ? jsonInteger(v) : v;
    }
  }
}

function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

