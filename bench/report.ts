// The table printed at the end: medians over repetitions, one row per scenario
// and broker, and a ratio row when two brokers were measured.
import type { RunResult } from './runner.js';
import type { ResetFigures } from './reset.js';
import { median, noise, ratio } from './stats.js';

/** Medians of one scenario on one broker over its repetitions. */
export interface Summary {
  label: string;
  broker: string;
  driver: string;
  reps: number;
  publishedPerSec: number;
  consumedPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** publish-to-confirm latency, ms (NaN without confirms) */
  confirmP50: number;
  confirmP99: number;
  cpuUsPerMsg: number;
  /** the generator's busiest thread, share of one core */
  generatorBusy: number;
  peakRssBytes: number;
  rssPerConnectionBytes: number;
  connectionsPerSec: number;
  /** the reset scenario: its figures, with the median time */
  reset?: ResetFigures;
  /** Relative half-range of the repetitions, per figure. */
  noise: { publishedPerSec: number; consumedPerSec: number; p99: number };
  errors: string[];
}

export function summarizeRuns(runs: readonly RunResult[]): Summary {
  const r0 = runs[0]!;
  const m = (f: (r: RunResult) => number | null | undefined) => median(runs.map((r) => f(r) ?? NaN));
  return {
    label: r0.label, broker: r0.broker, driver: r0.driver, reps: runs.length,
    publishedPerSec: m((r) => r.publishedPerSec),
    consumedPerSec: m((r) => r.consumedPerSec),
    p50: m((r) => r.latency.p50), p90: m((r) => r.latency.p90), p99: m((r) => r.latency.p99),
    p999: m((r) => r.latency.p999), max: m((r) => r.latency.max),
    confirmP50: m((r) => r.confirmLatency.p50), confirmP99: m((r) => r.confirmLatency.p99),
    cpuUsPerMsg: m((r) => r.cpuUsPerMsg),
    generatorBusy: m((r) => r.generatorBusy),
    peakRssBytes: m((r) => r.peakRssBytes),
    rssPerConnectionBytes: m((r) => r.connections?.rssPerConnectionBytes),
    connectionsPerSec: m((r) => r.connections?.openPerSec),
    noise: {
      publishedPerSec: noise(runs.map((r) => r.publishedPerSec)),
      consumedPerSec: noise(runs.map((r) => r.consumedPerSec)),
      p99: noise(runs.map((r) => r.latency.p99)),
    },
    errors: [...new Set(runs.flatMap((r) => r.errors))],
    ...(r0.reset === undefined ? {} : { reset: { ...r0.reset, ms: m((r) => r.reset?.ms) } }),
  };
}

/** Groups runs by (label, broker), keeping first-seen order. */
export function groupRuns(runs: readonly RunResult[]): Summary[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.label}\u0000${r.broker}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(r);
  }
  return [...groups.values()].map(summarizeRuns);
}

export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(2)}k`;
  return x.toFixed(0);
}

export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '-';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function fmtBytes(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1 << 20) return `${(x / (1 << 20)).toFixed(0)} MiB`;
  return `${(x / 1024).toFixed(1)} KiB`;
}

function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : '-';
}

const HEADERS = ['scenario', 'broker', 'client', 'pub msg/s', 'del msg/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'cpu µs/msg', 'gen busy', 'peak RSS', 'per conn', 'confirm p50/p99 ms'];

function row(s: Summary): string[] {
  const withNoise = (v: string, n: number) => (s.reps > 1 && n > 0.005 ? `${v} ±${(n * 100).toFixed(0)}%` : v);
  return [
    s.label, s.broker, s.driver,
    withNoise(fmtRate(s.publishedPerSec), s.noise.publishedPerSec),
    withNoise(fmtRate(s.consumedPerSec), s.noise.consumedPerSec),
    fmtMs(s.p50), fmtMs(s.p90), withNoise(fmtMs(s.p99), s.noise.p99), fmtMs(s.p999), fmtMs(s.max),
    Number.isFinite(s.cpuUsPerMsg) ? s.cpuUsPerMsg.toFixed(1) : '-',
    Number.isFinite(s.generatorBusy) ? `${(s.generatorBusy * 100).toFixed(0)}%` : '-',
    fmtBytes(s.peakRssBytes),
    Number.isFinite(s.rssPerConnectionBytes) ? fmtBytes(s.rssPerConnectionBytes) : Number.isFinite(s.connectionsPerSec) ? `${fmtRate(s.connectionsPerSec)} conn/s` : '-',
    Number.isFinite(s.confirmP50) ? `${fmtMs(s.confirmP50)} / ${fmtMs(s.confirmP99)}` : '-',
  ];
}

/** Ratio row a/b: above 1 means a is better for rates, worse for latency, CPU and memory. */
function ratioRow(a: Summary, b: Summary): string[] {
  return [
    '', `${a.broker}/${b.broker}`, '',
    fmtRatio(ratio(a.publishedPerSec, b.publishedPerSec)), fmtRatio(ratio(a.consumedPerSec, b.consumedPerSec)),
    fmtRatio(ratio(a.p50, b.p50)), fmtRatio(ratio(a.p90, b.p90)), fmtRatio(ratio(a.p99, b.p99)),
    fmtRatio(ratio(a.p999, b.p999)), fmtRatio(ratio(a.max, b.max)),
    fmtRatio(ratio(a.cpuUsPerMsg, b.cpuUsPerMsg)), '', fmtRatio(ratio(a.peakRssBytes, b.peakRssBytes)),
    fmtRatio(ratio(a.rssPerConnectionBytes, b.rssPerConnectionBytes)),
    fmtRatio(ratio(a.confirmP99, b.confirmP99)),
  ];
}

export function renderTable(summaries: readonly Summary[], opts: { markdown?: boolean } = {}): string {
  const rows: string[][] = [];
  const brokers = [...new Set(summaries.map((s) => s.broker))];
  const labels = [...new Set(summaries.map((s) => s.label))];
  for (const label of labels) {
    const group = summaries.filter((s) => s.label === label);
    for (const s of group) rows.push(row(s));
    // Each further broker compared with the first (the one under test).
    const first = group.find((s) => s.broker === brokers[0]);
    for (const other of group) if (first && other !== first) rows.push(ratioRow(first, other));
  }
  if (opts.markdown) {
    const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
    return [line(HEADERS), line(HEADERS.map((h, i) => (i < 3 ? '---' : '---:'))), ...rows.map(line)].join('\n');
  }
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}
