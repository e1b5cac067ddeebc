/**
 * /metrics: Prometheus text format with rabbitmq_prometheus' metric names,
 * collected on each scrape (one 'stats' round trip per shard).
 */
import { Gauge, Registry } from 'prom-client';
import type { Api } from './api.js';

export class Metrics {
  private readonly registry = new Registry();
  private readonly ready = this.gauge('rabbitmq_queue_messages_ready', 'Messages ready to be delivered to consumers', ['vhost', 'queue']);
  private readonly unacked = this.gauge('rabbitmq_queue_messages_unacked', 'Messages delivered to consumers but not yet acknowledged', ['vhost', 'queue']);
  private readonly messages = this.gauge('rabbitmq_queue_messages', 'Sum of ready and unacknowledged messages', ['vhost', 'queue']);
  private readonly consumers = this.gauge('rabbitmq_queue_consumers', 'Consumers on a queue', ['vhost', 'queue']);
  private readonly published = this.gauge('rabbitmq_queue_messages_published_total', 'Messages published into a queue', ['vhost', 'queue']);
  private readonly connections = this.gauge('rabbitmq_connections', 'Connections currently open');
  private readonly channels = this.gauge('rabbitmq_channels', 'Channels currently open');
  private readonly allConsumers = this.gauge('rabbitmq_consumers', 'Consumers currently connected');
  private readonly queues = this.gauge('rabbitmq_queues', 'Queues available');
  private readonly memory = this.gauge('rabbitmq_process_resident_memory_bytes', 'Memory used, bytes, as the memory alarm counts it');
  private readonly alarm = this.gauge('rabbitmq_alarms_memory_used_watermark', 'Whether the memory alarm is on (1) or not (0)');

  constructor(private readonly api: Api) {}

  readonly contentType = this.registry.contentType;

  async scrape(): Promise<string> {
    const { host } = this.api;
    const counters = await this.api.counters();
    for (const g of [this.ready, this.unacked, this.messages, this.consumers, this.published]) g.reset();
    let queues = 0;
    for (const service of host.vhosts.values()) {
      for (const q of service.topology.queues.values()) {
        queues++;
        const c = counters.get(q.id);
        const labels = { vhost: service.name, queue: q.name };
        this.ready.set(labels, c?.ready ?? 0);
        this.unacked.set(labels, c?.unacked ?? 0);
        this.messages.set(labels, (c?.ready ?? 0) + (c?.unacked ?? 0));
        this.consumers.set(labels, q.consumerCount);
        this.published.set(labels, c?.published ?? 0);
      }
    }
    const open = [...host.connections].filter((c) => c.state === 'open');
    const channels = open.flatMap((c) => [...c.openChannels()]);
    this.connections.set(open.length);
    this.channels.set(channels.length);
    this.allConsumers.set(channels.reduce((n, ch) => n + ch.consumers.size, 0));
    this.queues.set(queues);
    this.memory.set(host.memory.used());
    this.alarm.set(host.memory.on ? 1 : 0);
    return this.registry.metrics();
  }

  private gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}
