/**
 * Queue counters for the management API. Each shard answers one 'stats'
 * control request with the counters of all its queues, so a request costs
 * one round trip per shard, whatever the number of queues. Rates come from
 * the totals seen by earlier requests (RabbitMQ's *_details.rate: per second
 * over the last few seconds of samples).
 */
import type { ShardLink } from '../acceptor/shard-link.js';
import { QUEUE_STATS_FIELDS } from '../shard/records.js';
import { EMPTY_QUEUE_BYTES, ENTRY_OVERHEAD } from '../shard/queue.js';
import type { ChannelStats } from '../acceptor/channel-stats.js';
import type { VHostService } from '../vhost/vhost-service.js';

export interface QueueCounters {
  ready: number;
  unacked: number;
  published: number;
  /** to consumers that ack */
  delivered: number;
  deliveredNoAck: number;
  /** basic.get (and the API's get) answers to be acked */
  got: number;
  gotNoAck: number;
  getEmpty: number;
  redelivered: number;
  acked: number;
  /** delivered + deliveredNoAck + got + gotNoAck: RabbitMQ's deliver_get */
  deliveredOrGot: number;
  /** body bytes (RabbitMQ counts bodies only) of the ready messages, paged-out ones included */
  readyBytes: number;
  unackedBytes: number;
  /** persistent messages in a stored queue, ready and unacked, and their body bytes */
  persistent: number;
  persistentBytes: number;
  /** ready messages on disk only, and their body bytes */
  pagedOut: number;
  pagedOutBytes: number;
  /** ms since the epoch since which none of its totals moved; 0: active at the last read */
  idleSince: number;
  /** 1 if a consumer could take a message now, else 0 */
  consumerCapacity: number;
}

/** Every queue's counters, by queue id (ids are broker-wide). */
export async function queueCounters(links: readonly ShardLink[]): Promise<Map<number, QueueCounters>> {
  const replies = await Promise.all(links.map((link) => link.request({ op: 'stats' }) as Promise<{ stats: number[] }>));
  const counters = new Map<number, QueueCounters>();
  for (const { stats: s } of replies) {
    // The order of Shard.queueStats.
    for (let i = 0; i < s.length; i += QUEUE_STATS_FIELDS) {
      const [delivered, deliveredNoAck, got, gotNoAck] = [s[i + 4], s[i + 5], s[i + 6], s[i + 7]];
      counters.set(s[i], {
        ready: s[i + 1],
        unacked: s[i + 2],
        published: s[i + 3],
        delivered,
        deliveredNoAck,
        got,
        gotNoAck,
        getEmpty: s[i + 8],
        redelivered: s[i + 9],
        acked: s[i + 10],
        deliveredOrGot: delivered + deliveredNoAck + got + gotNoAck,
        readyBytes: s[i + 11],
        unackedBytes: s[i + 12],
        persistent: s[i + 13],
        persistentBytes: s[i + 14],
        pagedOut: s[i + 15],
        pagedOutBytes: s[i + 16],
        idleSince: s[i + 17],
        consumerCapacity: s[i + 18],
      });
    }
  }
  return counters;
}

/** RabbitMQ's queue message_stats keys, in the order of queueTotals. */
export const QUEUE_MESSAGE_STATS = ['publish', 'deliver', 'deliver_no_ack', 'get', 'get_no_ack', 'get_empty', 'deliver_get', 'redeliver', 'ack'] as const;

/** A queue's (or a sum of queues') totals in the order of QUEUE_MESSAGE_STATS. */
export const queueTotals = (c: QueueCounters | undefined): number[] =>
  c === undefined ? QUEUE_MESSAGE_STATS.map(() => 0) : [c.published, c.delivered, c.deliveredNoAck, c.got, c.gotNoAck, c.getEmpty, c.deliveredOrGot, c.redelivered, c.acked];

/** Adds queue totals (queueTotals' order) into `sum`. */
export function addTotals(sum: number[], totals: readonly number[]): number[] {
  for (let i = 0; i < totals.length; i++) sum[i] = (sum[i] ?? 0) + totals[i];
  return sum;
}

