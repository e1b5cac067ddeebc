/**
 * The point of paging: a durable queue holding far more persistent messages
 * than the broker's memory. A broker in its own process with a 128 MiB V8 heap
 * takes 320 MiB of numbered persistent messages while its resident set grows
 * by far less than that, and delivers every one, in order. Both modes; a
 * classic queue, and a stream (read from its first offset, and kept).
 */
import { describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { MODES, within, tempDirs } from '../helpers.js';
import { startMemoryBroker, type Memory } from './memory-broker.js';

const tempDir = tempDirs('warren-paging-memory-');

const MiB = 1024 * 1024;
const SIZE = 16 * 1024;
const COUNT = 20_480; // 320 MiB
/** messages published before the resident set is measured as the base: code, heaps, rings, buffers warmed up */
const WARM = 2048;
/**
 * How much the resident set may grow past the base while the queue takes the
 * other 288 MiB (and while it is consumed): half of that. Holding them would
 * take all of it; paged, it grows by some tens of MiB (allocator and GC slack).
 */
const GROWTH = 144 * MiB;

const TYPES = [
  { type: 'classic', args: {}, consume: {}, left: 0 },
  { type: 'stream', args: { 'x-queue-type': 'stream' }, consume: { 'x-stream-offset': 'first' }, left: COUNT },
];

describe.each(MODES)('a queue longer than memory ($name)', ({ workers }) => {
  it.each(TYPES)('a broker with a 128 MiB heap holds 320 MiB of persistent messages in a $type queue without holding them in memory, and delivers them all', async ({ args, consume, left }) => {
    const broker = await startMemoryBroker(['--max-old-space-size=128'], tempDir(), workers, MiB);
    const { port, memory } = broker;
    try {
      let base: Memory | undefined;
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`, { noDelay: true });
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('long', { durable: true, arguments: args });
      const body = Buffer.alloc(SIZE, 0x2e);
      for (let n = 1; n <= COUNT; n++) {
        body.write(`${n} `, 0, 'latin1');
        ch.sendToQueue('long', body, { persistent: true });
        if (n % 512 === 0) await ch.waitForConfirms();
        if (n === WARM) base = await memory();
      }
      await ch.waitForConfirms();
      expect((await ch.checkQueue('long')).messageCount).toBe(COUNT);
      const held = await memory();
      expect(held.peakRss - base!.rss).toBeLessThan(GROWTH);
      expect(held.heapUsed).toBeLessThan(64 * MiB);

      await ch.prefetch(200);
      let next = 1;
      const done = new Promise<void>((resolve, reject) => {
        void ch.consume('long', (m) => {
          if (m === null) return;
          const n = Number(m.content.toString('latin1', 0, 8).split(' ')[0]);
          if (n !== next) reject(new Error(`got ${n}, expected ${next}`));
          next++;
          if (n % 100 === 0 || n === COUNT) ch.ack(m, true);
          if (n === COUNT) resolve();
        }, { arguments: consume });
      });
      await within(done, 30_000, 'every message');
      expect((await ch.checkQueue('long')).messageCount).toBe(left);
      expect((await memory()).peakRss - base!.rss).toBeLessThan(GROWTH);
      await conn.close();
    } finally {
      await broker.stop();
    }
  }, 60_000);

  it('many consumers stalled on a long stream hold neither what they read ahead nor the chunks they have unacked', async () => {
    const broker = await startMemoryBroker([], tempDir(), workers, MiB);
    const { port, memory } = broker;
    try {
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`, { noDelay: true });
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('long', { durable: true, arguments: { 'x-queue-type': 'stream' } });
      const body = Buffer.alloc(SIZE, 0x2e);
      // 64 MiB in chunks of 16 messages (256 KiB): the oldest leave memory
      for (let n = 1; n <= 4096; n++) {
        body.write(`${n} `, 0, 'latin1');
        ch.sendToQueue('long', body, { persistent: true });
        if (n % 16 === 0) await ch.waitForConfirms();
      }
      const base = await memory();
      // 200 consumers from the first offset, prefetch 1, no acks: each takes the first chunk whole, then waits
      const readers = await conn.createChannel();
      await readers.prefetch(1);
      const got: number[][] = [];
      for (let i = 0; i < 200; i++) {
        const mine: number[] = [];
        got.push(mine);
        await readers.consume('long', (m) => {
          if (m !== null) mine.push(Number(m.content.toString('latin1', 0, 8).split(' ')[0]));
        }, { arguments: { 'x-stream-offset': 'first' } });
      }
      await within((async () => {
        while (got.some((mine) => mine.length === 0)) await new Promise((r) => setTimeout(r, 50));
      })(), 20_000, 'a chunk for each consumer');
      await new Promise((r) => setTimeout(r, 300));
      // (each would hold a 1 MiB read and its copy of the chunk: 250 MiB)
      const held = await memory();
      expect(held.peakRss - base.rss).toBeLessThan(96 * MiB);
      // each got one whole chunk from the first message, in order
      for (const mine of got) expect(mine).toEqual(got[0]);
      expect(got[0][0]).toBe(1);
      expect(got[0]).toEqual(got[0].map((_, i) => i + 1));
      await conn.close();
    } finally {
      await broker.stop();
    }
  }, 60_000);
});
