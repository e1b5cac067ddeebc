// What the bench measures: a broker it starts (warren, RabbitMQ, the null
// server) or one at a URL. Started brokers run as child processes, so the CPU
// and memory read from /proc are theirs alone and they never share a thread
// with the load generator.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { startLavinmq } from './lavinmq.js';
import { freePort, startRabbitmq } from './rabbitmq.js';

export interface BrokerHandle {
  url: string;
  /** For /proc probes; absent for a broker at a URL. */
  pid?: number;
  /** warren's management API (http://user:pass@host:port), when started with one (the reset scenario uses it) */
  managementUrl?: string;
  /** From the broker's connection.start properties, e.g. "RabbitMQ 3.10.8". */
  version: string;
  /** The last few KiB the broker's process wrote to stderr, where the bench started it. */
  stderrTail?(): string;
  close(): Promise<void>;
}

export interface BrokerTarget {
  /** Short label in tables and JSON: "warren", "rabbitmq", "baseline"… */
  name: string;
  start(): Promise<BrokerHandle>;
}

/** Repository root of this checkout: from dist/bench/ when compiled, from bench/ under vitest. */
export const REPO_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

/** Asks the broker who it is. */
export async function brokerVersion(url: string): Promise<string> {
  try {
    const conn = await amqp.connect(url);
    const props = (conn.connection as unknown as { serverProperties?: Record<string, unknown> }).serverProperties ?? {};
    await conn.close();
    return [props.product, props.version].filter(Boolean).join(' ') || 'unknown';
  } catch (e) {
    return `unknown (${(e as Error).message})`;
  }
}

export function urlTarget(name: string, url: string): BrokerTarget {
  return { name, start: async () => ({ url, version: await brokerVersion(url), close: async () => undefined }) };
}

export function rabbitmqTarget(name = 'rabbitmq'): BrokerTarget {
  return {
    name,
    start: async () => {
      const r = await startRabbitmq();
      return { url: r.url, pid: r.pid, version: await brokerVersion(r.url), close: r.close };
    },
  };
}

export function lavinmqTarget(name = 'lavinmq'): BrokerTarget {
  return {
    name,
    start: async () => {
      const l = await startLavinmq();
      return { ...l, version: await brokerVersion(l.url) };
    },
  };
}

/**
 * The V8 flags `npm start` gives warren (package.json), and so the bench: a young
 * generation of 2 x 32 MiB, which halves the scavenges of Node's 16 MiB default
 * (docs/BENCHMARKS.md, "Session of 2026-12-06, fourth").
 */
export const WARREN_NODE_ARGS: readonly string[] = ['--max-semi-space-size=32'];

/**
 * Runs `node [nodeArgs] script args…` and waits for the first stdout line with an amqp://
 * URL or a port number in it (warren's CLI and the null server print one).
 */
export async function spawnReadyLine(script: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000, nodeArgs: readonly string[] = []): Promise<{ url: string; pid: number; stderrTail(): string; close(): Promise<void> }> {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${script} printed no ready line in ${timeoutMs} ms: ${err}`)); }, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n').slice(0, -1)) {
        const m = /amqp:\/\/[^\s"']+/.exec(line) ?? /(?:port\D{0,3}|:)(\d{2,5})\b/i.exec(line);
        if (!m) continue;
        clearTimeout(timer);
        resolve(m[0].startsWith('amqp://') ? m[0] : `amqp://guest:guest@127.0.0.1:${m[1]}`);
        return;
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${script} exited with ${code} before it was ready: ${err}`)); });
  });
  child.stdout!.resume();
  return {
    url,
    pid: child.pid!,
    stderrTail: () => err,
    close: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => { clearTimeout(kill); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

export interface WarrenOptions {
  /** Checkout whose dist/cli/main.js runs; this one by default. */
  root?: string;
  workers?: number;
  /** Extra environment, e.g. WARREN_BENCH_DELAY_US for the gate's self-test. */
  env?: NodeJS.ProcessEnv;
  /** Serve the management API (the reset scenario times POST /api/warren/reset); default off. */
  management?: boolean;
}

/** warren's CLI in a built checkout. */
export function warrenEntry(root: string): string {
  return path.join(root, 'dist', 'src', 'cli', 'main.js');
}

export function warrenTarget(name: string, o: WarrenOptions = {}): BrokerTarget {
  return {
    name,
    start: async () => {
      const entry = warrenEntry(o.root ?? REPO_ROOT);
      const args = ['--port', String(await freePort())];
      if (o.workers !== undefined) args.push('--workers', String(o.workers));
      // A fresh data dir each start (through the environment, which older checkouts ignore).
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'warren-bench-'));
      // No management API unless asked for: what is measured is the broker (the environment again, for older checkouts).
      const managementPort = o.management === true ? await freePort() : 0;
      const env = { ...o.env, WARREN_DATA_DIR: dataDir, WARREN_MANAGEMENT_PORT: String(managementPort) };
      const c = await spawnReadyLine(entry, args, env, undefined, WARREN_NODE_ARGS);
      const close = async () => {
        await c.close();
        rmSync(dataDir, { recursive: true, force: true });
      };
      const managementUrl = managementPort === 0 ? undefined : `http://guest:guest@127.0.0.1:${managementPort}`;
      return { ...c, close, managementUrl, version: await brokerVersion(c.url) };
    },
  };
}

/** The null server in its own process: for --ceiling, and as a fake broker in tests. */
export function nullServerTarget(name = 'null', delayUs = 0): BrokerTarget {
  return {
    name,
    start: async () => {
      const script = path.join(REPO_ROOT, 'dist', 'bench', 'null-server.js');
      const c = await spawnReadyLine(script, ['--port', '0', '--delay-us', String(delayUs)]);
      return { ...c, version: delayUs ? `null server (+${delayUs} µs/publish)` : 'null server' };
    },
  };
}
