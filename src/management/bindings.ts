/**
 * /api/bindings: list, create (POST -> 201 with Location), show and delete one
 * binding by its properties key, for exchange-to-queue (e/.../q/...) and
 * exchange-to-exchange (e/.../e/...) bindings; and an exchange's bindings as
 * source or destination.
 */
import { createHash } from 'node:crypto';
import { argumentsJson, toJsonTable } from '../definitions/rabbit-format.js';
import { AmqpError, ReplyCode } from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-types.js';
import type { Binding } from '../routing/exchange-type.js';
import type { Destination, ExchangeRecord, QueueRecord } from '../routing/topology.js';
import type { VHostService } from '../vhost/vhost-service.js';
import { exchangeName, type Api, type Route } from './api.js';
import { HttpError, created, httpError, noContent, notFound, objectBody, param, stringField, type ApiRequest } from './http.js';
import { listReply } from './list.js';
import { args } from './queues.js';

export function bindingRoutes(api: Api, route: Route): void {
  const list = (req: ApiRequest) => listReply(req, api.services(req.params.vhost).flatMap(allBindings));
  route('GET', '/api/bindings', list);
  route('GET', '/api/bindings/:vhost', list);

  for (const [letter, kind] of [['q', 'queue'], ['e', 'exchange']] as const) {
    const between = `/api/bindings/:vhost/e/:source/${letter}/:destination`;
    /** The two ends named in the path, in the vhost's service: each undefined where missing. */
    const lookUp = (service: VHostService, req: ApiRequest) => {
      const source = service.topology.exchanges.get(exchangeName(param(req, 'source')));
      const name = param(req, 'destination');
      const destination = kind === 'queue' ? service.topology.queues.get(name) : service.topology.exchanges.get(exchangeName(name));
      return { source, destination };
    };
    /** The two ends named in the path: 404 unless both exist (worded as AMQP's bind when `asBind`, as RabbitMQ does for POST). */
    const ends = (req: ApiRequest, asBind = false) => {
      const service = api.service(req.params.vhost);
      const { source, destination } = lookUp(service, req);
      if (asBind && source === undefined) throw new HttpError(404, 'not_found', `no exchange '${exchangeName(param(req, 'source'))}' in vhost '${service.name}'`);
      if (asBind && destination === undefined) throw new HttpError(404, 'not_found', `no ${kind} '${param(req, 'destination')}' in vhost '${service.name}'`);
      if (source === undefined || destination === undefined) throw notFound();
      return { service, source, destination };
    };
    const matching = (source: ExchangeRecord, destination: Destination) =>
      [...source.matcher.bindings()].filter((b) => b.destination === destination);

    route('GET', between, (req) => {
      // RabbitMQ lists what lies between two names without looking them up: [] where an end, or the vhost, is missing,
      // and the default exchange's implicit binding to any queue name.
      const service = api.host.vhosts.get(param(req, 'vhost'));
      if (service !== undefined && kind === 'queue' && exchangeName(param(req, 'source')) === '') {
        return listReply(req, [defaultBinding({ vhost: service.name, name: param(req, 'destination') })]);
      }
      const { source, destination } = service === undefined ? {} : lookUp(service, req);
      if (service === undefined || source === undefined || destination === undefined) return listReply(req, []);
      return listReply(req, matching(source, destination).map((b) => bindingJson(service.name, source, b)));
    });

    route('POST', between, (req) => {
      // As AMQP's bind, RabbitMQ refuses the default exchange at either end before it looks for anything.
      if (exchangeName(param(req, 'source')) === '' || (kind === 'exchange' && exchangeName(param(req, 'destination')) === '')) {
        throw httpError(new AmqpError(ReplyCode.ACCESS_REFUSED, 'operation not permitted on the default exchange'));
      }
      const { service, source, destination } = ends(req, true);
      const body = objectBody(req);
      const routingKey = stringField(body, 'routing_key', '');
      const bindArgs = args(body.arguments);
      permitBinding(api, req, service.name, source, destination);
      apply(service, { bind: true, source, destination, routingKey, args: bindArgs });
      // As RabbitMQ's: relative to the request path, whose last segment is the destination.
      return created({ Location: `${encodeURIComponent(param(req, 'destination'))}/${encodeURIComponent(propertiesKey(routingKey, bindArgs))}` });
    });

    route('GET', `${between}/:props`, (req) => {
      const { service, source, destination } = ends(req);
      const binding = matching(source, destination).find((b) => propertiesKey(b.routingKey, b.args) === req.params.props);
      if (binding === undefined) throw notFound();
      return bindingJson(service.name, source, binding);
    });

    route('DELETE', `${between}/:props`, (req) => {
      const { service, source, destination } = ends(req);
      const binding = matching(source, destination).find((b) => propertiesKey(b.routingKey, b.args) === req.params.props);
      if (binding === undefined) throw notFound();
      permitBinding(api, req, service.name, source, destination);
      apply(service, { bind: false, source, destination, routingKey: binding.routingKey, args: binding.args });
      return noContent();
    });
  }

  route('GET', '/api/exchanges/:vhost/:name/bindings/source', (req) => {
    const service = api.service(req.params.vhost);
    const source = service.topology.exchanges.get(exchangeName(param(req, 'name')));
    if (source === undefined) throw notFound();
    return listReply(req, [...source.matcher.bindings()].map((b) => bindingJson(service.name, source, b)));
  });

  route('GET', '/api/exchanges/:vhost/:name/bindings/destination', (req) => {
    const service = api.service(req.params.vhost);
    const destination = service.topology.exchanges.get(exchangeName(param(req, 'name')));
    if (destination === undefined) throw notFound();
    const items = [];
    for (const source of destination.boundFrom) {
      for (const b of source.matcher.bindings()) if (b.destination === destination) items.push(bindingJson(service.name, source, b));
    }
    return listReply(req, items);
  });
}

