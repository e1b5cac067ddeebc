/** exchange.declare / delete / bind / unbind: decoded into commands for the vhost service, which checks them. */
import { ReplyCode, connectionError } from '../protocol/errors.js';
import * as M from '../protocol/methods.generated.js';
import type { Channel } from './channel.js';

export function exchangeMethod(ch: Channel, id: number, args: any): void {
  const service = ch.conn.service;
  const out = ch.conn.out;
  switch (id) {
    case M.EXCHANGE_DECLARE: {
      const a = args as M.ExchangeDeclare;
      // The default exchange is refused before permissions, by the service.
      if (!a.passive && a.exchange !== '') ch.conn.permissions.declareExchange(a.exchange, a.arguments);
      service.apply({
        kind: 'exchange.declare',
        name: a.exchange,
        type: a.type,
        passive: a.passive,
        durable: a.durable,
        autoDelete: a.autoDelete,
        internal: a.internal,
        arguments: a.arguments,
      });
      if (!a.nowait) M.writeExchangeDeclareOk(out, ch.id);
      break;
    }
    case M.EXCHANGE_DELETE: {
      const a = args as M.ExchangeDelete;
      if (a.exchange !== '') ch.conn.permissions.configure('exchange', a.exchange);
      service.apply({ kind: 'exchange.delete', name: a.exchange, ifUnused: a.ifUnused });
      if (!a.nowait) M.writeExchangeDeleteOk(out, ch.id);
      break;
    }
    case M.EXCHANGE_BIND:
    case M.EXCHANGE_UNBIND: {
      const a = args as M.ExchangeBind;
      const kind = id === M.EXCHANGE_BIND ? 'exchange.bind' : 'exchange.unbind';
      ch.conn.permissions.bind('exchange', a.destination, a.source, a.routingKey);
      service.apply({ kind, source: a.source, destination: a.destination, routingKey: a.routingKey, arguments: a.arguments });
      if (a.nowait) break;
      if (id === M.EXCHANGE_BIND) M.writeExchangeBindOk(out, ch.id);
      else M.writeExchangeUnbindOk(out, ch.id);
      break;
    }
    default:
      throw connectionError(ReplyCode.COMMAND_INVALID, `unexpected ${M.methodName(id)}`);
  }
  ch.conn.dirty();
}
