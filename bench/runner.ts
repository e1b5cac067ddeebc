// Runs one scenario once against one broker: declares the topology, starts the
// generators (piscina workers, or the main thread with --threads 0), lines them
// up on a common clock, samples progress and the broker's /proc, and collects
// the figures.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { nowUs, sleep, sleepUntilUs, withTimeout } from './clock.js';
import type { BrokerHandle } from './brokers.js';
import type { ConsumerSpec, DriverName, PublisherSpec } from './drivers/types.js';
import { runGenerator, PROGRESS_MS, type GeneratorResult, type GeneratorTask, type GoMessage, type ProgressMessage } from './generator.js';
import { mergeHistograms, encodeHistogram, summarize, type LatencySummary } from './histogram.js';
import { ProcessProbe, busiestThreadShare, threadTicks } from './probe.js';
import type { ScenarioPlan } from './scenarios.js';
import { declareTopology, deleteTopology } from './topology.js';
import { runReset, type ResetFigures } from './reset.js';

export interface RunConfig {
  driver: DriverName;
  seconds: number;
  warmupSeconds: number;
  /** How long setup, teardown and the final markers may take before the run counts as hung; default PHASE_TIMEOUT_MS. */
  phaseTimeoutMs?: number;
  onProgress?: (p: { elapsed: number; total: number; sentPerSec: number; consumedPerSec: number }) => void;
}

export interface TimelinePoint {
  /** Seconds since publishing started. */
  t: number;
  sentPerSec: number;
  consumedPerSec: number;
}

export interface RunResult {
  label: string;
  scenario: string;
  broker: string;
  driver: DriverName;
  /** Messages per second the broker took in (confirmed or synced). */
  publishedPerSec: number;
  /** Deliveries per second received by all consumers. */
  consumedPerSec: number;
  latency: LatencySummary;
  /** Encoded HDR histogram of latency in µs. */
  histogram: string;
  /** Publish-to-confirm latency (count 0 without confirms). */
  confirmLatency: LatencySummary;
  /** Broker CPU µs per message taken in; null without a broker pid. */
  cpuUsPerMsg: number | null;
  /** Broker peak RSS during the run; null without a broker pid. */
  peakRssBytes: number | null;
  /** The load generator's busiest thread over the window, as a share of one core; null without /proc. */
  generatorBusy: number | null;
  connections?: { count: number; openPerSec: number; rssPerConnectionBytes: number | null };
  timeline: TimelinePoint[];
  errors: string[];
  /** the reset scenario's figures (bench/reset.ts) */
  reset?: ResetFigures;
}

/**
 * A phase of a run that takes longer than this has hung (a broker that stopped
 * answering): the session fails, naming the phase and showing the broker's
 * last stderr lines, instead of the bench waiting for ever.
 */
export const PHASE_TIMEOUT_MS = 120_000;

export function phase<T>(what: string, p: Promise<T>, ms: number, handle?: BrokerHandle): Promise<T> {
  const tail = handle?.stderrTail?.().trim();
  return withTimeout(p, ms, `${what} did not finish within ${ms / 1000} s` + (tail ? `; the broker's last stderr lines:\n${tail}` : ''));
}

/** Runs generator tasks in piscina workers, or inline when size is 0. */
export class GeneratorPool {
  private pool: Piscina | null;
  constructor(readonly size: number) {
    this.pool = size > 0
      ? new Piscina({ filename: new URL('./worker.js', import.meta.url).href, minThreads: size, maxThreads: size, idleTimeout: 60_000 })
      : null;
  }
  /** How many tasks to split a scenario into. */
  get slots(): number { return Math.max(1, this.size); }
  run(task: GeneratorTask): Promise<GeneratorResult> {
    if (!this.pool) return runGenerator(task);
    return this.pool.run(task, { transferList: [task.port] }) as Promise<GeneratorResult>;
  }
  async close(): Promise<void> { await this.pool?.destroy(); }
}

