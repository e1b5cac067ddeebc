/**
 * /metrics: Prometheus text format with rabbitmq_prometheus' metric names,
 * collected on each scrape (one 'stats' round trip per shard). prom-client
 * is loaded at the first scrape, so a broker nobody scrapes never loads it.
 * As rabbitmq_prometheus by default (return_per_object_metrics = false), the
 * queue metrics are summed over all queues; /metrics/per-object has one series
 * per queue. Those cost the thread that serves clients: 50,000 queues held it
 * 3.6 s a scrape.
 */
import type { Gauge } from 'prom-client';
import type { Api } from './api.js';
import { CHANNEL_MESSAGE_STATS, addTotals, queueBytesFields, vhostChannelTotals } from './stats.js';

const at = (key: (typeof CHANNEL_MESSAGE_STATS)[number]) => CHANNEL_MESSAGE_STATS.indexOf(key);

/** rabbitmq_prometheus' global counters: name, help, where its total is in the channel totals. */
const GLOBAL_COUNTERS: [string, string, number][] = [
  ['rabbitmq_global_messages_received_total', 'Total number of messages received from publishers', at('publish')],
  ['rabbitmq_global_messages_confirmed_total', 'Total number of messages confirmed to publishers', at('confirm')],
  ['rabbitmq_global_messages_unroutable_returned_total', 'Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable', at('return_unroutable')],
  ['rabbitmq_global_messages_unroutable_dropped_total', 'Total number of messages published as non-mandatory into an exchange and dropped as unroutable', at('drop_unroutable')],
  ['rabbitmq_global_messages_delivered_total', 'Total number of messages delivered to consumers', at('deliver_get')],
  ['rabbitmq_global_messages_delivered_consume_manual_ack_total', 'Total number of messages delivered to consumers using basic.consume with manual acknowledgment', at('deliver')],
  ['rabbitmq_global_messages_delivered_consume_auto_ack_total', 'Total number of messages delivered to consumers using basic.consume with automatic acknowledgment', at('deliver_no_ack')],
  ['rabbitmq_global_messages_delivered_get_manual_ack_total', 'Total number of messages delivered to consumers using basic.get with manual acknowledgment', at('get')],
  ['rabbitmq_global_messages_delivered_get_auto_ack_total', 'Total number of messages delivered to consumers using basic.get with automatic acknowledgment', at('get_no_ack')],
  ['rabbitmq_global_messages_get_empty_total', 'Total number of times basic.get operations fetched no message', at('get_empty')],
  ['rabbitmq_global_messages_redelivered_total', 'Total number of messages redelivered to consumers', at('redeliver')],
  ['rabbitmq_global_messages_acknowledged_total', 'Total number of messages acknowledged by consumers', at('ack')],
];

/** rabbitmq_prometheus' per-queue byte and memory gauges: name, help, the management API's field it shows. */
const QUEUE_BYTE_GAUGES: [string, string, keyof ReturnType<typeof queueBytesFields>][] = [
  ['rabbitmq_queue_messages_bytes', 'Size in bytes of ready and unacknowledged messages', 'message_bytes'],
  ['rabbitmq_queue_messages_ready_bytes', 'Size in bytes of ready messages', 'message_bytes_ready'],
  ['rabbitmq_queue_messages_unacked_bytes', 'Size in bytes of all unacknowledged messages', 'message_bytes_unacknowledged'],
  ['rabbitmq_queue_messages_persistent', 'Persistent messages', 'messages_persistent'],
  ['rabbitmq_queue_messages_persistent_bytes', 'Size in bytes of persistent messages', 'message_bytes_persistent'],
  ['rabbitmq_queue_messages_paged_out', 'Messages paged out to disk', 'messages_paged_out'],
  ['rabbitmq_queue_messages_paged_out_bytes', 'Size in bytes of messages paged out to disk', 'message_bytes_paged_out'],
  ['rabbitmq_queue_messages_ram', 'Ready and unacknowledged messages stored in memory', 'messages_ram'],
  ['rabbitmq_queue_messages_ready_ram', 'Ready messages stored in memory', 'messages_ready_ram'],
  ['rabbitmq_queue_messages_unacked_ram', 'Unacknowledged messages stored in memory', 'messages_unacknowledged_ram'],
  ['rabbitmq_queue_messages_ram_bytes', 'Size of ready and unacknowledged messages stored in memory', 'message_bytes_ram'],
  ['rabbitmq_queue_process_memory_bytes', 'Estimated heap bytes the queue holds: the queue, its messages in memory, their bodies', 'memory'],
];

