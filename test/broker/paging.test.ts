/**
 * Durable queues longer than their in-memory window (a few MiB): the persistent
 * messages past it stay in their segment files and are read back in turn. Every
 * message is numbered; each must come once (or again, redelivered), in order,
 * through acks, requeues, rejects, restarts, purge and delete. Both modes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { join } from 'node:path';
import amqp, { type ConfirmChannel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { queueDir } from '../../dist/src/store/queue-dir.js';
import { SEGMENT_SIZE } from '../../dist/src/store/queue-store.js';
import { PAGE_WINDOW_BYTES } from '../../dist/src/shard/paged-backlog.js';
import { MODES, eventually, subscribe, uniq, within, tempDirs } from '../helpers.js';

const newDataDir = tempDirs('warren-paging-');


const bytesIn = (dir: string): number =>
  fs.existsSync(dir) ? fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0) : 0;

/** "p 17 ....." (1 KiB, persistent) or "t 17 ....." (transient): 17, or -17 for a transient one. */
const numberOf = (body: Buffer): number => {
  const match = /^([pt]) (\d+) /.exec(body.toString('latin1', 0, 32));
  if (match === null) throw new Error(`not a numbered body: ${body.toString('latin1', 0, 32)}`);
  return match[1] === 'p' ? Number(match[2]) : -Number(match[2]);
};
const body = (kind: 'p' | 't', n: number) => Buffer.from(`${kind} ${n} `.padEnd(1024, '.'));

/** Several windows' worth of 1 KiB messages. */
const COUNT = Math.ceil((3 * PAGE_WINDOW_BYTES) / 1024);

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function confirmChannel(url: string): Promise<{ ch: ConfirmChannel; close: () => Promise<void> }> {
  const conn = await amqp.connect(url, { noDelay: true });
  conn.on('error', () => {});
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  return { ch, close: () => conn.close().catch(() => {}) };
}

