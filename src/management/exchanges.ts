/** /api/exchanges: list, show, declare (PUT), delete (if-unused). */
import { argumentsJson } from '../definitions/rabbit-format.js';
import type { ExchangeRecord } from '../routing/topology.js';
import { exchangeName, type Api, type Route } from './api.js';
import { boolField, created, httpError, noContent, notFound, objectBody, param, queryFlag, stringField, type ApiRequest } from './http.js';
import { listReply, selectColumns } from './list.js';
import { args } from './queues.js';
import { messageStatsJson } from './stats.js';

export function exchangeRoutes(api: Api, route: Route): void {
  const list = (req: ApiRequest) => {
    const services = api.services(req.params.vhost);
    const items = services.flatMap((s) => [...s.topology.exchanges.values()].map((x) => exchangeJson(api, s.name, x)));
    if (req.params.vhost === undefined) api.exchangeRates.forgetAllBut(new Set(services.flatMap((s) => [...s.topology.exchanges.values()].map(rateKey))));
    return listReply(req, items);
  };
  route('GET', '/api/exchanges', list);
  route('GET', '/api/exchanges/:vhost', list);

  const existing = (req: ApiRequest) => {
    const service = api.service(req.params.vhost);
    const exchange = service.topology.exchanges.get(exchangeName(param(req, 'name')));
    if (exchange === undefined) throw notFound();
    return { service, exchange };
  };

  route('GET', '/api/exchanges/:vhost/:name', (req) => {
    const { service, exchange } = existing(req);
    // RabbitMQ's single-exchange view adds per-source and per-destination rates (none here).
    return selectColumns(req, { ...exchangeJson(api, service.name, exchange), incoming: [], outgoing: [] });
  });

  route('PUT', '/api/exchanges/:vhost/:name', (req) => {
    const service = api.service(req.params.vhost);
    const name = exchangeName(param(req, 'name'));
    const body = objectBody(req);
    // RabbitMQ declares a direct exchange when the body names no type.
    const type = stringField(body, 'type', 'direct');
    const existed = service.topology.exchanges.has(name);
    try {
      // As RabbitMQ's API (a direct connection as the user): the user's permissions apply, administrators' too.
      api.host.access.check(req.user, service.name, 'exchange', name, 'configure');
      service.apply({
        kind: 'exchange.declare',
        name,
        type,
        // RabbitMQ's default, as AMQP's declare: a body without durable declares a transient one
        durable: boolField(body, 'durable', false),
        autoDelete: boolField(body, 'auto_delete', false),
        internal: boolField(body, 'internal', false),
        arguments: args(body.arguments),
      });
    } catch (err) {
      throw httpError(err);
    }
    return existed ? noContent() : created();
  });

  route('DELETE', '/api/exchanges/:vhost/:name', (req) => {
    const { service, exchange } = existing(req);
    try {
      api.host.access.check(req.user, service.name, 'exchange', exchange.name, 'configure');
      service.apply({ kind: 'exchange.delete', name: exchange.name, ifUnused: queryFlag(req, 'if-unused') });
    } catch (err) {
      throw httpError(err);
    }
    return noContent();
  });
}

/** Rates are kept per exchange record: one deleted and declared again starts from 0 under a new key. */
const rateKeys = new WeakMap<ExchangeRecord, number>();
let nextRateKey = 0;
function rateKey(x: ExchangeRecord): number {
  let key = rateKeys.get(x);
  if (key === undefined) rateKeys.set(x, (key = ++nextRateKey));
  return key;
}

/** RabbitMQ's exchange message_stats keys. */
const EXCHANGE_MESSAGE_STATS = ['publish_in', 'publish_out'];

export function exchangeJson(api: Api, vhost: string, x: ExchangeRecord): Record<string, unknown> {
  const totals = [x.publishIn, x.publishOut];
  const rates = api.exchangeRates.observe(rateKey(x), totals);
  // Like RabbitMQ, an exchange nothing was published to has no message_stats.
  const stats = x.publishIn > 0 ? { message_stats: messageStatsJson(EXCHANGE_MESSAGE_STATS, totals, rates) } : {};
  return {
    ...stats,
    name: x.name,
    vhost,
    type: x.type,
    durable: x.durable,
    auto_delete: x.autoDelete,
    internal: x.internal,
    arguments: argumentsJson(x.args),
    // RabbitMQ names an exchange's policy only when it has one.
    ...(x.policy === undefined ? {} : { policy: x.policy.name }),
    user_who_performed_action: 'rmq-internal',
  };
}