export interface Metrics {
  readonly contentType: string;
  /** `perObject`: a series per queue, else the queues' sums */
  scrape(perObject: boolean): Promise<string>;
}

export async function loadMetrics(api: Api): Promise<Metrics> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  const gauge = (name: string, help: string, labelNames: string[] = []): Gauge => new prom.Gauge({ name, help, labelNames, registers: [registry] });
  const perQueue = ['vhost', 'queue'];
  const ready = gauge('rabbitmq_queue_messages_ready', 'Messages ready to be delivered to consumers', perQueue);
  const unacked = gauge('rabbitmq_queue_messages_unacked', 'Messages delivered to consumers but not yet acknowledged', perQueue);
  const messages = gauge('rabbitmq_queue_messages', 'Sum of ready and unacknowledged messages', perQueue);
  const consumers = gauge('rabbitmq_queue_consumers', 'Consumers on a queue', perQueue);
  const published = gauge('rabbitmq_queue_messages_published_total', 'Messages published into a queue', perQueue);
  const byteGauges = QUEUE_BYTE_GAUGES.map(([name, help, field]) => ({ gauge: gauge(name, help, perQueue), field }));
  const connections = gauge('rabbitmq_connections', 'Connections currently open');
  const channels = gauge('rabbitmq_channels', 'Channels currently open');
  const allConsumers = gauge('rabbitmq_consumers', 'Consumers currently connected');
  const queues = gauge('rabbitmq_queues', 'Queues available');
  const memory = gauge('rabbitmq_process_resident_memory_bytes', 'Memory used, bytes, as the memory alarm counts it');
  const alarm = gauge('rabbitmq_alarms_memory_used_watermark', 'Whether the memory alarm is on (1) or not (0)');
  const diskAlarm = gauge('rabbitmq_alarms_free_disk_space_watermark', 'Whether the free disk space alarm is on (1) or not (0)');
  // In memory there is no data dir to measure: no such gauge, rather than a free space of 0.
  const diskFree = api.host.alarms.disk.dir === null ? null : gauge('rabbitmq_disk_space_available_bytes', 'Disk space available to the data dir, bytes');
  const diskLimit = gauge('rabbitmq_disk_space_available_limit_bytes', 'Free disk space low watermark, bytes');
  // rabbitmq_prometheus' global counters, from the channels' totals (CHANNEL_MESSAGE_STATS' order).
  const global = GLOBAL_COUNTERS.map(([name, help, index]) => ({ gauge: gauge(name, help, ['protocol']), index }));

  const queueGauges = [ready, unacked, messages, consumers, published, ...byteGauges.map((b) => b.gauge)];

  const scrape = async (perObject: boolean): Promise<string> => {
    const { host } = api;
    const counters = await api.counters();
    for (const g of queueGauges) g.reset();
    const sums = queueGauges.map(() => 0);
    let queueCount = 0;
    for (const service of host.vhosts.values()) {
      for (const q of service.topology.queues.values()) {
        queueCount++;
        const c = counters.get(q.id);
        const bytes = queueBytesFields(c);
        const values = [c?.ready ?? 0, c?.unacked ?? 0, (c?.ready ?? 0) + (c?.unacked ?? 0), q.consumerCount, c?.published ?? 0, ...byteGauges.map(({ field }) => bytes[field])];
        if (perObject) {
          const labels = { vhost: service.name, queue: q.name };
          for (let i = 0; i < queueGauges.length; i++) queueGauges[i].set(labels, values[i]);
        } else {
          for (let i = 0; i < sums.length; i++) sums[i] += values[i];
        }
      }
    }
    if (!perObject) for (let i = 0; i < queueGauges.length; i++) queueGauges[i].set(sums[i]);
    const open = [...host.connections].filter((c) => c.state === 'open');
    const openChannels = open.flatMap((c) => [...c.openChannels()]);
    connections.set(open.length);
    channels.set(openChannels.length);
    allConsumers.set(openChannels.reduce((n, ch) => n + ch.consumers.size, 0));
    queues.set(queueCount);
    const alarms = host.alarms;
    alarms.refresh();
    memory.set(alarms.used());
    alarm.set(alarms.memoryOn ? 1 : 0);
    diskAlarm.set(alarms.diskOn ? 1 : 0);
    diskFree?.set(alarms.disk.free);
    diskLimit.set(alarms.disk.limit);
    const totals: number[] = [];
    for (const service of host.vhosts.values()) addTotals(totals, vhostChannelTotals(service));
    for (const { gauge: g, index } of global) g.set({ protocol: 'amqp091' }, totals[index] ?? 0);
    return registry.metrics();
  };
  return { contentType: registry.contentType, scrape };
}
