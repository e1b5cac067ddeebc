/** Test helpers: a real broker on a free port, real amqplib clients over TCP. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { startBroker, type RunningBroker } from '../dist/src/index.js';

/** Every broker suite runs with the shard inline and with worker threads. */
export const MODES = [
  { name: 'inline (--workers 0)', workers: 0 },
  { name: 'threads (--workers 2)', workers: 2 },
] as const;

export async function start(workers: number): Promise<RunningBroker> {
  return startBroker({ port: 0, host: '127.0.0.1', workers });
}

export async function connect(url: string): Promise<ChannelModel> {
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  return conn;
}

/** A channel whose server-side close becomes a rejected promise, not an uncaught error. */
export async function channel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  return ch;
}

/** A client connecting now can declare, publish and consume: the broker still serves after what a test threw at it. */
export async function expectServesNewClient(url: string): Promise<void> {
  const fresh = await connect(url);
  const ch = await channel(fresh);
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('after'));
  expect((await collect(ch, queue, 1))[0]!.content.toString()).toBe('after');
  await fresh.close();
}

/** Resolves with the first `count` messages a consumer gets. */
export function collect(ch: Channel, queue: string, count: number, options: { noAck?: boolean } = { noAck: true }): Promise<ConsumeMessage[]> {
  return new Promise((resolve) => {
    const got: ConsumeMessage[] = [];
    void ch.consume(
      queue,
      (msg) => {
        if (msg === null) return;
        got.push(msg);
        if (got.length === count) resolve(got);
      },
      options,
    );
  });
}

