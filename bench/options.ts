// Command-line options of `npm run bench`.
import os from 'node:os';
import type { DriverName } from './drivers/types.js';
import { ON_REQUEST, SCENARIOS, isScenario, type ScenarioName, type ScenarioOverrides } from './scenarios.js';
import { parseFraction, parseRate } from './stats.js';

export interface BenchOptions {
  /** Broker under test at a URL; without it the bench starts a warren. */
  url?: string;
  /** Second broker: a URL, "rabbitmq" or "lavinmq" (start a local one) or "warren". */
  vs?: string;
  scenarios: ScenarioName[];
  seconds: number;
  warmup: number;
  reps: number;
  /** Rate sweep (msg/s, 0 = max); each rate is a separate row. */
  rates?: number[];
  client: DriverName;
  /** Load-generator threads (piscina pool size); 0 runs them on the main thread. */
  threads: number;
  /** Passed to the warren the bench starts. */
  workers?: number;
  ceiling: boolean;
  json?: string;
  html?: string;
  svg?: string;
  compareRef?: string;
  maxRegression: number;
  /** --size, --count, --prefetch */
  overrides: ScenarioOverrides;
  /** How long a run's setup, teardown or final markers may take before it counts as hung, ms. */
  phaseTimeoutMs?: number;
  /** Sets WARREN_BENCH_DELAY_US in the candidate warren (the gate's self-check). */
  injectDelayUs?: number;
  quiet: boolean;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

  --url URL              benchmark the broker at URL (default: start a warren)
  --vs URL|rabbitmq|lavinmq|warren
                         measure a second broker in the same run, interleaved A B A B
                         (lavinmq: the binary at $LAVINMQ, default /tmp/lavin/bin/lavinmq)
  --scenario LIST        comma-separated: ${SCENARIOS.join(', ')} (default: all but ${ON_REQUEST.join(' and ')})
  --seconds N            measured seconds per run (default 5)
  --warmup N             unmeasured seconds before each run (default 1)
  --reps N               repetitions; figures are medians (default 1, 3 with --vs/--compare-ref)
  --rate LIST            fixed publish rates, e.g. 1k,10k,50k,max (default scenario: latency)
  --client NAME          amqplib (default) or pipelined
  --threads N            load-generator threads (piscina pool size; 0 = main thread)
  --workers N            --workers passed to the warren the bench starts
  --ceiling              also run against a null server: the client's own limit here
  --size BYTES           message size override
  --count N              queues (many-queues) or connections (connections) override
  --prefetch N           the acking consumers' prefetch in confirm, acks, persistent (default 100)
  --json FILE            machine-readable results, with full latency histograms
  --html FILE            latency percentile curves and throughput over time
  --svg FILE             the same charts as a standalone SVG
  --compare-ref REF      build git REF in a temporary worktree and gate this
                         checkout against it (exit 1 on regression)
  --max-regression PCT   allowed throughput drop / p99 rise beyond noise (default 10%)
  --phase-timeout S      a run's setup, teardown or final markers taking longer is a hang:
                         the bench stops with an error (default 120)
  --inject-delay-us N    make the candidate warren slower (WARREN_BENCH_DELAY_US), to check the gate
  --quiet                no progress output
`;

export function defaultThreads(): number {
  // Leave a core for the broker; the generator count never exceeds the actors.
  return Math.max(1, os.availableParallelism() - 1);
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  const o: BenchOptions = {
    scenarios: SCENARIOS.filter((s) => !ON_REQUEST.includes(s)), seconds: 5, warmup: 1, reps: 0, client: 'amqplib', threads: defaultThreads(),
    ceiling: false, maxRegression: 0.1, overrides: {}, quiet: false, help: false,
  };
  let scenarioGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (min: number): number => {
      const v = Number(value());
      if (!Number.isFinite(v) || v < min) throw new Error(`${flag}: expected a number >= ${min}`);
      return v;
    };
    switch (flag) {
      case '--url': o.url = value(); break;
      case '--vs': o.vs = value(); break;
      case '--scenario': case '--scenarios': {
        const names = value().split(',').map((s) => s.trim()).filter(Boolean);
        for (const n of names) if (!isScenario(n)) throw new Error(`unknown scenario "${n}"; known: ${SCENARIOS.join(', ')}`);
        o.scenarios = names as ScenarioName[];
        scenarioGiven = true;
        break;
      }
      case '--seconds': o.seconds = num(0.1); break;
      case '--warmup': o.warmup = num(0); break;
      case '--reps': o.reps = Math.floor(num(1)); break;
      case '--rate': case '--rates': o.rates = value().split(',').map(parseRate); break;
      case '--client': {
        const c = value();
        if (c !== 'amqplib' && c !== 'pipelined') throw new Error('--client: amqplib or pipelined');
        o.client = c;
        break;
      }
      case '--threads': case '--pool': o.threads = Math.floor(num(0)); break;
      case '--workers': o.workers = Math.floor(num(0)); break;
      case '--ceiling': o.ceiling = true; break;
      case '--json': o.json = value(); break;
      case '--html': o.html = value(); break;
      case '--svg': o.svg = value(); break;
      case '--compare-ref': o.compareRef = value(); break;
      case '--max-regression': o.maxRegression = parseFraction(value()); break;
      case '--size': o.overrides.size = Math.floor(num(8)); break;
      case '--count': o.overrides.count = Math.floor(num(1)); break;
      case '--prefetch': {
        const n = Math.floor(num(1));
        if (n > 65535) throw new Error('--prefetch: basic.qos takes at most 65535');
        o.overrides.prefetch = n;
        break;
      }
      case '--phase-timeout': o.phaseTimeoutMs = num(0.1) * 1000; break;
      case '--inject-delay-us': o.injectDelayUs = num(0); break;
      case '--quiet': o.quiet = true; break;
      case '-h': case '--help': o.help = true; break;
      default: throw new Error(`unknown option ${arg}\n\n${USAGE}`);
    }
  }
  if (o.rates && !scenarioGiven) o.scenarios = ['latency'];
  if (o.reps === 0) o.reps = o.vs || o.compareRef ? 3 : 1;
  if (o.url && o.compareRef) throw new Error('--compare-ref starts both warrens itself; drop --url');
  return o;
}