/**
 * Splits the actors over `slots` generators. Publishers and consumers get
 * separate generators when there are at least two, so a saturated publisher
 * does not delay the consumers' timestamps.
 */
export function splitActors(plan: ScenarioPlan, slots: number): Array<{ publishers: PublisherSpec[]; consumers: ConsumerSpec[]; idleConnections: number }> {
  const actors = plan.publishers.length + plan.consumers.length;
  const n = Math.max(1, Math.min(slots, actors || 1, plan.idleConnections > 0 ? slots : actors || 1));
  const tasks = Array.from({ length: n }, () => ({ publishers: [] as PublisherSpec[], consumers: [] as ConsumerSpec[], idleConnections: 0 }));
  let pubSlots = n;
  if (n > 1 && plan.consumers.length > 0 && plan.publishers.length > 0) {
    pubSlots = Math.min(n - 1, Math.max(1, Math.round((n * plan.publishers.length) / actors)));
  }
  plan.publishers.forEach((p, i) => tasks[i % pubSlots]!.publishers.push(p));
  const consumerBase = n > 1 && plan.publishers.length > 0 ? pubSlots : 0;
  const consumerSlots = n - consumerBase || n;
  plan.consumers.forEach((c, i) => tasks[(consumerBase + (i % consumerSlots)) % n]!.consumers.push(c));
  for (let i = 0; i < n; i++) tasks[i]!.idleConnections = Math.floor(plan.idleConnections / n) + (i < plan.idleConnections % n ? 1 : 0);
  return tasks;
}

