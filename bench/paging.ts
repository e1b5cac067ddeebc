// What a long durable queue costs the broker's memory: `node dist/bench/paging.js [count] [size] [workers] [heapMiB] [classic|stream]`.
// Starts a broker in its own process (test/fixtures/memory-broker.mjs, a fresh data dir under
// the OS temp dir, `--max-old-space-size=heapMiB` when given), publishes `count` persistent
// messages of `size` bytes (default 1,000,000 x 1 KiB) into one durable queue with confirms
// (1,000 in flight), then consumes them all (prefetch 1,000, acks) and checks each number came
// once, in order (a stream is read from its first offset). Prints the broker's heapUsed and
// rss before, after publishing and after consuming, and the peak rss. Not a timed test.
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import amqp from 'amqplib';

const count = Number(process.argv[2] ?? 1_000_000);
const size = Number(process.argv[3] ?? 1024);
const workers = process.argv[4] ?? '0';
const heapMiB = process.argv[5];
const stream = process.argv[6] === 'stream';
const dataDir = fs.mkdtempSync(join(os.tmpdir(), 'warren-bench-paging-'));
const fixture = new URL('../../test/fixtures/memory-broker.mjs', import.meta.url).pathname;
const child = spawn(process.execPath, [...(heapMiB ? [`--max-old-space-size=${heapMiB}`] : []), fixture, dataDir, workers], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const lines = readline.createInterface({ input: child.stdout! });
const nextLine = () => new Promise<string>((resolve) => lines.once('line', resolve));

interface Memory {
  heapUsed: number;
  rss: number;
  peakRss: number;
}
async function memory(): Promise<Memory> {
  const line = nextLine();
  child.stdin!.write('mem\n');
  return JSON.parse(await line) as Memory;
}
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const show = (what: string, m: Memory) => console.log(`${what.padEnd(22)} heapUsed ${mib(m.heapUsed).padStart(9)}  rss ${mib(m.rss).padStart(9)}  peak rss ${mib(m.peakRss).padStart(9)}`);

try {
  const port = Number(/^port (\d+)$/.exec(await nextLine())![1]);
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`, { noDelay: true });
  const ch = await conn.createConfirmChannel();
  const queue = 'paging-bench';
  await ch.assertQueue(queue, { durable: true, arguments: stream ? { 'x-queue-type': 'stream' } : {} });
  show('start', await memory());

  const body = Buffer.alloc(size, 0x2e);
  let t = Date.now();
  for (let n = 1; n <= count; n++) {
    body.write(`${n} `.padEnd(12, '.'), 0, 'latin1');
    ch.sendToQueue(queue, body, { persistent: true });
    if (n % 1000 === 0) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  const published = (Date.now() - t) / 1000;
  const declared = await ch.checkQueue(queue);
  console.log(`published ${count} x ${size} B persistent${stream ? ' into a stream' : ''} in ${published.toFixed(1)} s (${Math.round(count / published)} msg/s); queue holds ${declared.messageCount}; on disk ${mib(du(dataDir))}`);
  show('after publishing', await memory());

  t = Date.now();
  await ch.prefetch(1000);
  let next = 1;
  await new Promise<void>((resolve, reject) => {
    void ch.consume(queue, (m) => {
      if (m === null) return;
      const n = Number(m.content.toString('latin1', 0, 12).split(' ')[0]);
      if (n !== next) reject(new Error(`got ${n}, expected ${next}`));
      next++;
      if (n % 500 === 0 || n === count) ch.ack(m, true);
      if (n === count) resolve();
    }, { arguments: stream ? { 'x-stream-offset': 'first' } : {} });
  });
  const consumed = (Date.now() - t) / 1000;
  console.log(`consumed ${count} in order, each once, in ${consumed.toFixed(1)} s (${Math.round(count / consumed)} msg/s)`);
  await ch.checkQueue(queue);
  show('after consuming', await memory());
  await conn.close();
} finally {
  child.stdin!.end();
  await new Promise((resolve) => child.once('exit', resolve));
  fs.rmSync(dataDir, { recursive: true, force: true });
}

function du(dir: string): number {
  let bytes = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    bytes += e.isDirectory() ? du(p) : fs.statSync(p).size;
  }
  return bytes;
}
