// The standard scenarios. Their names are part of the CLI and JSON interface.
import type { ConsumerSpec, PublisherSpec } from './drivers/types.js';
import { seededRandom } from './stats.js';

export const SCENARIOS = ['single', 'single-1k', 'fanout', 'topic', 'confirm', 'acks', 'persistent', 'latency', 'many-queues', 'connections', 'reset', 'stream'] as const;
/** Run only when named: reset is no throughput run, and a broker without streams (LavinMQ 1.1.5, a warren before them) refuses stream. */
export const ON_REQUEST: readonly ScenarioName[] = ['reset', 'stream'];
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Topology {
  exchanges: Array<{ name: string; type: 'fanout' | 'topic' | 'direct'; durable: boolean }>;
  /** arguments: x-arguments (a stream's x-queue-type) */
  queues: Array<{ name: string; durable: boolean; arguments?: Record<string, string> }>;
  bindings: Array<{ queue: string; exchange: string; key: string }>;
}

export interface ScenarioPlan {
  /** Row label: the scenario name, plus `@rate` in a rate sweep. */
  label: string;
  scenario: ScenarioName;
  description: string;
  topology: Topology;
  publishers: PublisherSpec[];
  /** One entry per consumer connection. */
  consumers: ConsumerSpec[];
  idleConnections: number;
  /** Deliveries a publish is expected to cause (fan-out factor); for the report. */
  deliveriesPerPublish: number;
  /** Fixed total publish rate (msg/s), 0 = saturation. Fixed rates get coordinated-omission-corrected latency. */
  rate: number;
  params: Record<string, unknown>;
}

/** What the command line may change in every scenario it runs. */
export interface ScenarioOverrides {
  /** the message size (bytes) */
  size?: number;
  /** counts: queues (many-queues) or idle connections (connections) */
  count?: number;
  /** the acking consumers' basic.qos prefetch (confirm, acks, persistent; default 100) */
  prefetch?: number;
}

export interface ScenarioOptions extends ScenarioOverrides {
  /** Prefix for every queue and exchange, unique per run so runs never share state. */
  prefix: string;
  /** Overrides the scenario's publish rate (msg/s, 0 = max). */
  rate?: number;
}

export function isScenario(s: string): s is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(s);
}

const pub = (o: Partial<PublisherSpec> & Pick<PublisherSpec, 'exchange' | 'routingKeys'>): PublisherSpec =>
  ({ size: 16, persistent: false, confirm: false, inFlight: 0, rate: 0, ...o });

