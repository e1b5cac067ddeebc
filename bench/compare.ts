// The regression gate: this checkout (candidate) against another revision
// (baseline), run interleaved on the same machine. It fails when throughput
// falls, or p99 latency rises, by more than the allowed fraction plus the noise
// the repetitions themselves show.
import { writeFileSync } from 'node:fs';
import { REPO_ROOT, warrenTarget, type BrokerTarget } from './brokers.js';
import { buildJson } from './json.js';
import type { MachineInfo } from './machine.js';
import type { BenchOptions } from './options.js';
import { fmtMs, fmtRate, groupRuns, renderTable, type Summary } from './report.js';
import { runSession, type RunSpec, type SessionResult } from './session.js';
import type { ScenarioOverrides } from './scenarios.js';
import { buildRevision } from './worktree.js';

export interface GateFigure {
  label: string;
  metric: 'published/s' | 'delivered/s' | 'p99';
  baseline: number;
  candidate: number;
  /** Relative change for the worse (positive = slower / higher latency). */
  worse: number;
  /** maxRegression + the larger noise of the two sets of repetitions. */
  allowed: number;
  regressed: boolean;
}

export interface GateVerdict {
  pass: boolean;
  figures: GateFigure[];
}

/** Latency differences below this are timer and scheduling jitter, whatever their ratio. */
export const MIN_LATENCY_DELTA_MS = 0.1;

export function evaluateGate(baseline: readonly Summary[], candidate: readonly Summary[], maxRegression: number): GateVerdict {
  const figures: GateFigure[] = [];
  for (const b of baseline) {
    const c = candidate.find((x) => x.label === b.label);
    if (!c) continue;
    const check = (metric: GateFigure['metric'], bv: number, cv: number, bn: number, cn: number, higherIsBetter: boolean) => {
      if (!Number.isFinite(bv) || !Number.isFinite(cv) || bv <= 0) return;
      const worse = higherIsBetter ? (bv - cv) / bv : (cv - bv) / bv;
      const allowed = maxRegression + Math.max(bn, cn);
      const tiny = !higherIsBetter && cv - bv < MIN_LATENCY_DELTA_MS;
      figures.push({ label: b.label, metric, baseline: bv, candidate: cv, worse, allowed, regressed: worse > allowed && !tiny });
    };
    check('published/s', b.publishedPerSec, c.publishedPerSec, b.noise.publishedPerSec, c.noise.publishedPerSec, true);
    check('delivered/s', b.consumedPerSec, c.consumedPerSec, b.noise.consumedPerSec, c.noise.consumedPerSec, true);
    check('p99', b.p99, c.p99, b.noise.p99, c.noise.p99, false);
  }
  return { pass: figures.length > 0 && figures.every((f) => !f.regressed), figures };
}

export function renderVerdict(v: GateVerdict): string {
  const lines = v.figures.map((f) => {
    const fmt = f.metric === 'p99' ? (x: number) => `${fmtMs(x)} ms` : (x: number) => `${fmtRate(x)}/s`;
    return `${f.regressed ? 'REGRESSED' : 'ok       '} ${f.label} ${f.metric}: baseline ${fmt(f.baseline)}, candidate ${fmt(f.candidate)}, ` +
      `${(f.worse * 100).toFixed(1)}% worse (allowed ${(f.allowed * 100).toFixed(1)}%)`;
  });
  lines.push(v.pass ? 'gate: PASS' : v.figures.length ? 'gate: FAIL' : 'gate: FAIL (nothing was measured)');
  return lines.join('\n');
}

export interface CompareConfig {
  specs: RunSpec[];
  reps: number;
  seconds: number;
  warmup: number;
  threads: number;
  driver: BenchOptions['client'];
  maxRegression: number;
  overrides?: ScenarioOverrides;
  phaseTimeoutMs?: number;
  log: (s: string) => void;
  status: ((s: string) => void) | null;
}

/** Runs both targets interleaved and judges the candidate. Used by --compare-ref and by the gate's tests. */
export async function compareTargets(baseline: BrokerTarget, candidate: BrokerTarget, cfg: CompareConfig): Promise<{ verdict: GateVerdict; session: SessionResult }> {
  const session = await runSession({
    specs: cfg.specs, brokers: [candidate, baseline], reps: Math.max(cfg.reps, 2), driver: cfg.driver,
    seconds: cfg.seconds, warmup: cfg.warmup, threads: cfg.threads, overrides: cfg.overrides, phaseTimeoutMs: cfg.phaseTimeoutMs,
    log: cfg.log, status: cfg.status,
  });
  const summaries = groupRuns(session.runs);
  const verdict = evaluateGate(summaries.filter((s) => s.broker === baseline.name), summaries.filter((s) => s.broker === candidate.name), cfg.maxRegression);
  // A run that failed outright is a regression whatever the figures say.
  if (session.runs.some((r) => r.broker === candidate.name && r.errors.length > 0)) verdict.pass = false;
  return { verdict, session };
}

export async function runGate(o: BenchOptions, ctx: { log: (s: string) => void; status: ((s: string) => void) | null; specs: RunSpec[]; machine: MachineInfo }): Promise<GateVerdict> {
  const rev = buildRevision(REPO_ROOT, o.compareRef!, ctx.log);
  try {
    const baseline = warrenTarget('baseline', { root: rev.dir, workers: o.workers });
    const env = o.injectDelayUs ? { WARREN_BENCH_DELAY_US: String(o.injectDelayUs) } : undefined;
    const candidate = warrenTarget('candidate', { workers: o.workers, env });
    const { verdict, session } = await compareTargets(baseline, candidate, {
      specs: ctx.specs, reps: o.reps, seconds: o.seconds, warmup: o.warmup, threads: o.threads, driver: o.client,
      maxRegression: o.maxRegression, overrides: o.overrides, phaseTimeoutMs: o.phaseTimeoutMs, log: ctx.log, status: ctx.status,
    });
    process.stdout.write(`\nbaseline: ${o.compareRef} (${rev.commit.slice(0, 12)}); candidate: this checkout${o.injectDelayUs ? ` with ${o.injectDelayUs} µs injected delay` : ''}\n\n`);
    process.stdout.write(`${renderTable(groupRuns(session.runs))}\n\n${renderVerdict(verdict)}\n`);
    if (o.json) writeFileSync(o.json, JSON.stringify(buildJson(o, ctx.machine, session, { gate: { baselineRef: o.compareRef, baselineCommit: rev.commit, maxRegression: o.maxRegression, ...verdict } }), null, 2));
    return verdict;
  } finally {
    rev.remove();
  }
}
