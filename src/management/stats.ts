/**
 * Queue counters for the management API. Each shard answers one 'stats'
 * control request with the counters of all its queues, so a request costs
 * one round trip per shard, whatever the number of queues. Rates come from
 * the totals seen by earlier requests (RabbitMQ's *_details.rate: per second
 * over the last few seconds of samples).
 */
import type { ShardLink } from '../acceptor/shard-link.js';
import { QUEUE_STATS_FIELDS } from '../shard/records.js';

export interface QueueCounters {
  ready: number;
  unacked: number;
  published: number;
  deliveredOrGot: number;
  acked: number;
}

/** Every queue's counters, by queue id (ids are broker-wide). */
export async function queueCounters(links: readonly ShardLink[]): Promise<Map<number, QueueCounters>> {
  const replies = await Promise.all(links.map((link) => link.request({ op: 'stats' }) as Promise<{ stats: number[] }>));
  const counters = new Map<number, QueueCounters>();
  for (const { stats } of replies) {
    for (let i = 0; i < stats.length; i += QUEUE_STATS_FIELDS) {
      counters.set(stats[i], { ready: stats[i + 1], unacked: stats[i + 2], published: stats[i + 3], deliveredOrGot: stats[i + 4], acked: stats[i + 5] });
    }
  }
  return counters;
}

/** Samples older than this no longer count towards a rate. */
const WINDOW_MS = 5000;

interface Sample {
  at: number;
  values: number[];
}

/**
 * Rates of monotonic totals, per key: the change per second between the
 * oldest sample within WINDOW_MS and now. A key not observed in a sweep is
 * dropped by forgetAllBut (its queue went).
 */
export class Rates {
  private readonly samples = new Map<string | number, Sample[]>();

  /** Records the totals of `key` now; returns their rates (0 until there are two samples). */
  observe(key: string | number, values: number[], now = Date.now()): number[] {
    let list = this.samples.get(key);
    if (list === undefined) this.samples.set(key, (list = []));
    // Requests within the same few milliseconds add nothing but noise.
    if (list.length === 0 || now - list[list.length - 1].at >= 100) list.push({ at: now, values });
    while (list.length > 2 && now - list[1].at > WINDOW_MS) list.shift();
    const first = list[0];
    const seconds = (now - first.at) / 1000;
    return values.map((v, i) => (seconds <= 0 ? 0 : round((v - first.values[i]) / seconds)));
  }

  /** Drops the samples of keys not in `live`. */
  forgetAllBut(live: Set<string | number>): void {
    for (const key of this.samples.keys()) if (!live.has(key)) this.samples.delete(key);
  }
}

const round = (n: number) => Math.round(n * 10) / 10;

/** RabbitMQ's `{"rate": r}` detail object. */
export const details = (rate: number) => ({ rate });

/** RabbitMQ's depth fields (messages, ready, unacknowledged), each with its rate, in that order. */
export const depthFields = (ready: number, unacked: number, rates: readonly number[]) => ({
  messages: ready + unacked,
  messages_details: details(rates[0]),
  messages_ready: ready,
  messages_ready_details: details(rates[1]),
  messages_unacknowledged: unacked,
  messages_unacknowledged_details: details(rates[2]),
});
