// End to end over real TCP: the null server and both drivers, JSON output, the gate.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, WARREN_NODE_ARGS, nullServerTarget, urlTarget, warrenTarget } from '../../bench/brokers.js';
import { compareTargets, renderVerdict } from '../../bench/compare.js';
import { renderHtml, renderSvg } from '../../bench/html.js';
import { buildJson } from '../../bench/json.js';
import { describeMachine, machineInfo } from '../../bench/machine.js';
import { nowUs } from '../../bench/clock.js';
import { startNullServer, type NullServer } from '../../bench/null-server.js';
import { parseOptions } from '../../bench/options.js';
import { groupRuns, renderTable } from '../../bench/report.js';
import { GeneratorPool, runScenario } from '../../bench/runner.js';
import { buildScenario } from '../../bench/scenarios.js';
import { runSession } from '../../bench/session.js';
import { ensureBuilt, quiet } from './helpers.js';

let server: NullServer;
beforeAll(async () => {
  ensureBuilt();
  server = await startNullServer();
});
afterAll(async () => { await server?.close(); });

const base = { reps: 1, seconds: 1, warmup: 0.3, threads: 0, ...quiet };

/** Accepts connections and never says a word: amqplib waits for connection.start for ever. */
async function silentServer(): Promise<{ url: string; close: () => void }> {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((socket) => { sockets.push(socket); socket.on('error', () => undefined); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  return {
    url: `amqp://guest:guest@127.0.0.1:${(silent.address() as AddressInfo).port}`,
    close: () => {
      silent.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

describe('the null server', () => {
  it('sends each delivery with the send time its publish carried, so latency through it is a round trip', async () => {
    const own = await startNullServer(); // its own: nothing owed from other tests' publishes
    const conn = await amqp.connect(own.url, { noDelay: true });
    try {
      const ch = await conn.createChannel();
      const stamps: number[] = [];
      const five = new Promise<void>((resolve) => {
        void ch.consume('q', (msg) => {
          stamps.push(msg!.content.readDoubleLE(0));
          if (stamps.length === 5) resolve();
        }, { noAck: true });
      });
      const stamped = (us: number) => {
        const body = Buffer.alloc(16);
        body.writeDoubleLE(us, 0);
        return body;
      };
      const before = nowUs();
      ch.sendToQueue('q', stamped(11.5));
      ch.sendToQueue('q', Buffer.from('abc')); // too short for a stamp: sent with the time it is written
      ch.sendToQueue('q', stamped(22.5));
      ch.sendToQueue('q', Buffer.alloc(0)); // no body frame at all
      ch.sendToQueue('q', stamped(33.5));
      await five;
      expect([stamps[0], stamps[2], stamps[4]]).toEqual([11.5, 22.5, 33.5]);
      expect(stamps[1]).toBeGreaterThanOrEqual(before);
      expect(stamps[3]).toBeGreaterThanOrEqual(before);
    } finally {
      await conn.close();
      await own.close();
    }
  }, 20_000);
});

describe('load generation against the null server', () => {
  it('pipelined driver: non-zero publish and delivery rates, latency recorded', async () => {
    const s = await runSession({ ...base, specs: [{ scenario: 'single' }], brokers: [urlTarget('null', server.url)], driver: 'pipelined' });
    const r = s.runs[0]!;
    expect(r.errors).toEqual([]);
    expect(r.publishedPerSec).toBeGreaterThan(1000);
    expect(r.consumedPerSec).toBeGreaterThan(1000);
    expect(r.latency.count).toBeGreaterThan(0);
    expect(r.timeline.length).toBeGreaterThan(0);
    expect(r.confirmLatency.count).toBe(0); // no confirms asked
  }, 20_000);

  it('pipelined driver with confirms: a latency for each confirm, from its publish', async () => {
    const s = await runSession({ ...base, specs: [{ scenario: 'confirm' }], brokers: [urlTarget('null', server.url)], driver: 'pipelined' });
    const r = s.runs[0]!;
    expect(r.errors).toEqual([]);
    // One sample per confirm inside the measured window, which is what the taken-in rate counts.
    const confirmedInWindow = r.publishedPerSec * base.seconds;
    expect(r.confirmLatency.count).toBeGreaterThan(confirmedInWindow * 0.5);
    expect(r.confirmLatency.count).toBeLessThan(confirmedInWindow * 1.5);
    expect(r.confirmLatency.p50).toBeGreaterThan(0);
    expect(r.confirmLatency.p99).toBeGreaterThanOrEqual(r.confirmLatency.p50);
    expect(r.confirmLatency.max).toBeLessThan((base.seconds + base.warmup) * 1000);
    expect(renderTable(groupRuns(s.runs))).toMatch(/confirm p50\/p99 ms[\s\S]*\d \/ \d/);
  }, 20_000);

  it('amqplib driver with confirms and manual acks', async () => {
    const s = await runSession({ ...base, specs: [{ scenario: 'confirm' }], brokers: [urlTarget('null', server.url)], driver: 'amqplib' });
    const r = s.runs[0]!;
    expect(r.errors).toEqual([]);
    expect(r.publishedPerSec).toBeGreaterThan(1000);
    expect(r.consumedPerSec).toBeGreaterThan(100);
    expect(r.confirmLatency.count).toBeGreaterThan(r.publishedPerSec * base.seconds * 0.5);
    expect(r.confirmLatency.p99).toBeGreaterThanOrEqual(r.confirmLatency.p50);
  }, 20_000);

  it('a broker that stops answering fails the run, naming the phase and showing its stderr, instead of hanging', async () => {
    const silent = await silentServer();
    const handle = { url: silent.url, version: 'silent', stderrTail: () => 'its last words\n', close: async () => undefined };
    const pool = new GeneratorPool(0);
    try {
      const run = runScenario(buildScenario('single', { prefix: 'hang.' }), { name: 'silent', handle }, pool, { driver: 'amqplib', seconds: 1, warmupSeconds: 0, phaseTimeoutMs: 500 });
      await expect(run).rejects.toThrow("declaring the topology did not finish within 0.5 s; the broker's last stderr lines:\nits last words");
    } finally {
      await pool.close();
      silent.close();
    }
  }, 10_000);

  it('the bench command ends with status 2 when a phase hangs, though the hung connection stays open', async () => {
    const silent = await silentServer();
    try {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'bench', 'main.js'), '--url', silent.url, '--scenario', 'single', '--seconds', '1', '--reps', '1', '--phase-timeout', '0.5', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(null); }, 15_000);
        child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
      });
      expect(stderr).toContain('bench: starting broker did not finish within 0.5 s');
      expect(code).toBe(2);
    } finally {
      silent.close();
    }
  }, 20_000);

  it('fixed rate is honoured', async () => {
    const s = await runSession({ ...base, seconds: 1.5, specs: [{ scenario: 'latency', rate: 2000 }], brokers: [urlTarget('null', server.url)], driver: 'pipelined' });
    const r = s.runs[0]!;
    expect(r.label).toBe('latency@2k');
    expect(r.publishedPerSec).toBeGreaterThan(1600);
    expect(r.publishedPerSec).toBeLessThan(2400);
  }, 20_000);

  it('JSON, table, HTML and SVG carry the figures', async () => {
    const s = await runSession({ ...base, specs: [{ scenario: 'fanout' }, { scenario: 'connections' }], overrides: { count: 20 }, brokers: [urlTarget('null', server.url)], driver: 'pipelined' });
    const o = parseOptions(['--scenario', 'fanout,connections', '--seconds', '1']);
    const json = JSON.parse(JSON.stringify(buildJson(o, machineInfo(process.cwd()), s)));
    expect(json.machine.cores).toBeGreaterThan(0);
    // The host's TCP congestion control moves the amqplib rows: each result names it.
    const cc = existsSync('/proc/sys/net/ipv4/tcp_congestion_control') ? readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim() : null;
    expect(json.machine.tcpCongestionControl).toBe(cc);
    if (cc !== null) expect(describeMachine(json.machine)).toContain(`TCP ${cc}`);
    expect(json.node).toBe(process.version);
    expect(json).toHaveProperty('gitCommit');
    expect(json.parameters.seconds).toBe(1);
    expect(json.brokers[0].version).toContain('null server');
    const run = json.runs.find((r: { scenario: string }) => r.scenario === 'fanout');
    for (const k of ['scenario', 'broker', 'driver', 'publishedPerSec', 'consumedPerSec', 'latency', 'histogram', 'percentiles', 'timeline']) expect(run).toHaveProperty(k);
    expect(typeof run.histogram).toBe('string');
    expect(run.latency.p99).toBeGreaterThan(0);
    // The busiest thread of this process, from /proc (here the generator and the null server
    // share the main thread, --threads 0): a full-speed pipelined fanout keeps it busy.
    expect(run.generatorBusy).toBeGreaterThan(0.2);
    expect(run.generatorBusy).toBeLessThan(1.2);
    const conns = json.runs.find((r: { scenario: string }) => r.scenario === 'connections');
    expect(conns.connections.count).toBe(20);
    const table = renderTable(groupRuns(s.runs));
    expect(table).toContain('fanout');
    expect(table).toMatch(/gen busy/);
    expect(table).toMatch(/fanout +null +pipelined .* \d+% /);
    expect(renderSvg(s)).toContain('<polyline');
    expect(renderHtml(s, machineInfo(process.cwd()))).toContain('<svg');
  }, 20_000);
});