/** RabbitMQ's message_stats object: each key's total and `key_details: {rate}`. */
export function messageStatsJson(keys: readonly string[], totals: readonly number[], rates: readonly number[]): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  keys.forEach((key, i) => {
    json[key] = totals[i];
    json[`${key}_details`] = details(rates[i]);
  });
  return json;
}

/** RabbitMQ's channel message_stats keys: the publishing group, then the consuming group (in the order of channelTotals). */
export const CHANNEL_MESSAGE_STATS = ['publish', 'confirm', 'return_unroutable', 'drop_unroutable', 'deliver', 'deliver_no_ack', 'get', 'get_no_ack', 'get_empty', 'deliver_get', 'redeliver', 'ack'] as const;
/** where the consuming group starts in CHANNEL_MESSAGE_STATS */
export const CHANNEL_CONSUMING = 4;

/** A channel's (or a sum of channels') totals in the order of CHANNEL_MESSAGE_STATS. */
export const channelTotals = (s: Readonly<ChannelStats>): number[] => [
  s.publish,
  s.confirm,
  s.returnUnroutable,
  s.dropUnroutable,
  s.deliver,
  s.deliverNoAck,
  s.get,
  s.getNoAck,
  s.getEmpty,
  s.deliver + s.deliverNoAck + s.get + s.getNoAck,
  s.redeliver,
  s.ack,
];

/** A vhost's channel totals (CHANNEL_MESSAGE_STATS' order): its closed channels' and its open ones'. */
export function vhostChannelTotals(s: VHostService): number[] {
  const sum = channelTotals(s.closedChannels);
  for (const conn of s.connections) for (const ch of conn.openChannels()) addTotals(sum, channelTotals(ch.messageStats));
  return sum;
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

/**
 * RabbitMQ's per-queue byte and memory fields. Messages in memory (`_ram`)
 * are all but the paged-out ones (ready ones on disk only): an unacked
 * message is always in memory.
 */
export function queueBytesFields(c: QueueCounters | undefined) {
  const ready = c?.ready ?? 0;
  const unacked = c?.unacked ?? 0;
  const readyBytes = c?.readyBytes ?? 0;
  const unackedBytes = c?.unackedBytes ?? 0;
  const pagedOut = c?.pagedOut ?? 0;
  const pagedOutBytes = c?.pagedOutBytes ?? 0;
  const inMemory = ready + unacked - pagedOut;
  const bytesInMemory = readyBytes + unackedBytes - pagedOutBytes;
  return {
    // RabbitMQ's is its queue process's memory; this estimates the shard's heap for the
    // queue: the queue itself, the measured cost of each message in memory, their bodies.
    memory: EMPTY_QUEUE_BYTES + inMemory * ENTRY_OVERHEAD + bytesInMemory,
    message_bytes: readyBytes + unackedBytes,
    message_bytes_ready: readyBytes,
    message_bytes_unacknowledged: unackedBytes,
    message_bytes_ram: bytesInMemory,
    message_bytes_persistent: c?.persistentBytes ?? 0,
    message_bytes_paged_out: pagedOutBytes,
    messages_ram: inMemory,
    messages_ready_ram: ready - pagedOut,
    messages_unacknowledged_ram: unacked,
    messages_persistent: c?.persistent ?? 0,
    messages_paged_out: pagedOut,
  };
}

/** RabbitMQ's time format in the management API (as the 3.10 fixtures show it): "2026-12-01T15:24:54.349+00:00". */
export const managementTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '+00:00');

/** RabbitMQ's depth fields (messages, ready, unacknowledged), each with its rate, in that order. */
export const depthFields = (ready: number, unacked: number, rates: readonly number[]) => ({
  messages: ready + unacked,
  messages_details: details(rates[0]),
  messages_ready: ready,
  messages_ready_details: details(rates[1]),
  messages_unacknowledged: unacked,
  messages_unacknowledged_details: details(rates[2]),
});