export function buildScenario(name: ScenarioName, o: ScenarioOptions): ScenarioPlan {
  const q = (s: string) => `${o.prefix}${s}`;
  const base = { label: name, scenario: name, idleConnections: 0, deliveriesPerPublish: 1, rate: o.rate ?? 0 };
  const single = (size: number, description: string): ScenarioPlan => {
    const queue = q('q');
    return {
      ...base, description,
      topology: { exchanges: [], queues: [{ name: queue, durable: false }], bindings: [] },
      publishers: [pub({ exchange: '', routingKeys: [queue], size: o.size ?? size, rate: base.rate })],
      consumers: [{ queues: [queue], noAck: true, prefetch: 0 }],
      params: { queues: 1, size: o.size ?? size, ack: 'auto' },
    };
  };
  switch (name) {
    case 'single':
      return single(16, '1 publisher, 1 consumer, 1 queue, 16 B, auto-ack');
    case 'single-1k':
      return single(1024, '1 publisher, 1 consumer, 1 queue, 1 KiB, auto-ack');
    case 'latency': {
      const plan = single(16, 'fixed 1,000 msg/s on the single topology: latency without saturation');
      const rate = o.rate ?? 1000;
      plan.rate = rate;
      plan.publishers[0]!.rate = rate;
      plan.params.rate = rate;
      return plan;
    }
    case 'fanout': {
      const ex = q('fanout');
      const queues = Array.from({ length: 10 }, (_, i) => q(`q${i}`));
      return {
        ...base, description: '1 publisher, fanout exchange bound to 10 queues, a consumer each',
        topology: { exchanges: [{ name: ex, type: 'fanout', durable: false }], queues: queues.map((name) => ({ name, durable: false })), bindings: queues.map((queue) => ({ queue, exchange: ex, key: '' })) },
        publishers: [pub({ exchange: ex, routingKeys: [''], size: o.size ?? 16, rate: base.rate })],
        consumers: queues.map((queue) => ({ queues: [queue], noAck: true, prefetch: 0 })),
        deliveriesPerPublish: queues.length,
        params: { queues: 10, size: o.size ?? 16, ack: 'auto' },
      };
    }
    case 'topic': {
      const t = topicTopology(q, 100, 1000, 1000);
      return {
        ...base, description: 'topic exchange, 1,000 bindings (* and #) over 100 queues, seeded random keys',
        topology: t.topology,
        publishers: [pub({ exchange: t.exchange, routingKeys: t.keys, size: o.size ?? 16, rate: base.rate })],
        consumers: t.topology.queues.map((qq) => ({ queues: [qq.name], noAck: true, prefetch: 0 })),
        deliveriesPerPublish: t.deliveriesPerPublish,
        params: { queues: 100, bindings: 1000, keys: 1000, seed: TOPIC_SEED, size: o.size ?? 16, ack: 'auto' },
      };
    }
    case 'acks': {
      // The confirm scenario less its confirms: the twin its ratio is read against.
      // Unconfirmed, the generator keeps its sync window (two syncs of 500), about
      // as many messages in flight as the confirm window of 1,000.
      const plan = buildScenario('confirm', o);
      plan.label = name;
      plan.scenario = name;
      plan.description = `the confirm scenario without confirms: manual acks, prefetch ${plan.params.prefetch}`;
      plan.publishers = plan.publishers.map((p) => ({ ...p, confirm: false, inFlight: 0 }));
      const { inFlight: _, ...params } = plan.params;
      plan.params = params;
      return plan;
    }
    case 'confirm':
    case 'persistent': {
      const persistent = name === 'persistent';
      const queue = q('q');
      const size = o.size ?? (persistent ? 1024 : 16);
      const prefetch = o.prefetch ?? 100;
      return {
        ...base,
        description: `${persistent ? 'durable queue, persistent, confirms (1,000 in flight)' : 'publisher confirms, 1,000 in flight'}, manual acks, prefetch ${prefetch}`,
        topology: { exchanges: [], queues: [{ name: queue, durable: persistent }], bindings: [] },
        publishers: [pub({ exchange: '', routingKeys: [queue], size, persistent, confirm: true, inFlight: 1000, rate: base.rate })],
        consumers: [{ queues: [queue], noAck: false, prefetch }],
        params: { queues: 1, size, persistent, inFlight: 1000, prefetch, ack: 'manual' },
      };
    }
    case 'stream': {
      // The confirm scenario on a stream: its consumer reads from the first offset and acks.
      const plan = buildScenario('confirm', o);
      plan.label = name;
      plan.scenario = name;
      plan.description = `a stream (x-queue-type stream), publisher confirms (1,000 in flight), a consumer from its first offset, manual acks, prefetch ${plan.params.prefetch}`;
      plan.topology.queues = plan.topology.queues.map((queue) => ({ ...queue, durable: true, arguments: { 'x-queue-type': 'stream' } }));
      plan.consumers = plan.consumers.map((c) => ({ ...c, arguments: { 'x-stream-offset': 'first' } }));
      plan.params = { ...plan.params, type: 'stream' };
      return plan;
    }
    case 'many-queues': {
      const n = o.count ?? 1000;
      const queues = Array.from({ length: n }, (_, i) => q(`q${i}`));
      const perConn = 100;
      const consumers: ConsumerSpec[] = [];
      for (let i = 0; i < n; i += perConn) consumers.push({ queues: queues.slice(i, i + perConn), noAck: true, prefetch: 0 });
      return {
        ...base, description: `${n} queues, ${n} consumers (${perConn} per connection), publishes round-robin`,
        topology: { exchanges: [], queues: queues.map((name) => ({ name, durable: false })), bindings: [] },
        publishers: [pub({ exchange: '', routingKeys: queues, size: o.size ?? 16, rate: base.rate })],
        consumers,
        params: { queues: n, consumers: n, consumersPerConnection: perConn, size: o.size ?? 16, ack: 'auto' },
      };
    }
    case 'reset': {
      // Not a throughput run: bench/reset.ts times the broker's reset of this topology.
      const n = o.count ?? 10_000;
      const ex = q('reset');
      const queues = Array.from({ length: n }, (_, i) => q(`q${i}`));
      return {
        ...base, description: `${n} queues bound to a direct exchange, 2 messages each: the time a reset takes`,
        topology: { exchanges: [{ name: ex, type: 'direct', durable: false }], queues: queues.map((name) => ({ name, durable: false })), bindings: queues.map((queue) => ({ queue, exchange: ex, key: queue })) },
        publishers: [], consumers: [], deliveriesPerPublish: 0,
        params: { queues: n, bindings: n, messagesPerQueue: 2 },
      };
    }
    case 'connections': {
      const n = o.count ?? 1000;
      return {
        ...base, description: `${n} idle connections: broker memory per connection`,
        topology: { exchanges: [], queues: [], bindings: [] },
        publishers: [], consumers: [], idleConnections: n,
        deliveriesPerPublish: 0,
        params: { connections: n },
      };
    }
  }
}

