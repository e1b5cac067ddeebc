/**
 * A channel's cache of basic.publish permission checks, so the publish path
 * does not run a regex per message: write permission on an exchange is
 * checked once per exchange record and kept until AccessControl's generation
 * changes (any user or permission change). A topic permission on a topic
 * exchange still needs the routing key of each publish: its last allowed key
 * is kept, so a stream to one key costs one comparison.
 */
import type { ExchangeRecord } from '../routing/topology.js';
import { topicAllows, topicRefused, type AccessControl } from './access-control.js';

interface Permit {
  generation: number;
  topic: ReturnType<AccessControl['topicPermission']>;
  lastKey: string | null;
}

/** More exchanges than a channel plausibly publishes to: the cache is dropped rather than grown. */
const MAX_PERMITS = 256;

export class PublishPermits {
  private readonly permits = new Map<ExchangeRecord, Permit>();

  constructor(
    private readonly access: AccessControl,
    private readonly user: string,
    private readonly vhost: string,
  ) {}

  /** Throws 403 unless the user may publish to `exchange` with this routing key. */
  check(exchange: ExchangeRecord, routingKey: () => string): void {
    let permit = this.permits.get(exchange);
    if (permit === undefined || permit.generation !== this.access.generation) permit = this.admit(exchange);
    if (permit.topic === undefined) return;
    const key = routingKey();
    if (key === permit.lastKey) return;
    if (!topicAllows(permit.topic, 'write', this.user, this.vhost, key)) throw topicRefused(this.user, this.vhost, exchange.name, key);
    permit.lastKey = key;
  }

  private admit(exchange: ExchangeRecord): Permit {
    this.access.check(this.user, this.vhost, 'exchange', exchange.name, 'write');
    if (this.permits.size >= MAX_PERMITS) this.permits.clear();
    const topic = exchange.type === 'topic' ? this.access.topicPermission(this.user, this.vhost, exchange.name) : undefined;
    const permit = { generation: this.access.generation, topic, lastKey: null };
    this.permits.set(exchange, permit);
    return permit;
  }
}
