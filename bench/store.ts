// Micro-benchmark of the message store: `node dist/bench/store.js [count] [dir]`.
// Appends `count` 1 KiB messages through the sync worker (a flush every 100, as a
// shard batch would), waits until all are durable, then acks them all; then as a
// publisher with a confirm window would (each batch waits for its fsync); and, for
// comparison, one fsync per message in the calling thread. Prints appends/s and
// fsyncs/s. The files go under `dir` (default: the OS temp dir): put it on the
// disk you want to measure. Not a timed test.
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { SyncWriter } from '../src/store/sync-writer.js';
import { InlineSyncWriter } from '../src/store/inline-sync-writer.js';
import { SharedDoorbell } from '../src/shard/doorbell.js';
import { recoverQueue } from '../src/store/recover.js';

const count = Number(process.argv[2] ?? 200_000);
const root = fs.mkdtempSync(join(process.argv[3] ?? os.tmpdir(), 'warren-bench-store-'));
const BATCH = 100;

/** A 1 KiB block (exchange and routing key empty, no properties). */
function block(n: number): Buffer {
  const b = Buffer.alloc(10 + 1024 - 10, 0x2e);
  b.writeUInt32LE(0, 2);
  b.writeUInt32LE(b.length - 10, 6);
  b.write(`message ${n} `, 10);
  return b;
}

async function untilDurable(writer: SyncWriter, bell: SharedDoorbell, seq: number): Promise<void> {
  while (writer.durable < seq) {
    writer.flush(); // overflow into the ring as it frees
    const token = bell.arm();
    if (writer.durable >= seq) break;
    await new Promise<void>((resolve) => bell.sleep(token, resolve));
  }
  bell.disarm();
}

/** One result line; `kib` is the size of what each operation wrote (0: not shown). */
const line = (name: string, n: number, ms: number, fsyncs: number, kib = 1) =>
  console.log(
    `${name.padEnd(42)} ${String(n).padStart(8)} in ${ms.toFixed(0).padStart(6)} ms  ${Math.round((n * 1000) / ms).toString().padStart(8)} /s` +
      `  ${String(fsyncs).padStart(6)} fsyncs  ${Math.round((fsyncs * 1000) / ms).toString().padStart(6)} fsyncs/s` +
      (kib > 0 ? `  ${((n * kib) / 1024 / (ms / 1000)).toFixed(0).padStart(5)} MiB/s` : ''),
  );

async function groupCommit(): Promise<void> {
  const dir = join(root, 'group');
  const bell = new SharedDoorbell();
  const writer = SyncWriter.start(bell.words.buffer as SharedArrayBuffer);
  writer.open(1, dir);
  await untilDurable(writer, bell, writer.written);
  const blocks = Array.from({ length: 1000 }, (_, i) => block(i));
  let t0 = performance.now();
  for (let id = 1; id <= count; id++) {
    const b = blocks[id % 1000];
    writer.append(1, id, b, 0, b.length);
    if (id % BATCH === 0) {
      writer.flush();
      // A shard whose ring to the worker is full holds back; here: wait for room.
      while (writer.backlogged) await untilDurable(writer, bell, writer.durable + 1);
    }
  }
  writer.flush();
  await untilDurable(writer, bell, writer.written);
  let ms = performance.now() - t0;
  const fsyncsAfterAppend = writer.fsyncs;
  line('append, durable (sync worker, group commit)', count, ms, fsyncsAfterAppend - 1);
  const bytes = fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0);
  t0 = performance.now();
  for (let id = 1; id <= count; id++) {
    writer.ack(1, id);
    if (id % BATCH === 0) {
      writer.flush();
      while (writer.backlogged) await untilDurable(writer, bell, writer.durable + 1);
    }
  }
  writer.flush();
  await untilDurable(writer, bell, writer.written);
  ms = performance.now() - t0;
  line('ack, durable (segments deleted)', count, ms, writer.fsyncs - fsyncsAfterAppend, 0);
  const left = fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0);
  console.log(`disk: ${(bytes / 1024 / 1024).toFixed(1)} MiB after appending, ${(left / 1024 / 1024).toFixed(1)} MiB after acking all`);
  await writer.stop();
  t0 = performance.now();
  const r = recoverQueue(dir);
  console.log(`recovery of the emptied queue: ${r.messages.length} messages in ${(performance.now() - t0).toFixed(0)} ms`);
}

/** A publisher with a confirm window: each batch of `window` waits to be durable before the next. */
async function confirmWindow(n: number, window: number): Promise<void> {
  const bell = new SharedDoorbell();
  const writer = SyncWriter.start(bell.words.buffer as SharedArrayBuffer);
  writer.open(1, join(root, `window-${window}`));
  await untilDurable(writer, bell, writer.written);
  const before = writer.fsyncs;
  const b = block(0);
  const t0 = performance.now();
  for (let id = 1; id <= n; id++) {
    writer.append(1, id, b, 0, b.length);
    if (id % window === 0) {
      writer.flush();
      await untilDurable(writer, bell, writer.written);
    }
  }
  line(`append, confirm window of ${window}`, n, performance.now() - t0, writer.fsyncs - before);
  await writer.stop();
}

function fsyncEach(n: number): void {
  const writer = new InlineSyncWriter();
  writer.open(1, join(root, 'each'));
  const b = block(0);
  const t0 = performance.now();
  for (let id = 1; id <= n; id++) {
    writer.append(1, id, b, 0, b.length);
    writer.flush();
  }
  line('append, one fsync each (inline)', n, performance.now() - t0, writer.fsyncs);
}

async function recovery(n: number): Promise<void> {
  const dir = join(root, 'recover');
  const writer = new InlineSyncWriter();
  writer.open(1, dir);
  const b = block(0);
  for (let id = 1; id <= n; id++) writer.append(1, id, b, 0, b.length);
  writer.close(1);
  const t0 = performance.now();
  const r = recoverQueue(dir);
  const ms = performance.now() - t0;
  console.log(`recovery: ${r.messages.length} messages of 1 KiB in ${ms.toFixed(0)} ms (${Math.round((r.messages.length * 1000) / ms)} /s)`);
}

try {
  await groupCommit();
  await confirmWindow(Math.min(count, 50_000), 100);
  await confirmWindow(Math.min(count, 50_000), 1000);
  fsyncEach(Math.min(count, 2000));
  await recovery(count);
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