/** The close the server sent a channel, as { code, message }. */
export function closed(ch: Channel): Promise<{ code: number; message: string }> {
  return new Promise((resolve) => ch.once('error', (err: any) => resolve({ code: err.code, message: err.message })));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- helpers for the broker suites (test/broker) ------------------------------------

let nameCounter = 0;
const runId = Math.random().toString(36).slice(2, 8);

/** A queue or exchange name no other test (or earlier run against the same broker) uses. */
export function uniq(prefix: string): string {
  return `${prefix}-${runId}-${++nameCounter}`;
}

/** The reply code and RabbitMQ's reply text ("NOT_FOUND - ...") of a server close, from amqplib's error. */
export function reason(err: any): { code: number; text: string } {
  const match = /with message "(.*)"$/s.exec(String(err?.message));
  return { code: err?.code, text: match ? match[1] : String(err?.message) };
}

/** Awaits an operation the server must refuse; resolves with the close's code and text. */
export async function refused(op: Promise<unknown>, ms = 3000): Promise<{ code: number; text: string }> {
  let result: unknown;
  try {
    result = await within(op, ms, 'reply or close from the server');
  } catch (err) {
    return reason(err);
  }
  throw new Error(`expected the server to refuse, but it answered ${JSON.stringify(result)}`);
}

/** Resolves like `promise`, or rejects if it takes longer than `ms` (so a missing reply fails fast). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The next `event` an emitter (channel, connection) fires, with its first argument; fails after `ms`. */
export function nextEvent<T = any>(emitter: { once(event: string, listener: (arg: T) => void): unknown }, event: string, ms = 3000): Promise<T> {
  return within(new Promise<T>((resolve) => emitter.once(event, resolve)), ms, `'${event}' event`);
}

/** The close the server sent a channel (see closed), as { code, text }; fails after `ms`. */
export async function closedWith(ch: Channel, ms = 3000): Promise<{ code: number; text: string }> {
  const { code, message } = await within(closed(ch), ms, 'channel.close from the server');
  return reason({ code, message });
}

/** The message bodies as strings. */
export const bodies = (messages: readonly { content: Buffer }[]): string[] => messages.map((m) => m.content.toString());

/** A consumer that records what it gets. */
export interface Inbox {
  readonly consumerTag: string;
  readonly messages: ConsumeMessage[];
  /** true once the server cancelled the consumer (basic.cancel from the server) */
  cancelled: boolean;
  /** Resolves with the first `count` messages once that many arrived; rejects after `ms`. */
  waitFor(count: number, ms?: number): Promise<ConsumeMessage[]>;
}

export async function subscribe(ch: Channel, queue: string, options: amqp.Options.Consume = { noAck: true }): Promise<Inbox> {
  const waiters = new Set<() => void>();
  const messages: ConsumeMessage[] = [];
  const inbox: Inbox = {
    consumerTag: '',
    messages,
    cancelled: false,
    waitFor(count, ms = 3000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(messages.slice(0, count));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`got ${messages.length} of ${count} messages on '${queue}' within ${ms} ms: ${JSON.stringify(bodies(messages))}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
  const ok = await ch.consume(
    queue,
    (msg) => {
      if (msg === null) {
        inbox.cancelled = true;
        return;
      }
      messages.push(msg);
      for (const check of [...waiters]) check();
    },
    options,
  );
  (inbox as { consumerTag: string }).consumerTag = ok.consumerTag;
  return inbox;
}

/** Retries `check` (an assertion) until it passes; rethrows its last failure after `ms`. */
export async function eventually<T>(check: () => Promise<T> | T, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(25);
    }
  }
}

/** RabbitMQ's 405 text for another connection's exclusive queue. */
export const lockedText = (queue: string, vhost = '/') =>
  `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${queue}' in vhost '${vhost}'. ` +
  'It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.';

/** Whether a queue exists, asked on a throwaway channel (a 404 closes it). */
export async function queueExists(conn: ChannelModel, queue: string): Promise<boolean> {
  return exists(conn, (ch) => ch.checkQueue(queue));
}

/**
 * Whether a queue exists, asked by a bind and unbind, which do not count as a
 * use: a declare, passive too, restarts the queue's x-expires (as RabbitMQ's).
 */
export async function queueExistsUnused(conn: ChannelModel, queue: string): Promise<boolean> {
  return exists(conn, async (ch) => {
    await ch.bindQueue(queue, 'amq.direct', 'existence-check');
    await ch.unbindQueue(queue, 'amq.direct', 'existence-check');
  });
}

/** Whether an exchange exists, asked on a throwaway channel (a 404 closes it). */
export async function exchangeExists(conn: ChannelModel, exchange: string): Promise<boolean> {
  return exists(conn, (ch) => ch.checkExchange(exchange));
}

async function exists(conn: ChannelModel, check: (ch: Channel) => Promise<unknown>): Promise<boolean> {
  const ch = await channel(conn);
  try {
    await check(ch);
  } catch (err: any) {
    if (err?.code === 404) return false;
    throw err;
  }
  await ch.close();
  return true;
}

/**
 * One broker per suite (started before its tests, closed after them) and
 * connections that are closed after each test.
 */
export function useBroker(workers: number) {
  let running: RunningBroker | undefined;
  const opened: ChannelModel[] = [];
  beforeAll(async () => {
    running = await start(workers);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((conn) => conn.close().catch(() => {})));
  });
  afterAll(async () => {
    await running?.close();
  });
  return {
    get url(): string {
      return running!.url;
    },
    get port(): number {
      return running!.port;
    },
    /** A connection closed after the test; `query` is appended to the URL (e.g. '?heartbeat=1'). */
    async connect(query = ''): Promise<ChannelModel> {
      const conn = await connect(running!.url + query);
      opened.push(conn);
      return conn;
    },
  };
}

/** A confirm channel whose server-side close becomes a rejected promise. */
export async function confirmChannel(conn: ChannelModel): Promise<amqp.ConfirmChannel> {
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  return ch;
}

/** Takes every message in a queue with basic.get (no-ack); returns their bodies in order. */
export async function drain(ch: Channel, queue: string): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    const msg = await ch.get(queue, { noAck: true });
    if (msg === false) return got;
    got.push(msg.content.toString());
  }
}

/** A TCP port free at the time of asking (for a child process that needs a fixed one). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** `count` TCP ports free at the time of asking, all different: held open together while they are chosen. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** The built `warren` command. */
export const WARREN_MAIN = new URL('../dist/src/cli/main.js', import.meta.url).pathname;

/** Runs the `warren` command to its exit. */
export async function runWarren(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [WARREN_MAIN, ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const [code] = await once(child, 'exit');
  return { code, stdout, stderr };
}

/**
 * Starts the `warren` command in memory on free ports, its management API on;
 * resolves once both listen. `fdLimit`: under `ulimit -n` (soft and hard: node
 * raises its soft limit to the hard one).
 */
export async function spawnWarren(workers: number, args: string[] = [], fdLimit?: number): Promise<{ child: ChildProcess; url: string; managementPort: number }> {
  // Both fixed: with --port 0 the system could hand the AMQP listener the port just found free for the API.
  const [amqpPort, managementPort] = (await freePorts(2)) as [number, number];
  const argv = [WARREN_MAIN, '--port', String(amqpPort), '--host', '127.0.0.1', '--in-memory', '--management-port', String(managementPort), '--workers', String(workers), ...args];
  const child = fdLimit === undefined
    ? spawn(process.execPath, argv)
    : spawn('bash', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, ...argv]);
  let output = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes(`management API on http://127.0.0.1:${managementPort}/`)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`warren exited with ${code} before it was ready: ${output}${stderr}`)));
  });
  const port = /port (\d+) /.exec(output)?.[1];
  if (port === undefined) throw new Error(`no port in "${output}"`);
  return { child, url: `amqp://guest:guest@127.0.0.1:${port}`, managementPort };
}

