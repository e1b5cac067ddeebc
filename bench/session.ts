// A whole bench session: starts the brokers, runs every scenario on each,
// repetitions interleaved (A B A B…) so drift on the machine hits all brokers
// alike, and stops the brokers again.
import type { BrokerHandle, BrokerTarget } from './brokers.js';
import type { DriverName } from './drivers/types.js';
import { GeneratorPool, PHASE_TIMEOUT_MS, phase, runScenario, type RunResult } from './runner.js';
import { buildScenario, type ScenarioName, type ScenarioOverrides } from './scenarios.js';
import { fmtMs, fmtRate } from './report.js';

export interface RunSpec {
  scenario: ScenarioName;
  /** Fixed rate override (msg/s, 0 = max); undefined keeps the scenario's own. */
  rate?: number;
}

export interface SessionConfig {
  specs: RunSpec[];
  brokers: BrokerTarget[];
  reps: number;
  driver: DriverName;
  seconds: number;
  warmup: number;
  threads: number;
  overrides?: ScenarioOverrides;
  /** RunConfig.phaseTimeoutMs */
  phaseTimeoutMs?: number;
  log: (line: string) => void;
  /** Live progress line (TTY only); null to disable. */
  status: ((line: string) => void) | null;
}

export interface SessionResult {
  runs: RunResult[];
  brokers: Array<{ name: string; version: string; url: string }>;
}

let runSeq = 0;

/** Brokers started and not yet stopped: main stops them on SIGINT/SIGTERM. */
export const liveBrokers = new Set<BrokerHandle>();

export function rateLabel(rate: number): string {
  if (rate === 0) return 'max';
  return rate >= 1000 && rate % 1000 === 0 ? `${rate / 1000}k` : String(rate);
}

export async function runSession(cfg: SessionConfig): Promise<SessionResult> {
  const handles: Array<{ name: string; handle: BrokerHandle }> = [];
  const pool = new GeneratorPool(cfg.threads);
  const limit = cfg.phaseTimeoutMs ?? PHASE_TIMEOUT_MS;
  try {
    for (const b of cfg.brokers) {
      cfg.log(`starting ${b.name}…`);
      // A URL's broker is asked its version first: one that never answers is a hang too.
      const handle = await phase(`starting ${b.name}`, b.start(), limit);
      liveBrokers.add(handle);
      handles.push({ name: b.name, handle });
      cfg.log(`${b.name}: ${handle.version} at ${handle.url}${handle.pid ? ` (pid ${handle.pid})` : ''}`);
    }
    const runs: RunResult[] = [];
    for (const spec of cfg.specs) {
      for (let rep = 1; rep <= cfg.reps; rep++) {
        for (const broker of handles) {
          const prefix = `warren-bench.${process.pid}.${++runSeq}.`;
          const plan = buildScenario(spec.scenario, { ...cfg.overrides, prefix, rate: spec.rate });
          if (spec.rate !== undefined) plan.label = `${spec.scenario}@${rateLabel(spec.rate)}`;
          const tag = `${plan.label} on ${broker.name} (${rep}/${cfg.reps})`;
          const result = await runScenario(plan, broker, pool, {
            driver: cfg.driver, seconds: cfg.seconds, warmupSeconds: cfg.warmup, phaseTimeoutMs: limit,
            onProgress: cfg.status
              ? (p) => cfg.status!(`${tag}: ${p.elapsed.toFixed(1)}/${p.total}s  sent ${fmtRate(p.sentPerSec)}/s  delivered ${fmtRate(p.consumedPerSec)}/s`)
              : undefined,
          });
          cfg.status?.('');
          runs.push(result);
          if (result.reset !== undefined) {
            const r = result.reset;
            cfg.log(`${tag}: ${r.queues} queues, ${r.messages} messages reset in ${fmtMs(r.ms)} ms (${r.method})` + (result.errors.length ? `  ERRORS: ${result.errors.join('; ')}` : ''));
            continue;
          }
          const conn = result.connections ? `, ${result.connections.count} connections at ${fmtRate(result.connections.openPerSec)}/s` : '';
          cfg.log(`${tag}: published ${fmtRate(result.publishedPerSec)}/s, delivered ${fmtRate(result.consumedPerSec)}/s, p99 ${fmtMs(result.latency.p99)} ms${conn}` +
            (result.errors.length ? `  ERRORS: ${result.errors.join('; ')}` : ''));
        }
      }
    }
    return { runs, brokers: handles.map((h) => ({ name: h.name, version: h.handle.version, url: h.handle.url })) };
  } finally {
    await pool.close();
    for (const h of handles) {
      await h.handle.close().catch(() => undefined);
      liveBrokers.delete(h.handle);
    }
  }
}