const TOPIC_SEED = 20240501;
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];

/** Bindings with `*` and `#` spread over the queues, and keys drawn from the same words. */
function topicTopology(q: (s: string) => string, nQueues: number, nBindings: number, nKeys: number) {
  const rnd = seededRandom(TOPIC_SEED);
  const pick = () => WORDS[Math.floor(rnd() * WORDS.length)]!;
  const exchange = q('topic');
  const queues = Array.from({ length: nQueues }, (_, i) => q(`q${i}`));
  const bindings: Topology['bindings'] = [];
  for (let i = 0; i < nBindings; i++) {
    const parts: string[] = [];
    // First word fixed, then mostly words, some `*`, and a rare trailing `#`:
    // a key reaches a handful of queues, as in a real routing table.
    parts.push(pick());
    for (let level = 1; level < 3; level++) {
      const r = rnd();
      if (r < 0.04) { parts.push('#'); break; }
      parts.push(r < 0.16 ? '*' : pick());
    }
    bindings.push({ queue: queues[i % nQueues]!, exchange, key: parts.join('.') });
  }
  const keys = Array.from({ length: nKeys }, () => `${pick()}.${pick()}.${pick()}`);
  // Distinct queues each key reaches: what a correct broker delivers per publish.
  let deliveries = 0;
  for (const key of keys) {
    const hit = new Set<string>();
    for (const b of bindings) if (topicMatches(b.key, key)) hit.add(b.queue);
    deliveries += hit.size;
  }
  return {
    exchange, keys, deliveriesPerPublish: deliveries / nKeys,
    topology: { exchanges: [{ name: exchange, type: 'topic' as const, durable: false }], queues: queues.map((name) => ({ name, durable: false })), bindings },
  };
}

/** AMQP topic matching: `*` is one word, `#` zero or more. */
export function topicMatches(pattern: string, key: string): boolean {
  const p = pattern.split('.');
  const k = key.split('.');
  const go = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') return go(i + 1, j) || (j < k.length && go(i, j + 1));
    return j < k.length && (p[i] === '*' || p[i] === k[j]) && go(i + 1, j + 1);
  };
  return go(0, 0);
}
