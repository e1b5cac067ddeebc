/** exchange.declare / delete / bind / unbind, with RabbitMQ's checks and reply codes. */
import { ReplyCode, channelError, connectionError } from '../protocol/errors.js';
import * as M from '../protocol/methods.generated.js';
import { isExchangeType } from '../routing/exchange-type.js';
import type { ExchangeRecord, VHost } from '../routing/topology.js';
import type { Channel } from './channel.js';

export function exchangeMethod(ch: Channel, id: number, args: any): void {
  const vhost = ch.conn.vhost;
  switch (id) {
    case M.EXCHANGE_DECLARE:
      declare(vhost, args);
      if (!args.nowait) M.writeExchangeDeclareOk(ch.conn.out, ch.id);
      break;
    case M.EXCHANGE_DELETE:
      remove(vhost, args);
      if (!args.nowait) M.writeExchangeDeleteOk(ch.conn.out, ch.id);
      break;
    case M.EXCHANGE_BIND: {
      const a = args as M.ExchangeBind;
      const destination = existing(vhost, a.destination);
      vhost.bind(existing(vhost, a.source), destination, a.routingKey, a.arguments);
      if (!a.nowait) M.writeExchangeBindOk(ch.conn.out, ch.id);
      break;
    }
    case M.EXCHANGE_UNBIND: {
      // Unbinding what does not exist succeeds, as in RabbitMQ.
      const a = args as M.ExchangeUnbind;
      const source = vhost.exchanges.get(a.source);
      const destination = vhost.exchanges.get(a.destination);
      if (source !== undefined && destination !== undefined) vhost.unbind(source, destination, a.routingKey, a.arguments);
      if (!a.nowait) M.writeExchangeUnbindOk(ch.conn.out, ch.id);
      break;
    }
    default:
      throw connectionError(ReplyCode.COMMAND_INVALID, `unexpected ${M.methodName(id)}`);
  }
  ch.conn.dirty();
}

function declare(vhost: VHost, a: M.ExchangeDeclare): void {
  if (a.exchange === '') throw channelError(ReplyCode.ACCESS_REFUSED, `operation not permitted on the default exchange`);
  const current = vhost.exchanges.get(a.exchange);
  if (a.passive) {
    if (current === undefined) throw notFound(vhost, a.exchange);
    return;
  }
  if (!isExchangeType(a.type)) throw connectionError(ReplyCode.COMMAND_INVALID, `unknown exchange type '${a.type}'`);
  if (current !== undefined) {
    const where = `for exchange '${a.exchange}' in vhost '${vhost.name}'`;
    inequivalent('type', a.type, current.type, where);
    inequivalent('durable', a.durable, current.durable, where);
    inequivalent('auto_delete', a.autoDelete, current.autoDelete, where);
    inequivalent('internal', a.internal, current.internal, where);
    // Like RabbitMQ, only the alternate exchange must match; other arguments may differ.
    const ae = 'alternate-exchange';
    inequivalent(ae, a.arguments[ae] ?? 'none', current.args[ae] ?? 'none', where);
    return;
  }
  if (a.exchange.startsWith('amq.')) {
    throw channelError(ReplyCode.ACCESS_REFUSED, `exchange name '${a.exchange}' contains reserved prefix 'amq.*'`);
  }
  vhost.addExchange({ name: a.exchange, type: a.type, durable: a.durable, autoDelete: a.autoDelete, internal: a.internal, args: a.arguments });
}

function remove(vhost: VHost, a: M.ExchangeDelete): void {
  if (a.exchange === '') throw channelError(ReplyCode.ACCESS_REFUSED, `operation not permitted on the default exchange`);
  if (a.exchange.startsWith('amq.')) {
    throw channelError(ReplyCode.ACCESS_REFUSED, `deletion of system exchange '${a.exchange}' in vhost '${vhost.name}' not allowed`);
  }
  const exchange = vhost.exchanges.get(a.exchange);
  if (exchange === undefined) return; // RabbitMQ: deleting a missing exchange succeeds
  if (a.ifUnused && exchange.matcher.bindingCount > 0) {
    throw channelError(ReplyCode.PRECONDITION_FAILED, `exchange '${a.exchange}' in vhost '${vhost.name}' in use`);
  }
  vhost.deleteExchange(exchange);
}

/** An exchange that must exist, for bind/unbind; the default one may not be bound. */
export function existing(vhost: VHost, name: string): ExchangeRecord {
  if (name === '') throw channelError(ReplyCode.ACCESS_REFUSED, `operation not permitted on the default exchange`);
  const exchange = vhost.exchanges.get(name);
  if (exchange === undefined) throw notFound(vhost, name);
  return exchange;
}

export function notFound(vhost: VHost, name: string) {
  return channelError(ReplyCode.NOT_FOUND, `no exchange '${name}' in vhost '${vhost.name}'`);
}

/** RabbitMQ's 406 text for a redeclare that differs from what exists. */
export function inequivalent(arg: string, received: unknown, current: unknown, where: string): void {
  if (received !== current) {
    throw channelError(ReplyCode.PRECONDITION_FAILED, `inequivalent arg '${arg}' ${where}: received '${received}' but current is '${current}'`);
  }
}
