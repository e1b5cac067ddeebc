/**
 * What one connection's user may do in its vhost, checked where RabbitMQ's
 * rabbit_channel checks it: the AMQP handlers call these (one line each) and
 * get a 403 ACCESS_REFUSED channel error when the user lacks the permission.
 */
import type { FieldTable } from '../protocol/field-types.js';
import type { VHost } from '../routing/topology.js';
import type { AccessControl, ResourceKind } from './access-control.js';

export class UserAccess {
  constructor(
    private readonly access: AccessControl,
    readonly user: string,
    private readonly vhost: VHost,
  ) {}

  configure(kind: ResourceKind, name: string): void {
    this.access.check(this.user, this.vhost.name, kind, name, 'configure');
  }

  write(kind: ResourceKind, name: string): void {
    this.access.check(this.user, this.vhost.name, kind, name, 'write');
  }

  read(kind: ResourceKind, name: string): void {
    this.access.check(this.user, this.vhost.name, kind, name, 'read');
  }

  /**
   * exchange.declare (not passive): configure on the exchange; creating one
   * with an alternate exchange also needs read on it and write on the alternate.
   */
  declareExchange(name: string, args: FieldTable): void {
    this.configure('exchange', name);
    const alternate = args['alternate-exchange'];
    if (typeof alternate === 'string' && !this.vhost.exchanges.has(name)) {
      this.read('exchange', name);
      this.write('exchange', alternate);
    }
  }

  /**
   * queue.declare (not passive): configure on the queue; creating one with a
   * dead-letter exchange also needs read on it and write on that exchange.
   */
  declareQueue(name: string, args: FieldTable): void {
    this.configure('queue', name);
    const deadLetter = args['x-dead-letter-exchange'];
    if (typeof deadLetter === 'string' && !this.vhost.queues.has(name)) {
      this.read('queue', name);
      this.write('exchange', deadLetter);
    }
  }

  /**
   * queue.bind/unbind, exchange.bind/unbind: write on the destination, read on
   * the source, and for a topic source the topic permission's read pattern on
   * the routing key.
   */
  bind(kind: ResourceKind, destination: string, source: string, routingKey: string): void {
    this.write(kind, destination);
    // RabbitMQ refuses a binding to or from the default exchange before the read check (the service does here).
    if (source === '' || (kind === 'exchange' && destination === '')) return;
    this.read('exchange', source);
    if (this.vhost.exchanges.get(source)?.type === 'topic') this.access.checkTopic(this.user, this.vhost.name, source, routingKey, 'read');
  }
}
