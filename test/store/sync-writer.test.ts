/** The sync worker: group commit (far fewer fsyncs than appends), durable counts, confirms released after fsync, SIGKILL. */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { SyncWriter } from '../../dist/src/store/sync-writer.js';
import { InlineSyncWriter } from '../../dist/src/store/inline-sync-writer.js';
import { ConfirmGate } from '../../dist/src/store/confirm-gate.js';
import { recoverQueue } from '../../dist/src/store/recover.js';
import { SharedDoorbell, LocalDoorbell } from '../../dist/src/shard/doorbell.js';
import { ConfirmBatch } from '../../dist/src/shard/confirm-batch.js';
import { Ring } from '../../dist/src/shard/ring.js';
import { RingWriter } from '../../dist/src/shard/ring-writer.js';
import * as R from '../../dist/src/shard/records.js';
import { bytesOnDisk, numberedBlock, numberOf, scratchQueueDirs } from './helpers.js';

const newDir = scratchQueueDirs();

/**
 * Resolves once writer.durable reaches `seq`, sleeping on the bell the worker
 * rings, and moving what overflowed into the ring on each wake, as a shard does.
 */
async function durableUpTo(writer: SyncWriter, bell: SharedDoorbell, seq: number): Promise<void> {
  while (writer.durable < seq) {
    writer.flush();
    const token = bell.arm();
    if (writer.durable >= seq) break;
    await new Promise<void>((resolve) => bell.sleep(token, resolve));
  }
  bell.disarm();
}

/** Every third message has a deadline (ms since the epoch, with a fraction: an f64 on its way), the others none. */
const deadlineOf = (id: number) => (id % 3 === 0 ? 1.8e12 + id + 0.5 : 0);