describe('regression gate', () => {
  const cfg = { ...base, specs: [{ scenario: 'confirm' as const }], reps: 2, seconds: 1, driver: 'pipelined' as const, maxRegression: 0.25 };

  it('fails when the candidate broker is slowed down', async () => {
    const { verdict } = await compareTargets(nullServerTarget('baseline'), nullServerTarget('candidate', 40), cfg);
    expect(verdict.pass).toBe(false);
    expect(verdict.figures.find((f) => f.metric === 'published/s')!.regressed).toBe(true);
  }, 30_000);

  it('fails when warren itself is slowed in its publish path (WARREN_BENCH_DELAY_US)', async () => {
    const warrenCfg = { ...cfg, specs: [{ scenario: 'single' as const }] };
    const { verdict } = await compareTargets(
      warrenTarget('baseline', { workers: 1 }),
      warrenTarget('candidate', { workers: 1, env: { WARREN_BENCH_DELAY_US: '20' } }),
      warrenCfg,
    );
    expect(verdict.pass).toBe(false);
    expect(verdict.figures.find((f) => f.metric === 'published/s')!.regressed).toBe(true);
  }, 40_000);

  it("starts warren with the V8 flags `npm start` gives it, so that it measures what `npm start` runs", async () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe(`node ${WARREN_NODE_ARGS.join(' ')} dist/src/cli/main.js`);
    const broker = await warrenTarget('flags').start();
    try {
      const argv = readFileSync(`/proc/${broker.pid}/cmdline`, 'utf8').split('\0');
      expect(argv.slice(1, 1 + WARREN_NODE_ARGS.length)).toEqual([...WARREN_NODE_ARGS]);
    } finally {
      await broker.close();
    }
  }, 30_000);

  it('passes two identical brokers', async () => {
    // Two identical servers differ only by noise: medians of five and a wider margin keep a busy machine from failing them.
    const { verdict } = await compareTargets(nullServerTarget('baseline'), nullServerTarget('candidate'), { ...cfg, reps: 5, maxRegression: 0.5 });
    expect(verdict.figures.length).toBeGreaterThan(0);
    expect(verdict.pass, renderVerdict(verdict)).toBe(true);
  }, 60_000);
});