export async function runScenario(plan: ScenarioPlan, broker: { name: string; handle: BrokerHandle }, pool: GeneratorPool, cfg: RunConfig): Promise<RunResult> {
  if (plan.scenario === 'reset') return runReset(plan, broker);
  const { handle } = broker;
  const limit = cfg.phaseTimeoutMs ?? PHASE_TIMEOUT_MS;
  await phase('declaring the topology', declareTopology(handle.url, plan.topology), limit, handle);
  const probe = handle.pid && ProcessProbe.available() ? new ProcessProbe(handle.pid) : null;
  const rssBefore = probe?.rssBytes() ?? 0;
  probe?.startPeak();

  const parts = splitActors(plan, pool.slots);
  const ports: MessagePort[] = [];
  const latest = parts.map(() => ({ sent: 0, received: 0 }));
  const readyErrors: string[] = [];
  let readyCount = 0;
  let onAllReady: () => void = () => undefined;
  const allReady = new Promise<void>((resolve) => { onAllReady = resolve; });

  const results = parts.map((part, i) => {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1);
    port1.on('message', (m: ProgressMessage | { type: 'ready'; errors: string[] }) => {
      if (m.type === 'ready') {
        readyErrors.push(...m.errors);
        if (++readyCount === parts.length) onAllReady();
      } else {
        latest[i] = { sent: m.sent, received: m.received };
      }
    });
    return pool.run({ driver: cfg.driver, url: handle.url, ...part, port: port2 });
  });
  const generators = Promise.all(results);
  /** Resolves when every generator has ended, with or without an error. */
  const generatorsEnded = generators.then(() => undefined, () => undefined);
  await phase('connecting the generators', Promise.race([allReady, generatorsEnded]), limit, handle);

  // Idle connections are all open now: their memory is what the broker holds for them.
  const rssOpen = probe?.rssBytes() ?? 0;

  const isIdleOnly = plan.publishers.length === 0 && plan.consumers.length === 0;
  const warmup = isIdleOnly ? 0 : cfg.warmupSeconds;
  const seconds = isIdleOnly ? 1 : cfg.seconds;
  const startUs = nowUs() + 200_000; // time for the go message to reach every worker
  const go: GoMessage = { type: 'go', startUs, warmupEndUs: startUs + warmup * 1e6, endUs: startUs + (warmup + seconds) * 1e6 };
  for (const p of ports) p.postMessage(go);

  // Progress and throughput over time, sampled on this thread.
  const timeline: TimelinePoint[] = [];
  let prev = { sent: 0, received: 0, at: startUs };
  const ticker = setInterval(() => {
    const now = nowUs();
    if (now < startUs) return;
    const sent = latest.reduce((a, l) => a + l.sent, 0);
    const received = latest.reduce((a, l) => a + l.received, 0);
    const dt = (now - prev.at) / 1e6;
    const point = { t: (now - startUs) / 1e6, sentPerSec: (sent - prev.sent) / dt, consumedPerSec: (received - prev.received) / dt };
    timeline.push(point);
    prev = { sent, received, at: now };
    cfg.onProgress?.({ elapsed: point.t, total: warmup + seconds, sentPerSec: point.sentPerSec, consumedPerSec: point.consumedPerSec });
  }, PROGRESS_MS * 2);

  // Broker CPU, and this process's threads (the generators), are read at the
  // window's edges, like the message counts.
  let cpuStart = 0;
  let cpuEnd = 0;
  let generatorBusy: number | null = null;
  const cpuSampler = (async () => {
    await sleepUntilUs(go.warmupEndUs);
    cpuStart = probe?.cpuUs() ?? 0;
    const threadsBefore = threadTicks();
    await sleepUntilUs(go.endUs);
    cpuEnd = probe?.cpuUs() ?? 0;
    if (threadsBefore.size > 0) generatorBusy = busiestThreadShare(threadsBefore, threadTicks(), seconds);
  })();

  let genResults: GeneratorResult[] = [];
  const errors = [...readyErrors];
  // A generator's own error is the run's; a generator that never ends is a hang.
  await phase('running the generators', generatorsEnded, (warmup + seconds) * 1000 + limit, handle);
  try {
    genResults = await generators;
  } catch (e) {
    errors.push(`generator: ${(e as Error).message}`);
  }
  clearInterval(ticker);
  await cpuSampler;
  const peakRss = probe ? probe.stopPeak() : null;
  for (const p of ports) p.close();
  await phase('deleting the topology', deleteTopology(handle.url, plan.topology), limit, handle);

  for (const g of genResults) errors.push(...g.errors);
  const pubs = genResults.flatMap((g) => g.publishers);
  const publishedPerSec = pubs.reduce((a, p) => a + (p.windowUs > 0 ? p.takenIn / (p.windowUs / 1e6) : 0), 0);
  const consumedPerSec = genResults.reduce((a, g) => a + g.received, 0) / seconds;
  const hist = mergeHistograms(genResults.map((g) => g.histogram));
  const latency = summarize(hist);
  const histogram = encodeHistogram(hist);
  hist.destroy();
  const confirmHist = mergeHistograms(genResults.map((g) => g.confirmHistogram));
  const confirmLatency = summarize(confirmHist);
  confirmHist.destroy();
  const messages = publishedPerSec * seconds;
  const result: RunResult = {
    label: plan.label, scenario: plan.scenario, broker: broker.name, driver: cfg.driver,
    publishedPerSec, consumedPerSec, latency, histogram, confirmLatency,
    cpuUsPerMsg: probe && messages > 0 ? (cpuEnd - cpuStart) / messages : null,
    peakRssBytes: peakRss,
    generatorBusy,
    timeline, errors,
  };
  if (plan.idleConnections > 0) {
    const openUs = Math.max(...genResults.map((g) => g.idleOpenUs), 1);
    result.connections = {
      count: plan.idleConnections,
      openPerSec: plan.idleConnections / (openUs / 1e6),
      rssPerConnectionBytes: probe ? (rssOpen - rssBefore) / plan.idleConnections : null,
    };
  }
  // Let the broker settle (deletes, GC) so the next run starts from rest.
  await sleep(200);
  return result;
}
