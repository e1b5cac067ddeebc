/**
 * A queue that keeps a few of the messages published beside others that are
 * consumed (a dead-letter queue, a queue nobody reads) holds those messages'
 * memory, not their neighbours'. Messages share the buffers they are copied
 * into, so without the shard's compaction (BlockArena) each kept 1 KiB message
 * held its whole buffer: the 50 MiB kept here held 391 MiB. The test's consumer
 * shares the publisher's connection, which congestion does not stop (its acks
 * could not come): the drained queue runs some 70,000 messages behind, so most
 * buffers empty long after their messages came.
 *
 * Inline (--workers 0), so that the broker process can collect its garbage and
 * count the shard's ArrayBuffers exactly; the worker shard runs the same code.
 */
import { describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { within, tempDirs } from '../helpers.js';
import { startMemoryBroker } from './memory-broker.js';

const tempDir = tempDirs('warren-kept-memory-');

const MiB = 1024 * 1024;
const SIZE = 1024;
const COUNT = 400_000;
const KEEP_EVERY = 8;
const KEPT = COUNT / KEEP_EVERY;

/** Body of message n: its number, then a filler that depends on it, so a wrong or torn copy shows. */
function body(n: number): Buffer {
  const b = Buffer.alloc(SIZE, 0x61 + (n % 26));
  b.write(`${n} `, 0, 'latin1');
  return b;
}

describe('messages kept among consumed ones (inline)', () => {
  it('hold their own memory, not their neighbours\', and come back intact', async () => {
    const broker = await startMemoryBroker(['--expose-gc'], tempDir(), 0);
    try {
      const url = `amqp://guest:guest@127.0.0.1:${broker.port}`;
      const conn = await amqp.connect(url, { noDelay: true });
      const ch = await conn.createChannel();
      await ch.assertQueue('kept', { durable: false });
      await ch.assertQueue('drained', { durable: false });
      let drained = 0;
      const allDrained = new Promise<void>((resolve) => {
        void ch.consume('drained', () => {
          if (++drained === COUNT - KEPT) resolve();
        }, { noAck: true });
      });
      const base = await broker.memory();

      const publisher = await conn.createChannel();
      for (let n = 0; n < COUNT; n++) {
        if (!publisher.sendToQueue(n % KEEP_EVERY === 0 ? 'kept' : 'drained', body(n))) await new Promise((r) => publisher.once('drain', r));
      }
      await within(allDrained, 60_000, 'the drained queue consumed');
      expect((await ch.checkQueue('kept')).messageCount).toBe(KEPT);
      const held = await broker.memory();
      // 50 MiB of kept blocks, less waste than a pass needs (16 MiB) and the process's other
      // buffers: 62-66 MiB measured; 391 MiB if each held its buffer, 317-362 MiB when the
      // passes looked only at what came since the last (what it held then was still queued).
      expect(held.arrayBuffers - base.arrayBuffers).toBeLessThan(150 * MiB);

      let next = 0;
      const wrong: string[] = [];
      const allKept = new Promise<void>((resolve) => {
        void ch.consume('kept', (m) => {
          if (m === null) return;
          if (!m.content.equals(body(next))) wrong.push(`expected message ${next}, got ${m.content.toString('latin1', 0, 12)}`);
          next += KEEP_EVERY;
          if (next === COUNT) resolve();
        }, { noAck: true });
      });
      await within(allKept, 30_000, 'every kept message');
      expect(wrong.slice(0, 5)).toEqual([]);
      await conn.close();
    } finally {
      await broker.stop();
    }
  }, 90_000);
});
