/** /api/queues: list, show, declare (PUT), delete, purge, and a queue's bindings. */
import { argumentsJson, table } from '../definitions/rabbit-format.js';
import type { QueueRecord } from '../routing/topology.js';
import type { Api, Route } from './api.js';
import { bindingJson, defaultBinding } from './bindings.js';
import { consumersOf } from './connections.js';
import { boolField, created, noContent, objectBody, badRequest, param, queryFlag, httpError, type ApiRequest } from './http.js';
import { listReply, selectColumns } from './list.js';
import { QUEUE_MESSAGE_STATS, depthFields, managementTime, messageStatsJson, queueBytesFields, queueTotals, type QueueCounters } from './stats.js';
import { effectiveDefinition } from '../vhost/policy.js';
import { typeOf } from '../vhost/queue-arguments.js';
import { withoutStats } from './disable-stats.js';

export function queueRoutes(api: Api, route: Route): void {
  const list = async (req: ApiRequest) => {
    const services = api.services(req.params.vhost);
    const counters = await api.counters();
    const items = services.flatMap((s) => [...s.topology.queues.values()].map((q) => withoutStats(req, 'queue', queueJson(api, q, counters.get(q.id)), true)));
    api.queueRates.forgetAllBut(new Set(counters.keys()));
    return listReply(req, items);
  };
  route('GET', '/api/queues', list);
  route('GET', '/api/queues/:vhost', list);

  route('GET', '/api/queues/:vhost/:name', async (req) => {
    const queue = api.queue(req.params.vhost, req.params.name);
    const counters = await api.counters();
    // The single-queue view adds its consumers and per-source rates (none kept here), as RabbitMQ's does.
    const consumers = consumersOf(api, (c) => c.queue === queue);
    return selectColumns(req, withoutStats(req, 'queue', { ...queueJson(api, queue, counters.get(queue.id)), consumer_details: consumers, deliveries: [], incoming: [] }));
  });

  route('PUT', '/api/queues/:vhost/:name', async (req) => {
    const service = api.service(req.params.vhost);
    const name = param(req, 'name');
    // An AMQP shortstr holds 255 bytes: RabbitMQ's API refuses a longer name (its text ends in a newline).
    const bytes = Buffer.byteLength(name);
    if (bytes > 255) throw badRequest(`queue should be less than 255 bytes, actually was ${bytes}\n`);
    const body = objectBody(req);
    const existed = service.topology.queues.has(name);
    try {
      // As RabbitMQ's API (a direct connection as the user): the user's permissions apply, administrators' too.
      api.host.access.check(req.user, service.name, 'queue', name, 'configure');
      await service.apply({
        kind: 'queue.declare',
        name,
        // RabbitMQ's default, as AMQP's declare: a body without durable declares a transient one
        durable: boolField(body, 'durable', false),
        exclusive: false,
        autoDelete: boolField(body, 'auto_delete', false),
        arguments: args(body.arguments),
        owner: 0,
      });
    } catch (err) {
      throw httpError(err);
    }
    return existed ? noContent() : created();
  });

  route('DELETE', '/api/queues/:vhost/:name', async (req) => {
    const queue = api.queue(req.params.vhost, req.params.name);
    try {
      api.host.access.check(req.user, queue.vhost, 'queue', queue.name, 'configure');
      await api.service(queue.vhost).apply({ kind: 'queue.delete', name: queue.name, ifEmpty: queryFlag(req, 'if-empty'), ifUnused: queryFlag(req, 'if-unused'), owner: 0 });
    } catch (err) {
      throw httpError(err);
    }
    return noContent();
  });

  route('DELETE', '/api/queues/:vhost/:name/contents', async (req) => {
    const queue = api.queue(req.params.vhost, req.params.name);
    try {
      api.host.access.check(req.user, queue.vhost, 'queue', queue.name, 'read');
      await api.service(queue.vhost).apply({ kind: 'queue.purge', name: queue.name, owner: 0 });
    } catch (err) {
      throw httpError(err);
    }
    return noContent();
  });

  // Mirror synchronisation: one node, no mirrors, nothing to do (RabbitMQ answers 204 for a queue without mirrors too).
  route('POST', '/api/queues/:vhost/:name/actions', (req) => {
    api.queue(req.params.vhost, req.params.name);
    const action = objectBody(req).action;
    if (action !== 'sync' && action !== 'cancel_sync') throw badRequest(`unknown action ${JSON.stringify(action)}`);
    return noContent();
  }, 'administrator');

  route('GET', '/api/queues/:vhost/:name/bindings', (req) => {
    const queue = api.queue(req.params.vhost, req.params.name);
    const service = api.service(queue.vhost);
    const bindings = [defaultBinding(queue)];
    for (const source of queue.boundFrom) {
      for (const b of source.matcher.bindings()) if (b.destination === queue) bindings.push(bindingJson(service.name, source, b));
    }
    return listReply(req, bindings);
  });
}

/** A queue as RabbitMQ 3.10's management API shows it. */
function queueJson(api: Api, q: QueueRecord, c: QueueCounters | undefined): Record<string, unknown> {
  const ready = c?.ready ?? 0;
  const unacked = c?.unacked ?? 0;
  const totals = queueTotals(c);
  // Depths change at a rate too (negative while a queue drains), as RabbitMQ shows them.
  const rates = api.queueRates.observe(q.id, [...totals, ready + unacked, ready, unacked]);
  const [messagesRate, readyRate, unackedRate] = rates.slice(totals.length);
  const json: Record<string, unknown> = {
    name: q.name,
    vhost: q.vhost,
    durable: q.durable,
    auto_delete: q.autoDelete,
    exclusive: q.exclusiveOwner !== 0,
    arguments: argumentsJson(q.args),
    node: api.node,
    type: typeOf(q.args),
    state: 'running',
    policy: q.policy?.name ?? null,
    operator_policy: q.operatorPolicy?.name ?? null,
    effective_policy_definition: effectiveDefinition(q.policy, q.operatorPolicy) ?? {},
    exclusive_consumer_tag: null,
    single_active_consumer_tag: null,
    recoverable_slaves: null,
    head_message_timestamp: null,
    consumers: q.consumerCount,
    ...depthFields(ready, unacked, [messagesRate, readyRate, unackedRate]),
    ...queueBytesFields(c),
    // RabbitMQ's share of time the queue could deliver at once (see ConsumerUse); one figure for both.
    consumer_capacity: c?.consumerCapacity ?? 0,
    consumer_utilisation: c?.consumerCapacity ?? 0,
  };
  // Like RabbitMQ, only an idle queue (nothing moved since the last look) has idle_since.
  if (c !== undefined && c.idleSince !== 0) json.idle_since = managementTime(c.idleSince);
  if (q.exclusiveOwner !== 0) {
    // RabbitMQ names the connection that owns an exclusive queue.
    for (const conn of api.host.connections) {
      if (conn.id !== q.exclusiveOwner) continue;
      json.owner_pid_details = { name: conn.name, peer_host: conn.socket.remoteAddress, peer_port: conn.socket.remotePort };
    }
  }
  // Like RabbitMQ, a queue nothing passed through has no message_stats.
  if (totals.some((n) => n > 0)) json.message_stats = messageStatsJson(QUEUE_MESSAGE_STATS, totals, rates);
  return json;
}

/** x-arguments from a JSON body. */
export function args(value: unknown) {
  try {
    return table(value);
  } catch (err: any) {
    throw badRequest(err.message);
  }
}
