/**
 * RabbitMQ's `?disable_stats=true`, which the management UI and tools that
 * list many objects send: queues, vhosts, nodes and /api/connections keep
 * only their own fields, the overview drops its statistics, a queue list with
 * `enable_queue_totals=true` keeps its three message counts, and channels and
 * consumers, which are statistics themselves, answer 400. As RabbitMQ 3.10.8
 * answers them (compared key by key).
 */
import { badRequest, type ApiRequest } from './http.js';

const OWN_FIELDS = {
  queue: ['arguments', 'auto_delete', 'durable', 'exclusive', 'name', 'node', 'state', 'type', 'vhost'],
  vhost: ['cluster_state', 'default_queue_type', 'description', 'metadata', 'name', 'tags', 'tracing'],
  node: ['name', 'running', 'type'],
  connection: ['name', 'node', 'user', 'vhost'],
};
const QUEUE_TOTALS = ['messages', 'messages_ready', 'messages_unacknowledged'];
const OVERVIEW_STATISTICS = new Set(['churn_rates', 'contexts', 'listeners', 'message_stats', 'queue_totals', 'statistics_db_event_queue']);

type Item = Record<string, unknown>;

export const statsDisabled = (req: ApiRequest): boolean => req.query.get('disable_stats') === 'true';

/** An object as the request asks for it: whole, or its own fields only (`listed`: one of a queue list, which may keep its totals). */
export function withoutStats(req: ApiRequest, kind: keyof typeof OWN_FIELDS, item: Item, listed = false): Item {
  if (!statsDisabled(req)) return item;
  const kept = kind === 'queue' && listed && req.query.get('enable_queue_totals') === 'true' ? [...OWN_FIELDS.queue, ...QUEUE_TOTALS] : OWN_FIELDS[kind];
  return Object.fromEntries(kept.filter((key) => key in item).map((key) => [key, item[key]]));
}

/** The overview without its statistics, when the request disables them. */
export function overviewWithoutStats(req: ApiRequest, overview: Item): Item {
  return statsDisabled(req) ? Object.fromEntries(Object.entries(overview).filter(([key]) => !OVERVIEW_STATISTICS.has(key))) : overview;
}

/** Channels and consumers are statistics: a request that disables them is refused. */
export function refuseWithoutStats(req: ApiRequest): void {
  if (statsDisabled(req)) throw badRequest('Stats in management UI are disabled on this node');
}