/** Publishes numbers from..to (every `transientEvery`th transient, when given) with confirms, in runs. */
async function publish(ch: ConfirmChannel, queue: string, from: number, to: number, transientEvery = 0): Promise<void> {
  for (let n = from; n <= to; n++) {
    const transient = transientEvery > 0 && n % transientEvery === 0;
    ch.sendToQueue(queue, body(transient ? 't' : 'p', n), { persistent: !transient });
    if (n % 2000 === 0) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
}

describe.each(MODES)('durable queues longer than memory ($name)', ({ workers }) => {
  const brokers: RunningBroker[] = [];
  const startOn = async (dataDir: string): Promise<RunningBroker> => {
    const b = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    brokers.push(b);
    return b;
  };
  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });

  it('every message comes once, in order, through acks, requeues and rejects while paging', async () => {
    const broker = await startOn(newDataDir());
    const { ch, close } = await confirmChannel(broker.url);
    const queue = uniq('paged');
    await ch.assertQueue(queue, { durable: true });
    await publish(ch, queue, 1, COUNT, 10);
    expect((await ch.checkQueue(queue)).messageCount).toBe(COUNT); // the paged-out ones count

    // Requeue each 97th the first time, reject (drop) each 101st, ack the rest.
    await ch.prefetch(300);
    const firstTimes: number[] = [];
    const acked = new Map<number, number>();
    const requeued = new Set<number>();
    const expected = range(1, COUNT).filter((n) => n % 101 !== 0);
    const done = new Promise<void>((resolve, reject) => {
      void ch.consume(queue, (m) => {
        if (m === null) return;
        const n = Math.abs(numberOf(m.content));
        if (m.fields.redelivered !== requeued.has(n)) reject(new Error(`${n}: redelivered=${m.fields.redelivered}`));
        if (!m.fields.redelivered) firstTimes.push(n);
        if (n % 97 === 0 && !m.fields.redelivered) {
          requeued.add(n);
          ch.nack(m, false, true);
        } else if (n % 101 === 0) ch.nack(m, false, false);
        else {
          ch.ack(m);
          acked.set(n, (acked.get(n) ?? 0) + 1);
          if (acked.size === expected.length) resolve();
        }
      });
    });
    await within(done, 15_000, 'every message');
    expect(firstTimes).toEqual(range(1, COUNT)); // in order, each once before any redelivery
    expect([...acked.keys()].sort((a, b) => a - b)).toEqual(expected);
    expect([...acked.values()].every((times) => times === 1)).toBe(true);
    expect((await ch.checkQueue(queue)).messageCount).toBe(0);
    await close();
  });

  it('a restart on the same data dir brings the paged queue back in order, redelivered where it was delivered', async () => {
    const dataDir = newDataDir();
    const queue = uniq('paged-restart');
    let broker = await startOn(dataDir);
    const { ch, close } = await confirmChannel(broker.url);
    await ch.assertQueue(queue, { durable: true });
    await publish(ch, queue, 1, COUNT);
    for (let n = 1; n <= 105; n++) {
      const m = await ch.get(queue, { noAck: false });
      if (m === false) throw new Error('queue ran dry');
      expect(numberOf(m.content)).toBe(n);
      if (n <= 100) ch.ack(m); // 101..105 stay unacked
    }
    await ch.checkQueue(queue); // the acks were read
    await close();
    await broker.close();

    broker = await startOn(dataDir);
    const again = await confirmChannel(broker.url);
    expect((await again.ch.checkQueue(queue)).messageCount).toBe(COUNT - 100);
    const inbox = await subscribe(again.ch, queue, { noAck: true });
    await inbox.waitFor(COUNT - 100, 15_000);
    expect(inbox.messages.map((m) => numberOf(m.content))).toEqual(range(101, COUNT));
    expect(inbox.messages.map((m) => m.fields.redelivered)).toEqual(range(101, COUNT).map((n) => n <= 105));
    await again.close();
  });

  it('a paged-out message whose time is up is dropped, not handed out, when a large message emptied the window before it', async () => {
    const dataDir = newDataDir();
    const broker = await startOn(dataDir);
    const { ch, close } = await confirmChannel(broker.url);
    const queue = uniq('paged-expiry');
    await ch.assertQueue(queue, { durable: true });
    // A quarter of the window, then most of it: the window is full, and once both are taken it is empty
    // without having fallen to half while the small one waited on disk.
    ch.sendToQueue(queue, Buffer.alloc(PAGE_WINDOW_BYTES / 4, 'a'), { persistent: true });
    ch.sendToQueue(queue, Buffer.alloc(Math.floor(PAGE_WINDOW_BYTES * 0.9), 'b'), { persistent: true });
    ch.sendToQueue(queue, Buffer.from('c'), { persistent: true, expiration: '100' });
    ch.sendToQueue(queue, Buffer.from('d'), { persistent: true });
    await ch.waitForConfirms();
    for (const fill of ['a', 'b']) {
      const m = await ch.get(queue, { noAck: true });
      expect(m && m.content.subarray(0, 1).toString()).toBe(fill);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(1));
    const next = await ch.get(queue, { noAck: true });
    expect(next && next.content.toString()).toBe('d');
    expect(await ch.get(queue, { noAck: true })).toBe(false);
    await close();
  });

  it('purge and delete of a paged queue reach its files', async () => {
    const dataDir = newDataDir();
    const broker = await startOn(dataDir);
    const { ch, close } = await confirmChannel(broker.url);
    const purged = uniq('paged-purged');
    const deleted = uniq('paged-deleted');
    for (const q of [purged, deleted]) {
      await ch.assertQueue(q, { durable: true });
      await publish(ch, q, 1, COUNT);
      expect(bytesIn(queueDir(dataDir, '/', q))).toBeGreaterThan(COUNT * 1024);
    }
    expect((await ch.purgeQueue(purged)).messageCount).toBe(COUNT);
    expect((await ch.deleteQueue(deleted)).messageCount).toBe(COUNT);
    // Purged: acked on disk, so only the segment being appended to may stay; deleted: the directory goes.
    await eventually(() => expect(bytesIn(queueDir(dataDir, '/', purged))).toBeLessThanOrEqual(SEGMENT_SIZE + 256 * 1024), 5000);
    await eventually(() => expect(fs.existsSync(queueDir(dataDir, '/', deleted))).toBe(false), 5000);
    // The purged queue goes on: new messages after the purge, and only them.
    await publish(ch, purged, COUNT + 1, COUNT + 3);
    const inbox = await subscribe(ch, purged, { noAck: true });
    await inbox.waitFor(3);
    expect(inbox.messages.map((m) => numberOf(m.content))).toEqual([COUNT + 1, COUNT + 2, COUNT + 3]);
    await close();
  });
});
