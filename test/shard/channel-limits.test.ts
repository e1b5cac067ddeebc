/** The shared table of global prefetch limits: its slots, and its places taken from several threads at once. */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ChannelLimits, LIMIT_SLOTS } from '../../src/shard/channel-limits.js';

const MODULE = new URL('../../dist/src/shard/channel-limits.js', import.meta.url).href;

/**
 * A thread that plays shards: takes places in `slot` (limit first, as they come),
 * holds each a moment and gives it back, counting in `inUse` (word 0) how many it
 * and the others hold at once, and the most they ever held (word 1). They
 * start together (word 2 counts those ready), so that their takes overlap.
 */
const SHARD = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.module).then(({ ChannelLimits }) => {
  const limits = new ChannelLimits(workerData.limits);
  const inUse = new Int32Array(workerData.inUse);
  let taken = 0;
  Atomics.add(inUse, 2, 1);
  while (Atomics.load(inUse, 2) < workerData.threads);
  for (let i = 0; i < workerData.rounds; i++) {
    if (!limits.take(workerData.slot, true)) continue;
    taken++;
    const now = Atomics.add(inUse, 0, 1) + 1;
    for (let most = Atomics.load(inUse, 1); now > most; most = Atomics.load(inUse, 1)) Atomics.compareExchange(inUse, 1, most, now);
    Atomics.sub(inUse, 0, 1);
    limits.give(workerData.slot, 1);
  }
  parentPort.postMessage(taken);
});
`;

describe('ChannelLimits', () => {
  it('hands out every slot once, none past the last, and a released one again, cleared', () => {
    const limits = new ChannelLimits();
    const slots = new Set<number>();
    for (let i = 0; i < LIMIT_SLOTS; i++) slots.add(limits.allocate());
    expect(slots.size).toBe(LIMIT_SLOTS);
    expect(limits.allocate()).toBe(-1);
    const slot = 1234;
    limits.setLimit(slot, 2);
    expect(limits.take(slot, true)).toBe(true);
    expect(limits.take(slot, true)).toBe(true);
    expect(limits.take(slot, false)).toBe(false); // full: no-ack waits too
    limits.release(slot);
    expect(limits.allocate()).toBe(slot);
    expect([limits.counted(slot), limits.hasRoom(slot)]).toEqual([0, true]);
  });

  it('raises its flag when full and answers it once there is room, however the give and the take interleave', () => {
    const limits = new ChannelLimits();
    const slot = limits.allocate();
    expect(limits.setLimit(slot, 1)).toBe(false);
    expect(limits.take(slot, true)).toBe(true);
    expect(limits.take(slot, true)).toBe(false); // flag up
    expect(limits.setLimit(slot, 1)).toBe(false); // still full: the flag stays
    expect(limits.give(slot, 1)).toBe(true); // room: the shards are to be told, once
    expect(limits.give(slot, 0)).toBe(false);
    expect(limits.take(slot, false)).toBe(true); // no-ack: room, no place taken
    expect(limits.counted(slot)).toBe(0);
    expect(limits.setLimit(slot, 0)).toBe(false); // no flag to answer
  });

  it('never lets more than the limit through to four threads taking places at once', async () => {
    const limits = new ChannelLimits();
    const slot = limits.allocate();
    const LIMIT = 3;
    limits.setLimit(slot, LIMIT);
    const inUse = new SharedArrayBuffer(12);
    const threads = Array.from({ length: 4 }, () => new Worker(SHARD, { eval: true, workerData: { module: MODULE, limits: limits.sab, inUse, slot, rounds: 300_000, threads: 4 } }));
    const taken = await Promise.all(threads.map((w) => new Promise<number>((resolve, reject) => w.once('message', resolve).once('error', reject))));
    await Promise.all(threads.map((w) => w.terminate()));
    expect(taken.reduce((a, b) => a + b)).toBeGreaterThan(0);
    expect(new Int32Array(inUse)[1]).toBeLessThanOrEqual(LIMIT);
    expect(limits.counted(slot)).toBe(0);
  });
});
