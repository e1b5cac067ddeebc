// `npm run bench`: the AMQP load generator, side by side comparisons and the
// regression gate. See docs/BENCHMARKS.md.
import { writeFileSync } from 'node:fs';
import { REPO_ROOT, lavinmqTarget, nullServerTarget, rabbitmqTarget, urlTarget, warrenTarget, type BrokerTarget } from './brokers.js';
import { runGate } from './compare.js';
import { renderHtml, renderSvg } from './html.js';
import { buildJson } from './json.js';
import { describeMachine, machineInfo } from './machine.js';
import { USAGE, parseOptions, type BenchOptions } from './options.js';
import { fmtMs, groupRuns, renderTable } from './report.js';
import { liveBrokers, runSession, type RunSpec } from './session.js';

function targetFor(spec: string, o: BenchOptions, name?: string): BrokerTarget {
  if (spec === 'rabbitmq') return rabbitmqTarget(name ?? 'rabbitmq');
  if (spec === 'lavinmq') return lavinmqTarget(name ?? 'lavinmq');
  if (spec === 'warren') return warrenTarget(name ?? 'warren', { workers: o.workers, management: o.scenarios.includes('reset') });
  return urlTarget(name ?? 'other', spec);
}

export function specsFor(o: BenchOptions): RunSpec[] {
  if (!o.rates) return o.scenarios.map((scenario) => ({ scenario }));
  return o.scenarios.flatMap((scenario) => o.rates!.map((rate) => ({ scenario, rate })));
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = (s: string) => { if (!o.quiet) process.stderr.write(`${s}\n`); };
  const status = !o.quiet && process.stderr.isTTY ? (s: string) => process.stderr.write(`\r\x1b[K${s}`) : null;
  const machine = machineInfo(REPO_ROOT);
  process.stdout.write(`machine: ${describeMachine(machine)}\n`);

  if (o.compareRef) {
    const verdict = await runGate(o, { log, status, specs: specsFor(o), machine });
    return verdict.pass ? 0 : 1;
  }

  // `--url rabbitmq` (or lavinmq) starts a local one as the broker under test.
  const brokers: BrokerTarget[] = [o.url ? (o.url.startsWith('amqp') ? urlTarget('broker', o.url) : targetFor(o.url, o)) : warrenTarget('warren', { workers: o.workers, management: o.scenarios.includes('reset') })];
  if (o.vs) brokers.push(targetFor(o.vs, o, o.vs.startsWith('amqp') ? 'other' : o.vs));
  if (o.ceiling) brokers.push(nullServerTarget('null'));
  if (o.vs && o.vs === o.url) throw new Error('--vs names the same broker as --url');

  const session = await runSession({
    specs: specsFor(o), brokers, reps: o.reps, driver: o.client, seconds: o.seconds, warmup: o.warmup,
    threads: o.threads, overrides: o.overrides, phaseTimeoutMs: o.phaseTimeoutMs, log, status,
  });
  const summaries = groupRuns(session.runs);
  process.stdout.write(`\nbrokers: ${session.brokers.map((b) => `${b.name} = ${b.version}`).join('; ')}\n`);
  process.stdout.write(`client: ${o.client}, ${o.threads} generator thread(s), ${o.seconds} s measured after ${o.warmup} s warm-up, medians of ${o.reps}\n\n`);
  process.stdout.write(`${renderTable(summaries)}\n`);
  for (const s of summaries) {
    if (s.reset === undefined) continue;
    const r = s.reset;
    process.stdout.write(`${s.label} on ${s.broker}: ${r.queues} queues, ${r.bindings} bindings, ${r.messages} messages; ${r.method === 'http' ? 'POST /api/warren/reset' : 'queue.delete of each, pipelined'}: ${fmtMs(r.ms)} ms (median of ${s.reps})\n`);
  }
  if (o.json) writeFileSync(o.json, JSON.stringify(buildJson(o, machine, session), null, 2));
  if (o.html) writeFileSync(o.html, renderHtml(session, machine));
  if (o.svg) writeFileSync(o.svg, renderSvg(session));
  const failed = session.runs.some((r) => r.errors.length > 0);
  return failed ? 2 : 0;
}

// An interrupted bench must not leave a RabbitMQ or warren running behind it.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping brokers…\n`);
    void Promise.all([...liveBrokers].map((b) => b.close().catch(() => undefined))).then(() => process.exit(130));
  });
}

main().then(
  (code) => { process.exitCode = code; },
  (e: Error) => {
    process.stderr.write(`bench: ${e.message}\n`);
    // A hung phase leaves its connection open, which would keep this process alive.
    void Promise.all([...liveBrokers].map((b) => b.close().catch(() => undefined))).then(() => process.exit(2));
  },
);