/** As AMQP's bind and unbind: write on the destination, read on the source. */
function permitBinding(api: Api, req: ApiRequest, vhost: string, source: ExchangeRecord, destination: Destination): void {
  api.permit(req, vhost, destination.kind === 'queue' ? 'queue' : 'exchange', destination.name, 'write');
  api.permit(req, vhost, 'exchange', source.name, 'read');
}

/** Binds or unbinds through the vhost service, so AMQP's rules apply (403 for the default exchange...). */
function apply(
  service: VHostService,
  b: { bind: boolean; source: ExchangeRecord; destination: Destination; routingKey: string; args: FieldTable },
): void {
  try {
    if (b.destination.kind === 'queue') {
      service.apply({ kind: b.bind ? 'bind' : 'unbind', exchange: b.source.name, queue: b.destination.name, routingKey: b.routingKey, arguments: b.args, owner: 0 });
    } else {
      service.apply({ kind: b.bind ? 'exchange.bind' : 'exchange.unbind', source: b.source.name, destination: b.destination.name, routingKey: b.routingKey, arguments: b.args });
    }
  } catch (err) {
    throw httpError(err);
  }
}

/** Every binding of a vhost, the default exchange's implicit ones first, as RabbitMQ lists them. */
function allBindings(service: VHostService): Record<string, unknown>[] {
  const items = [...service.topology.queues.values()].map(defaultBinding);
  for (const source of service.topology.exchanges.values()) {
    for (const b of source.matcher.bindings()) items.push(bindingJson(service.name, source, b));
  }
  return items;
}

export function bindingJson(vhost: string, source: ExchangeRecord, b: Binding<Destination>): Record<string, unknown> {
  return {
    source: source.name,
    vhost,
    destination: b.destination.name,
    destination_type: b.destination.kind,
    routing_key: b.routingKey,
    arguments: argumentsJson(b.args),
    properties_key: propertiesKey(b.routingKey, b.args),
  };
}

/** The default exchange's binding to every queue (implicit: it cannot be created or deleted). */
export function defaultBinding(queue: Pick<QueueRecord, 'vhost' | 'name'>): Record<string, unknown> {
  return {
    source: '',
    vhost: queue.vhost,
    destination: queue.name,
    destination_type: 'queue',
    routing_key: queue.name,
    arguments: {},
    properties_key: propertiesKey(queue.name, {}),
  };
}

/**
 * RabbitMQ's name for a binding within its two ends: "~" for an empty key
 * without arguments, else the quoted routing key, then "~" and a hash of the
 * arguments if there are any.
 */
export function propertiesKey(routingKey: string, bindArgs: FieldTable): string {
  const hasArgs = Object.keys(bindArgs).length > 0;
  if (routingKey === '' && !hasArgs) return '~';
  const key = quote(routingKey);
  if (!hasArgs) return key;
  const hash = createHash('sha1').update(JSON.stringify(Object.entries(toJsonTable(bindArgs)).sort())).digest('base64url').slice(0, 22);
  return `${key}~${quote(hash)}`;
}

/** rabbit_http_util:quote_plus, with '~' escaped as it separates the parts. */
function quote(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