/** spawnWarren for a describe block: each broker it starts is killed after its test. */
export function spawnedWarrens(): typeof spawnWarren {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });
  return async (...args) => {
    const started = await spawnWarren(...args);
    children.push(started.child);
    return started;
  };
}

/**
 * amqplib connections named by their connection_name (what fault filters and
 * hooks match), each with an error handler, all closed by closeAll().
 */
export function namedConnections(url: () => string) {
  const opened: ChannelModel[] = [];
  return {
    async open(name: string, query = ''): Promise<ChannelModel> {
      const conn = await amqp.connect(url() + query, { clientProperties: { connection_name: name } });
      conn.on('error', () => {});
      opened.push(conn);
      return conn;
    },
    closeAll: () => Promise.all(opened.splice(0).map((conn) => conn.close().catch(() => {}))),
  };
}

/** Makes temp dirs named from `prefix`; all of them are removed after the file's tests. */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = fs.mkdtempSync(join(os.tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

let fullGc: (() => void) | undefined;

/**
 * This process's ArrayBuffer bytes: the least seen over several full
 * collections a while apart. A collection frees ArrayBuffers only as its
 * sweeper thread gets to them, which on a loaded machine takes more than a turn.
 */
export function arrayBufferBytesAfterGc(): Promise<number> {
  return leastAfterGc(() => process.memoryUsage().arrayBuffers);
}

/** This process's V8 heap in use, the least seen over several full collections (see arrayBufferBytesAfterGc). */
export function heapUsedAfterGc(): Promise<number> {
  return leastAfterGc(() => process.memoryUsage().heapUsed);
}

async function leastAfterGc(bytes: () => number): Promise<number> {
  if (fullGc === undefined) {
    v8.setFlagsFromString('--expose-gc');
    fullGc = vm.runInNewContext('gc') as () => void;
  }
  let least = Infinity;
  for (let i = 0; i < 6; i++) {
    fullGc();
    await sleep(100);
    least = Math.min(least, bytes());
  }
  return least;
}

/**
 * Message n's body of `size` bytes (at least 8): u32 n, u32 size, then a key
 * stream of AES-CTR keyed by `label` and n, so that every byte depends on the
 * message; `numberOfBody` reads n back after checking every byte.
 */
export function numberedBody(label: string, n: number, size: number): Buffer {
  const key = createHash('sha256').update(`${label}-${n}`).digest().subarray(0, 16);
  const b = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
  b.writeUInt32BE(n, 0);
  b.writeUInt32BE(size, 4);
  return b;
}

/** The number of a body numberedBody(label, ...) made, or -1 where any byte differs from it. */
export function numberOfBody(label: string, content: Buffer): number {
  if (content.length < 8) return -1;
  const n = content.readUInt32BE(0);
  return content.readUInt32BE(4) === content.length && content.equals(numberedBody(label, n, content.length)) ? n : -1;
}

/** A broker with `dataDir` in a process of its own (to SIGKILL); `port` once it listens. */
export function brokerProcess(dataDir: string, workers: number): { child: ChildProcess; exited: Promise<void>; port: Promise<number> } {
  const fixture = new URL('./fixtures/persistent-broker.mjs', import.meta.url).pathname;
  const child = spawn(process.execPath, [fixture, dataDir, String(workers)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = within(
    new Promise<number>((resolve, reject) => {
      let text = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const match = /port (\d+)\n/.exec(text);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', () => reject(new Error('the broker process ended before listening')));
    }),
    10_000,
    'port from the broker process',
  );
  return { child, exited, port };
}
