// `--json FILE`: everything needed to reproduce or re-plot a run.
import { decodeHistogram, percentileCurve } from './histogram.js';
import type { MachineInfo } from './machine.js';
import type { BenchOptions } from './options.js';
import { groupRuns } from './report.js';
import type { SessionResult } from './session.js';

export const JSON_SCHEMA_VERSION = 1;

export function buildJson(o: BenchOptions, machine: MachineInfo, session: SessionResult, extra: Record<string, unknown> = {}) {
  return {
    schema: JSON_SCHEMA_VERSION,
    tool: 'warren bench',
    createdAt: new Date().toISOString(),
    command: process.argv.slice(2),
    machine,
    node: process.version,
    gitCommit: machine.gitCommit,
    parameters: {
      scenarios: o.scenarios, rates: o.rates ?? null, seconds: o.seconds, warmup: o.warmup, reps: o.reps,
      client: o.client, threads: o.threads, workers: o.workers ?? null, size: o.overrides.size ?? null, count: o.overrides.count ?? null, prefetch: o.overrides.prefetch ?? null,
    },
    brokers: session.brokers,
    summaries: groupRuns(session.runs),
    runs: session.runs.map((r) => {
      const h = decodeHistogram(r.histogram);
      const curve = percentileCurve(h);
      h.destroy();
      return {
        ...r,
        latencyUnit: 'ms',
        // `histogram` is the full HDR histogram (µs), compressed base64 as HdrHistogram tools read it.
        histogramUnit: 'us',
        percentiles: curve.map(([p, ms]) => ({ percentile: p, ms })),
      };
    }),
    ...extra,
  };
}
