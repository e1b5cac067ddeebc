/**
 * Waiting instead of polling, for test rigs: `waitFor.queue(name, { messages: 5 })`
 * resolves once the queue holds that many, `waitFor.connections(n)` once n
 * clients are past connection.open, `waitFor.published(exchange, n)` once n
 * messages went to an exchange; each rejects after its timeout with what it
 * last saw.
 *
 * Checks follow the broker's own events: the broker pokes when a batch of
 * work wrote to a shard or a client (a publish routed, an ack, a delivery, a
 * consume or cancel, a declare), and when a connection closes. Queue counts
 * live in the shards, so a check asks each shard holding a waited-on queue
 * once ('stats'); pokes meanwhile are gathered into one more check, at most
 * every MIN_GAP_MS. With no waiter the broker does not poke at all.
 */
import type { Broker } from '../broker.js';
import { QUEUE_STATS_FIELDS } from '../shard/records.js';

/** What a queue must show; each given count must match exactly. messages = ready + unacked, as RabbitMQ counts. */
export interface QueueExpectation {
  messages?: number;
  ready?: number;
  unacked?: number;
  consumers?: number;
}

export interface WaitOptions {
  /** reject after this long; default 5000 ms */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** Checks are at least this far apart while events keep coming. */
const MIN_GAP_MS = 2;

/** What one queue showed at a check; undefined counts: the queue did not exist. */
interface Seen {
  messages?: number;
  ready?: number;
  unacked?: number;
  consumers?: number;
}

interface Waiter {
  /** the shard and queue id to ask about at the next check, or null for none */
  target(): { shard: number; queueId: number } | null;
  /** true once satisfied; `stats` are the counters of the queues asked about, by id */
  evaluate(stats: Map<number, [ready: number, unacked: number]>): boolean;
  describe(): string;
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** waitFor.published: counted by the channels as publishes are routed, not by checks. */
interface PublishWaiter {
  readonly vhost: string;
  readonly exchange: string;
  readonly n: number;
  seen: number;
  resolve(): void;
  timer: NodeJS.Timeout;
}

export class WaitFor {
  /** true while someone waits: only then does the broker poke */
  active = false;
  /** true while someone waits for publishes: only then do channels count them */
  countingPublishes = false;
  private readonly waiters = new Set<Waiter>();
  private readonly publishWaiters = new Set<PublishWaiter>();
  private checking = false;
  private again = false;
  private scheduled: NodeJS.Timeout | null = null;
  private lastCheck = 0;

  constructor(private readonly broker: Broker) {
    this.run = this.run.bind(this);
  }

  /** Resolves once the queue (in vhost '/' unless given) shows every count in `expect`. */
  queue(name: string, expect: QueueExpectation, options?: WaitOptions): Promise<void>;
  queue(vhost: string, name: string, expect: QueueExpectation, options?: WaitOptions): Promise<void>;
  queue(a: string, b: string | QueueExpectation, c?: QueueExpectation | WaitOptions, d?: WaitOptions): Promise<void> {
    const [vhost, name, expect, options] = typeof b === 'string' ? [a, b, c as QueueExpectation, d] : ['/', a, b, c as WaitOptions | undefined];
    const broker = this.broker;
    let seen: Seen = {};
    let queueId = 0;
    return this.wait(`waitFor.queue('${vhost}', '${name}', ${JSON.stringify(expect)})`, options, {
      target() {
        const queue = broker.vhosts.get(vhost)?.topology.queues.get(name);
        queueId = queue?.id ?? 0;
        return queue === undefined ? null : { shard: queue.shard, queueId: queue.id };
      },
      evaluate(stats) {
        const counts = stats.get(queueId);
        const queue = broker.vhosts.get(vhost)?.topology.queues.get(name);
        if (counts === undefined || queue === undefined || queue.id !== queueId) {
          seen = {};
          return false;
        }
        const [ready, unacked] = counts;
        seen = { messages: ready + unacked, ready, unacked, consumers: queue.consumerCount };
        return (Object.keys(expect) as (keyof QueueExpectation)[]).every((key) => expect[key] === undefined || expect[key] === seen[key]);
      },
      describe: () => (seen.messages === undefined ? 'the queue did not exist' : `last seen ${JSON.stringify(seen)}`),
    });
  }

