/**
 * What the resource handlers share: the broker's state (through
 * ManagementHost), this node's name, rates and one counters snapshot per
 * request, and the route table they register into.
 */
import { NODE_NAME } from '../version.js';
import type { QueueRecord } from '../routing/topology.js';
import type { VHostService } from '../vhost/vhost-service.js';
import { httpError, notFound, type ApiRequest, type Reply } from './http.js';
import type { Access, ResourceKind } from '../auth/access-control.js';
import type { Listener, ManagementHost } from './host.js';
import type { Level } from './tags.js';
import { queueCounters, Rates, type QueueCounters } from './stats.js';

export type Handler = (req: ApiRequest) => unknown | Reply | Promise<unknown>;
/** `level`: what the route asks of the user beyond a management tag (see tags.ts); management when absent. */
export type Route = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, handler: Handler, level?: Level) => void;

export class Api {
  /** RabbitMQ's node name shape, rabbit@host */
  readonly node = NODE_NAME;
  readonly startedAt = Date.now();
  /** per-queue publish / deliver_get / ack rates, by queue id */
  readonly queueRates = new Rates();
  /** the overview's message rates */
  readonly overviewRates = new Rates();
  /** per-exchange publish_in / publish_out rates, by exchange record */
  readonly exchangeRates = new Rates();
  /** per-channel message rates, by channel ref */
  readonly channelRates = new Rates();
  /** per-connection byte rates (recv_oct / send_oct), by connection id */
  readonly connectionRates = new Rates();
  /** the port this API listens on, once it does */
  managementPort = 0;
  /** the address it listens on */
  managementHost = '';

  constructor(
    readonly host: ManagementHost,
    readonly listener: Listener,
  ) {}

  /** The vhost named in the path: 404 unless it exists. */
  service(name: string | undefined): VHostService {
    const service = name === undefined ? undefined : this.host.vhosts.get(name);
    if (service === undefined) throw notFound();
    return service;
  }

  /** The vhosts a list covers: one when the path names it (404 if missing), else all. */
  services(name: string | undefined): VHostService[] {
    return name === undefined ? [...this.host.vhosts.values()] : [this.service(name)];
  }

  /** A queue that exists: 404 otherwise. */
  queue(vhost: string | undefined, name: string | undefined): QueueRecord {
    const queue = name === undefined ? undefined : this.service(vhost).topology.queues.get(name);
    if (queue === undefined) throw notFound();
    return queue;
  }

  /**
   * The request's user may do `access` on the resource: RabbitMQ's API acts as
   * the user, so its permissions apply (administrators' too). 401 "Access refused." otherwise.
   */
  permit(req: ApiRequest, vhost: string, kind: ResourceKind, name: string, access: Access): void {
    try {
      this.host.access.check(req.user, vhost, kind, name, access);
    } catch (err) {
      throw httpError(err);
    }
  }

  /** Every queue's counters, one round trip per shard. */
  counters(): Promise<Map<number, QueueCounters>> {
    return queueCounters(this.host.links);
  }
}

/** RabbitMQ's name for the default exchange in paths. */
export const DEFAULT_EXCHANGE_PATH = 'amq.default';

export const exchangeName = (path: string) => (path === DEFAULT_EXCHANGE_PATH ? '' : path);