describe('SyncWriter', () => {
  it('makes 10,000 appends durable with far fewer fsyncs, then recovers all of them in order, deadlines kept', async () => {
    const dir = newDir();
    const bell = new SharedDoorbell();
    const writer = SyncWriter.start(bell.words.buffer as SharedArrayBuffer, 1024 * 1024);
    writer.open(7, dir, [], 1024 * 1024);
    let last = 0;
    for (let id = 1; id <= 10_000; id++) {
      const block = numberedBlock(id, 1024);
      last = writer.append(7, id, block, 0, block.length, deadlineOf(id));
      if (id % 50 === 0) writer.flush();
    }
    writer.flush();
    expect(last).toBe(10_001); // the OPEN, then the appends
    await durableUpTo(writer, bell, last);
    expect(writer.durable).toBe(10_001);
    expect(writer.failed).toBe(false);
    // At most one fsync per flush (200) plus one per segment (~11 MiB of 1 MiB segments).
    expect(writer.fsyncs).toBeGreaterThan(0);
    expect(writer.fsyncs).toBeLessThan(10_000 / 20);
    console.log(`10,000 appends made durable with ${writer.fsyncs} fsyncs`);
    await writer.stop();
    const r = recoverQueue(dir);
    expect(r.warnings).toEqual([]);
    expect(r.messages.map((m) => numberOf(m.block))).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    expect(r.messages.map((m) => m.expiresAt)).toEqual(Array.from({ length: 10_000 }, (_, i) => deadlineOf(i + 1)));
    expect(r.timed).toBe(true);
  });

  it('wakes the worker as a batch\'s appends add up, before the batch ends (its flush): the disk starts on the first of them', async () => {
    const dir = newDir();
    const bell = new SharedDoorbell();
    const writer = SyncWriter.start(bell.words.buffer as SharedArrayBuffer, 1024 * 1024);
    writer.open(3, dir, [], 1024 * 1024);
    writer.flush();
    await durableUpTo(writer, bell, 1);
    // 400 KiB of appends and no flush, as in one shard batch that is still going on.
    let last = 0;
    for (let id = 1; id <= 400; id++) {
      const block = numberedBlock(id, 1024);
      last = writer.append(3, id, block, 0, block.length);
    }
    const deadline = Date.now() + 10_000;
    while (writer.durable < 300 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    // Three wake-ups of about 128 KiB each; what came after the last one waits for the batch's flush.
    expect(writer.durable).toBeGreaterThanOrEqual(300);
    expect(writer.durable).toBeLessThan(last);
    writer.flush();
    await durableUpTo(writer, bell, last);
    await writer.stop();
    expect(recoverQueue(dir).messages.map((m) => numberOf(m.block))).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
  });

  it('stores each block byte for byte, whatever its size and where in shared memory it is copied from (the pad that places it)', async () => {
    const dir = newDir();
    const bell = new SharedDoorbell();
    const writer = SyncWriter.start(bell.words.buffer as SharedArrayBuffer, 1024 * 1024);
    writer.open(3, dir, [], 1024 * 1024);
    const source = Buffer.from(new SharedArrayBuffer(64 * 1024)); // a shard copies out of its input ring
    const blocks: Buffer[] = [];
    let last = 0;
    for (const size of [100, 255, 256, 257, 1000, 4099, 40_000]) {
      for (let offset = 0; offset < 8; offset++) {
        const block = numberedBlock(blocks.length + 1, size);
        block.copy(source, offset);
        blocks.push(block);
        last = writer.append(3, blocks.length, source, offset, offset + block.length);
      }
      writer.flush();
    }
    await durableUpTo(writer, bell, last);
    await writer.stop();
    const r = recoverQueue(dir);
    expect(r.warnings).toEqual([]);
    expect(r.messages.length).toBe(blocks.length);
    r.messages.forEach((m, i) => expect(m.block.equals(blocks[i])).toBe(true));
  });

  it('applies acks, delivery marks and deletes in order, holds back what does not fit in its ring, and reports disk bytes', async () => {
    const dir = newDir();
    const other = newDir();
    const bell = new SharedDoorbell();
    const writer = SyncWriter.start(bell.words.buffer as SharedArrayBuffer, 64 * 1024); // far smaller than what is written
    writer.open(1, dir, [], 32 * 1024);
    writer.open(2, other);
    for (let id = 1; id <= 500; id++) {
      const block = numberedBlock(id, 500);
      writer.append(1, id, block, 0, block.length);
      writer.append(2, id, block, 0, block.length);
      if (id % 2 === 0) writer.ack(1, id);
      if (id % 3 === 0) writer.delivered(1, id);
    }
    expect(writer.backlogged).toBe(true);
    await durableUpTo(writer, bell, writer.written);
    const both = writer.diskBytes;
    expect(both).toBeGreaterThan(2 * 500 * 500);
    writer.destroy(2);
    for (let id = 1; id <= 500; id += 2) if (id > 100) writer.ack(1, id);
    await durableUpTo(writer, bell, writer.written);
    // Queue 2 is gone, and queue 1's segments past message 100 were all acked.
    expect(writer.diskBytes).toBeLessThan(both / 2 - 150 * 500);
    expect(writer.diskBytes).toBeGreaterThanOrEqual(bytesOnDisk(dir));
    expect(writer.diskBytes).toBeLessThan(bytesOnDisk(dir) + 1024);
    await writer.stop();
    expect(fs.existsSync(other)).toBe(false);
    const r = recoverQueue(dir);
    const odd = Array.from({ length: 50 }, (_, i) => 2 * i + 1);
    expect(r.messages.map((m) => numberOf(m.block))).toEqual(odd);
    expect(r.messages.filter((m) => m.delivered).map((m) => m.id)).toEqual(odd.filter((n) => n % 3 === 0));
  });

  it('reports a disk failure: FAILED is set and nothing more becomes durable', async () => {
    const root = join(newDir(), '..'); // a scratch directory, removed afterwards
    fs.writeFileSync(join(root, 'file'), 'not a directory');
    const bell = new SharedDoorbell();
    const writer = SyncWriter.start(bell.words.buffer as SharedArrayBuffer, 64 * 1024);
    writer.open(1, join(root, 'file', 'q')); // mkdir fails: ENOTDIR
    writer.flush();
    while (!writer.failed) {
      const token = bell.arm();
      if (writer.failed) break;
      await new Promise<void>((resolve) => bell.sleep(token, resolve));
    }
    bell.disarm();
    expect(writer.durable).toBe(0);
  });

  it('survives SIGKILL: every message reported durable comes back, once, in order', async () => {
    const dir = newDir();
    const child = spawn(process.execPath, [new URL('../fixtures/store-append-child.mjs', import.meta.url).pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let reported = 0;
    let text = '';
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.once('exit', () => reject(new Error(`the child ended by itself: ${text.slice(-200)}`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const lines = text.split('\n');
        text = lines.pop()!;
        for (const line of lines) reported = Math.max(reported, Number(/^durable (\d+)$/.exec(line)![1]));
        // Mid-stream: well past the first segments, with the writer still going.
        if (reported >= 5000) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await exited;
    const r = recoverQueue(dir);
    const ids = r.messages.map((m) => m.id);
    console.log(`killed after ${reported} reported durable; recovered ${ids.length}; warnings: ${r.warnings.join(' | ') || 'none'}`);
    expect(ids.length).toBeGreaterThanOrEqual(reported);
    ids.forEach((id, i) => expect(id).toBe(i + 1)); // in order, no duplicates, no holes
    expect(r.messages.every((m) => numberOf(m.block) === m.id)).toBe(true);
    expect(r.warnings.length).toBeLessThanOrEqual(1); // at most a torn tail
  }, 60_000);
});

describe('InlineSyncWriter', () => {
  it('is durable after flush, in the calling thread', () => {
    const dir = newDir();
    const writer = new InlineSyncWriter();
    writer.open(1, dir);
    for (let id = 1; id <= 100; id++) {
      const block = numberedBlock(id);
      writer.append(1, id, block, 0, block.length);
    }
    writer.ack(1, 50);
    expect(writer.durable).toBe(0);
    writer.flush();
    expect(writer.durable).toBe(writer.written);
    expect(writer.fsyncs).toBe(3); // the new segment's directory entry, the segment and its ack file
    expect(writer.diskBytes).toBe(bytesOnDisk(dir));
    writer.close(1);
    expect(writer.diskBytes).toBe(0); // no queue open
    expect(recoverQueue(dir).messages.map((m) => m.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1).filter((n) => n !== 50));
  });
});

describe('ConfirmGate', () => {
  /** The CONFIRM record a batch writes, as [channelRef, stored, refused] triples. */
  function confirmRecord(batch: ConfirmBatch): number[][] {
    const ring = Ring.allocate(4096);
    batch.write(new RingWriter(ring, new LocalDoorbell()));
    ring.publish(); // what the writer committed (its flush() would publish it)
    const at = ring.peek();
    if (at < 0) return [];
    expect(ring.data[at]).toBe(R.S2A_CONFIRM);
    const entries: number[][] = [];
    for (let i = 0, p = at + R.CONFIRM_HEADER; i < ring.data.readUInt32LE(at + 1); i++, p += R.CONFIRM_ENTRY) {
      entries.push([ring.data.readUInt32LE(p), ring.data.readUInt32LE(p + 4), ring.data.readUInt32LE(p + 8)]);
    }
    return entries;
  }

  it('confirms a persistent publish only once durable, and holds the same channel\'s later ones behind it', () => {
    const gate = new ConfirmGate();
    const batch = new ConfirmBatch();
    gate.stored(1, 0, 0, batch); // channel 1: transient, nothing waits: at once
    gate.stored(1, 5, 0, batch); // channel 1: persistent, append seq 5
    gate.stored(1, 0, 0, batch); // channel 1: transient, behind it
    gate.stored(2, 0, 0, batch); // channel 2: not held by channel 1
    gate.release(0, batch);
    expect(confirmRecord(batch)).toEqual([
      [1, 1, 0],
      [2, 1, 0],
    ]);
    expect(gate.size).toBe(2);
    gate.release(4, batch);
    expect(confirmRecord(batch)).toEqual([]);
    gate.release(5, batch);
    expect(confirmRecord(batch)).toEqual([[1, 2, 0]]);
    expect(gate.size).toBe(0);
    gate.stored(3, 9, 5, batch);
    gate.refuseAll(batch);
    expect(confirmRecord(batch)).toEqual([[3, 0, 1]]);
  });
});