  /** Resolves once exactly `n` client connections are open (past connection.open), in every vhost together. */
  connections(n: number, options?: WaitOptions): Promise<void> {
    let open = 0;
    const broker = this.broker;
    return this.wait(`waitFor.connections(${n})`, options, {
      target: () => null,
      evaluate() {
        open = 0;
        for (const service of broker.vhosts.values()) open += service.connections.size;
        return open === n;
      },
      describe: () => `last seen ${open} open`,
    });
  }

  /**
   * Resolves once `n` messages have been published by clients to the exchange (in vhost
   * '/' unless given; '' is the default exchange) since the call, routed or not; a
   * transaction's publishes count at tx.commit. Rejects on timeout with the count seen.
   */
  published(exchange: string, n: number, options?: WaitOptions): Promise<void>;
  published(vhost: string, exchange: string, n: number, options?: WaitOptions): Promise<void>;
  published(a: string, b: string | number, c?: number | WaitOptions, d?: WaitOptions): Promise<void> {
    const [vhost, exchange, n, options] = typeof b === 'string' ? [a, b, c as number, d] : ['/', a, b, c as WaitOptions | undefined];
    const timeoutMs = options?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (n <= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: PublishWaiter = {
        vhost,
        exchange,
        n,
        seen: 0,
        resolve,
        timer: setTimeout(() => {
          this.removePublishWaiter(waiter);
          reject(new Error(`waitFor.published('${vhost}', '${exchange}', ${n}): not reached within ${timeoutMs} ms; ${waiter.seen} published`));
        }, timeoutMs),
      };
      this.publishWaiters.add(waiter);
      this.countingPublishes = true;
    });
  }

  /** A client's publish to `exchange` was routed; the channel calls this only while countingPublishes. */
  countPublish(vhost: string, exchange: string): void {
    for (const waiter of this.publishWaiters) {
      if (waiter.exchange !== exchange || waiter.vhost !== vhost || ++waiter.seen < waiter.n) continue;
      this.removePublishWaiter(waiter);
      waiter.resolve();
    }
  }

  private removePublishWaiter(waiter: PublishWaiter): void {
    clearTimeout(waiter.timer);
    this.publishWaiters.delete(waiter);
    this.countingPublishes = this.publishWaiters.size > 0;
  }

  /** Something happened that may change what a waiter waits for: check soon. */
  poke(): void {
    if (this.checking) {
      this.again = true;
      return;
    }
    if (this.scheduled !== null) return;
    this.scheduled = setTimeout(this.run, Math.max(0, this.lastCheck + MIN_GAP_MS - Date.now()));
  }

  private wait(what: string, options: WaitOptions | undefined, spec: Pick<Waiter, 'target' | 'evaluate' | 'describe'>): Promise<void> {
    const timeoutMs = options?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        ...spec,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.remove(waiter);
          reject(new Error(`${what}: not reached within ${timeoutMs} ms; ${waiter.describe()}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
      this.active = true;
      this.poke();
    });
  }

  private remove(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
    this.active = this.waiters.size > 0;
  }

  /** One check: one 'stats' request per shard that holds a waited-on queue, then every waiter looks. */
  private async run(): Promise<void> {
    this.scheduled = null;
    if (this.waiters.size === 0) return;
    this.checking = true;
    this.lastCheck = Date.now();
    const stats = new Map<number, [number, number]>();
    try {
      const shards = new Set<number>();
      for (const waiter of this.waiters) {
        const target = waiter.target();
        if (target !== null) shards.add(target.shard);
      }
      const replies = await Promise.all([...shards].map((shard) => this.broker.links[shard].request({ op: 'stats' }) as Promise<{ stats: number[] }>));
      for (const { stats: flat } of replies) {
        for (let i = 0; i < flat.length; i += QUEUE_STATS_FIELDS) stats.set(flat[i], [flat[i + 1], flat[i + 2]]);
      }
    } catch (err) {
      // The broker failed or is closing: every waiter hears why.
      for (const waiter of [...this.waiters]) {
        this.remove(waiter);
        waiter.reject(err as Error);
      }
    } finally {
      this.checking = false;
    }
    for (const waiter of [...this.waiters]) {
      if (!waiter.evaluate(stats)) continue;
      this.remove(waiter);
      waiter.resolve();
    }
    if (this.again) {
      this.again = false;
      this.poke();
    }
  }
}
