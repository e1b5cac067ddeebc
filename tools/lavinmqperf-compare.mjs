#!/usr/bin/env node
/**
 * Runs LavinMQ's own load generator, lavinmqperf (multi-threaded, faster than
 * amqplib), against warren, LavinMQ and RabbitMQ started side by side, one
 * broker at a time, interleaved over the repetitions; prints the median consume
 * rate and broker CPU per consumed message of each. Needs `npm run build`, the
 * binaries from ../shared/lavinmq/build.sh ($LAVINMQ_DIR, default /tmp/lavin/bin)
 * and Debian's rabbitmq-server. Run by hand, not by CI:
 *   node tools/lavinmqperf-compare.mjs [--reps 3] [--seconds 10] [--brokers warren,lavinmq,rabbitmq] -- -s 16
 * (everything after `--` goes to `lavinmqperf throughput`.)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { lavinmqTarget, rabbitmqTarget, warrenTarget } from '../dist/bench/brokers.js';
import { ProcessProbe } from '../dist/bench/probe.js';

const split = process.argv.indexOf('--');
const { values } = parseArgs({
  args: process.argv.slice(2, split < 0 ? undefined : split),
  options: { reps: { type: 'string', default: '3' }, seconds: { type: 'string', default: '10' }, brokers: { type: 'string', default: 'warren,lavinmq,rabbitmq' } },
});
const perfArgs = split < 0 ? ['-s', '16'] : process.argv.slice(split + 1);
const perf = `${process.env.LAVINMQ_DIR ?? '/tmp/lavin/bin'}/lavinmqperf`;
const targets = { warren: () => warrenTarget('warren'), lavinmq: () => lavinmqTarget(), rabbitmq: () => rabbitmqTarget() };
const names = values.brokers.split(',');
const results = Object.fromEntries(names.map((n) => [n, []]));

for (let rep = 0; rep < Number(values.reps); rep++) {
  for (const name of names) {
    const broker = await targets[name]().start();
    try {
      const probe = new ProcessProbe(broker.pid);
      const cpu0 = probe.cpuUs();
      const { stdout } = await promisify(execFile)(perf, ['throughput', `--uri=${broker.url}`, '-z', values.seconds, '-j', '-q', ...perfArgs], { maxBuffer: 1 << 24 });
      const cpuUs = probe.cpuUs() - cpu0;
      // lavinmqperf's consumer acks after closing its channel at the end of a run, so every
      // broker closes that connection with 504 and its log line may follow the JSON summary.
      const r = JSON.parse(stdout.split('\n').findLast((line) => line.startsWith('{')));
      const consumed = r.avg_consume_rate * r.elapsed_seconds;
      results[name].push({ consume: r.avg_consume_rate, publish: r.avg_pub_rate, cpuPerMsg: consumed > 0 ? cpuUs / consumed : NaN });
      console.error(`rep ${rep + 1} ${name} (${broker.version}): consume ${Math.round(r.avg_consume_rate)}/s, publish ${Math.round(r.avg_pub_rate)}/s`);
    } finally {
      await broker.close();
    }
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
console.log(`lavinmqperf throughput ${perfArgs.join(' ')}, ${values.seconds} s, medians of ${values.reps}`);
console.log('broker\tconsumed msg/s\tpublished msg/s\tbroker CPU µs/consumed msg');
for (const n of names) {
  const rs = results[n];
  console.log(`${n}\t${Math.round(median(rs.map((r) => r.consume)))}\t${Math.round(median(rs.map((r) => r.publish)))}\t${median(rs.map((r) => r.cpuPerMsg)).toFixed(1)}`);
}
