/**
 * Persistent messages (delivery-mode 2) in durable queues survive a restart and
 * a SIGKILL, and a publisher confirm for one means it is on disk (fsync).
 * Every broker here has its own fresh data dir; every message is numbered.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import fs from 'node:fs';
import { join } from 'node:path';
import amqp, { type Channel, type ConfirmChannel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { queueDir } from '../../dist/src/store/queue-dir.js';
import { SEGMENT_SIZE } from '../../dist/src/store/queue-store.js';
import { MODES, brokerProcess, connect, sleep, subscribe, uniq, within, tempDirs } from '../helpers.js';
import { txMethod } from '../wire/amqplib-codec.js';

const newDataDir = tempDirs('warren-data-');


/** Sum of the sizes of the files in a directory (0 when it is gone). */
function bytesIn(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0);
}

/** "p 17" -> 17 for a persistent one; "t 17" is transient. */
const numberOf = (body: Buffer, kind = 'p'): number => {
  const match = /^(\w) (\d+)$/.exec(body.toString());
  if (match === null) throw new Error(`not a numbered body: ${body.toString()}`);
  return match[1] === kind ? Number(match[2]) : -Number(match[2]);
};

async function confirmChannel(url: string): Promise<{ ch: ConfirmChannel; close: () => Promise<void> }> {
  // noDelay: a get followed by an ack would otherwise wait on Nagle and delayed ACKs (~40 ms each)
  const conn = await amqp.connect(url, { noDelay: true });
  conn.on('error', () => {});
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  return { ch, close: () => conn.close().catch(() => {}) };
}

/** Consumes (no-ack) until `queue` has been quiet for a while; returns what came. */
async function drain(ch: Channel, queue: string, expected: number): Promise<{ numbers: number[]; redelivered: boolean[] }> {
  const inbox = await subscribe(ch, queue, { noAck: true });
  if (expected > 0) await inbox.waitFor(expected, 10_000);
  await sleep(200); // anything beyond what was expected would arrive now
  return { numbers: inbox.messages.map((m) => numberOf(m.content)), redelivered: inbox.messages.map((m) => m.fields.redelivered) };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(MODES)('persistent messages ($name)', ({ workers }) => {
  const brokers: RunningBroker[] = [];
  const startOn = async (dataDir: string): Promise<RunningBroker> => {
    const b = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    brokers.push(b);
    return b;
  };
  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
    vi.restoreAllMocks();
  });
  /** A broker started on `dataDir` after a kill: what its durable `queue` holds, drained. */
  const recovered = async (dataDir: string, queue: string): Promise<{ count: number; numbers: number[]; redelivered: boolean[] }> => {
    const conn = await connect((await startOn(dataDir)).url);
    const ch = await conn.createChannel();
    const { messageCount } = await ch.assertQueue(queue, { durable: true });
    const drained = await drain(ch, queue, messageCount);
    await conn.close();
    return { count: messageCount, ...drained };
  };

  it('a restart brings back exactly the unacked persistent messages of a durable queue, in order', async () => {
    const dataDir = newDataDir();
    const queue = uniq('durable');
    const transientQueue = uniq('transient');
    let broker = await startOn(dataDir);
    const { ch } = await confirmChannel(broker.url);
    await ch.assertQueue(queue, { durable: true });
    await ch.assertQueue(transientQueue, { durable: false });
    for (let i = 1; i <= 1000; i++) {
      ch.sendToQueue(queue, Buffer.from(`p ${i}`), { persistent: true });
      ch.sendToQueue(queue, Buffer.from(`t ${i}`), { persistent: false });
      if (i <= 100) ch.sendToQueue(transientQueue, Buffer.from(`p ${i}`), { persistent: true });
    }
    await ch.waitForConfirms();
    // Take and ack the first 100 persistent ones (and the transient ones between them) ...
    const seen: number[] = [];
    while (seen.filter((n) => n > 0).length < 100) {
      const m = await ch.get(queue, { noAck: false });
      if (m === false) throw new Error('queue ran dry');
      seen.push(numberOf(m.content));
      ch.ack(m);
    }
    // ... then take 10 more persistent ones and never ack them.
    let held = 0;
    while (held < 10) {
      const m = await ch.get(queue, { noAck: false });
      if (m === false) throw new Error('queue ran dry');
      seen.push(numberOf(m.content));
      if (numberOf(m.content) > 0) held++;
    }
    expect(seen.filter((n) => n > 0)).toEqual(range(1, 110));
    await ch.checkQueue(queue); // a round trip: the acks were read before the broker closes
    await broker.close();

    broker = await startOn(dataDir);
    const conn = await connect(broker.url);
    const ch2 = await conn.createChannel();
    // Passive: the queue came back from the definitions, with its messages from its segments.
    const ok = await ch2.checkQueue(queue);
    expect(ok.messageCount).toBe(900);
    const { numbers, redelivered } = await drain(ch2, queue, 900);
    expect(numbers).toEqual(range(101, 1000)); // no transient ones, no duplicates, in order
    expect(redelivered).toEqual(range(101, 1000).map((n) => n <= 110));
    // A non-durable queue keeps nothing: declared again, it is empty.
    expect((await ch2.assertQueue(transientQueue, { durable: false })).messageCount).toBe(0);
    await conn.close();
  });

  it('bodies of every size about the 256 bytes from which records place them, and up to 5,000, come back byte for byte: delivered, got, and after a restart', async () => {
    const dataDir = newDataDir();
    const queue = uniq('sizes');
    const sizes = [...range(0, 40), ...range(240, 280), ...range(1016, 1032), ...range(0, 50).map((i) => 281 + i * 97)];
    // each body says its number, then bytes that depend on the number and the position
    const bodyOf = (n: number): Buffer => {
      const b = Buffer.alloc(Math.max(sizes[n], 6));
      b.write(`p ${n}`.padEnd(6), 'latin1');
      for (let i = 6; i < b.length; i++) b[i] = (n * 31 + i * 7) & 0xff;
      return b;
    };
    let broker = await startOn(dataDir);
    const { ch } = await confirmChannel(broker.url);
    await ch.assertQueue(queue, { durable: true });
    const publishAll = async () => {
      for (let n = 0; n < sizes.length; n++) ch.sendToQueue(queue, bodyOf(n), { persistent: true });
      await ch.waitForConfirms();
    };
    // once through a consumer, once through basic.get: every body exact, in order
    await publishAll();
    const inbox = await subscribe(ch, queue, { noAck: true });
    await inbox.waitFor(sizes.length, 10_000);
    await ch.cancel(inbox.consumerTag);
    expect(inbox.messages.map((m, n) => m.content.equals(bodyOf(n)))).toEqual(sizes.map(() => true));
    await publishAll();
    for (let n = 0; n < sizes.length; n++) {
      const m = await ch.get(queue, { noAck: true });
      expect(m !== false && m.content.equals(bodyOf(n)), `basic.get of body ${n} (${sizes[n]} bytes)`).toBe(true);
    }
    // and from the disk
    await publishAll();
    await broker.close();
    broker = await startOn(dataDir);
    const conn = await connect(broker.url);
    const ch2 = await conn.createChannel();
    const again = await subscribe(ch2, queue, { noAck: true });
    await again.waitFor(sizes.length, 10_000);
    expect(again.messages.map((m, n) => m.content.equals(bodyOf(n)))).toEqual(sizes.map(() => true));
    await conn.close();
  });

  it('a publisher confirm means the message is on disk: SIGKILL mid-stream loses no confirmed one', async () => {
    const dataDir = newDataDir();
    const queue = uniq('killed');
    const { child, exited, port: listening } = brokerProcess(dataDir, workers);
    const sent = 20_000;
    const killAt = 5_000;
    /** the highest publish the broker confirmed: acks come in order, so all up to it */
    let confirmed = 0;
    try {
      const port = await listening;
      const { ch } = await confirmChannel(`amqp://guest:guest@127.0.0.1:${port}`);
      await ch.assertQueue(queue, { durable: true });
      // Publishes keep coming while the broker dies, right after its 5,000th confirm.
      const killed = new Promise<void>((resolve) => {
        for (let i = 1; i <= sent; i++) {
          ch.sendToQueue(queue, Buffer.from(`p ${i}`), { persistent: true }, (err: unknown) => {
            if (err !== null && err !== undefined) return;
            confirmed = Math.max(confirmed, i);
            if (confirmed >= killAt && child.exitCode === null) {
              child.kill('SIGKILL');
              resolve();
            }
          });
        }
      });
      await within(killed, 20_000, `${killAt} confirms`);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }

    const { count, numbers, redelivered } = await recovered(dataDir, queue);
    expect(count).toBeGreaterThanOrEqual(confirmed);
    // Every confirmed one, in order, once; of the others a run with no gap, or none.
    expect(numbers.length).toBeGreaterThanOrEqual(confirmed);
    expect(numbers).toEqual(range(1, numbers.length));
    expect(redelivered.every((r) => !r)).toBe(true);
  });

  it('tx.commit-ok means the committed persistent messages are on disk: SIGKILL right after it loses none, keeps no uncommitted one', async () => {
    const dataDir = newDataDir();
    const queue = uniq('tx-killed');
    const { child, exited, port: listening } = brokerProcess(dataDir, workers);
    const batch = 400;
    const commits = 5;
    try {
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${await listening}`, { noDelay: true });
      conn.on('error', () => {});
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.assertQueue(queue, { durable: true });
      await txMethod(ch, 'TxSelect');
      for (let c = 0; c < commits; c++) {
        for (let i = 1; i <= batch; i++) ch.sendToQueue(queue, Buffer.from(`p ${c * batch + i}`), { persistent: true });
        await txMethod(ch, 'TxCommit');
      }
      // Killed at once after the last commit-ok, with more publishes waiting for a commit that never comes.
      for (let i = 1; i <= batch; i++) ch.sendToQueue(queue, Buffer.from(`p ${commits * batch + i}`), { persistent: true });
      child.kill('SIGKILL');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const { count, numbers } = await recovered(dataDir, queue);
    expect(count).toBe(commits * batch);
    expect(numbers).toEqual(range(1, commits * batch));
  });

  it('purge and delete reach the disk: nothing of a purged or deleted queue comes back', async () => {
    const dataDir = newDataDir();
    const purged = uniq('purged');
    const deleted = uniq('deleted');
    let broker = await startOn(dataDir);
    const { ch } = await confirmChannel(broker.url);
    for (const q of [purged, deleted]) {
      await ch.assertQueue(q, { durable: true });
      for (let i = 1; i <= 100; i++) ch.sendToQueue(q, Buffer.from(`p ${i}`), { persistent: true });
    }
    await ch.waitForConfirms();
    expect((await ch.purgeQueue(purged)).messageCount).toBe(100);
    expect((await ch.deleteQueue(deleted)).messageCount).toBe(100);
    // Declared again at once, the deleted queue starts empty and takes new messages.
    await ch.assertQueue(deleted, { durable: true });
    ch.sendToQueue(deleted, Buffer.from('p 101'), { persistent: true });
    await ch.waitForConfirms();
    await broker.close();

    broker = await startOn(dataDir);
    const conn = await connect(broker.url);
    const ch2 = await conn.createChannel();
    expect((await ch2.assertQueue(purged, { durable: true })).messageCount).toBe(0);
    expect((await ch2.assertQueue(deleted, { durable: true })).messageCount).toBe(1);
    expect((await drain(ch2, deleted, 1)).numbers).toEqual([101]);
    await conn.close();
  });

  it('disk use falls when the messages are acked: at most about one segment is left', async () => {
    const dataDir = newDataDir();
    const queue = uniq('drained');
    const broker = await startOn(dataDir);
    const { ch } = await confirmChannel(broker.url);
    await ch.assertQueue(queue, { durable: true });
    const count = 20_000;
    for (let i = 1; i <= count; i++) {
      ch.sendToQueue(queue, Buffer.from(`p ${i} `.padEnd(1024, '.')), { persistent: true });
      if (i % 2000 === 0) await ch.waitForConfirms();
    }
    const dir = queueDir(dataDir, '/', queue);
    expect(bytesIn(dir)).toBeGreaterThan(count * 1024); // all of them on disk once confirmed

    await ch.prefetch(500);
    let next = 1;
    const done = new Promise<void>((resolve, reject) => {
      void ch.consume(queue, (m) => {
        if (m === null) return;
        const n = Number(/^p (\d+) /.exec(m.content.toString())![1]);
        if (n !== next) reject(new Error(`got ${n}, expected ${next}`));
        next++;
        ch.ack(m);
        if (n === count) resolve();
      });
    });
    await within(done, 20_000, 'every message consumed');
    await ch.checkQueue(queue); // the acks were read
    // The acks are written within a shard batch or two; full segments then go.
    let bytes = bytesIn(dir);
    for (let i = 0; i < 50 && bytes > SEGMENT_SIZE + 256 * 1024; i++) {
      await sleep(100);
      bytes = bytesIn(dir);
    }
    expect(bytes).toBeLessThanOrEqual(SEGMENT_SIZE + 256 * 1024);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).length).toBeLessThanOrEqual(1);
  });

  it('a message requeued again and again is marked delivered on disk once: its ack file does not grow with every redelivery', async () => {
    const dataDir = newDataDir();
    const queue = uniq('poison');
    let broker = await startOn(dataDir);
    const { ch, close } = await confirmChannel(broker.url);
    await ch.assertQueue(queue, { durable: true });
    ch.sendToQueue(queue, Buffer.from('p 1'), { persistent: true });
    ch.sendToQueue(queue, Buffer.from('p 2'), { persistent: true });
    await ch.waitForConfirms();
    const dir = queueDir(dataDir, '/', queue);
    const ackBytes = () => fs.readdirSync(dir).filter((f) => f.endsWith('.ack')).reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0);
    // Consumed, rejected with requeue, 300 times over; the second message once, held.
    const seen: string[] = [];
    for (let i = 0; i < 300; i++) {
      const m = await ch.get(queue, { noAck: false });
      if (m === false) throw new Error('queue ran dry');
      seen.push(`${m.content} ${m.fields.redelivered}`);
      if (i === 0) {
        const second = await ch.get(queue, { noAck: false });
        expect(second && second.content.toString()).toBe('p 2');
      }
      ch.reject(m, true);
    }
    expect(seen).toEqual(['p 1 false', ...Array.from({ length: 299 }, () => 'p 1 true')]);
    await ch.checkQueue(queue); // the rejects were read
    await sleep(200); // the marks' batch is written
    // Two DELIVERED records of one id each (17 bytes apiece) at most, not one per delivery.
    expect(ackBytes()).toBeGreaterThan(0);
    expect(ackBytes()).toBeLessThanOrEqual(4 * 17);
    await close();
    await broker.close();
    broker = await startOn(dataDir);
    const conn = await connect(broker.url);
    const ch2 = await conn.createChannel();
    expect((await ch2.checkQueue(queue)).messageCount).toBe(2);
    const { numbers, redelivered } = await drain(ch2, queue, 2);
    expect(numbers).toEqual([1, 2]);
    expect(redelivered).toEqual([true, true]);
    await conn.close();
  });

  it('a torn tail: all but the cut message come back, and the log says what was cut', async () => {
    const dataDir = newDataDir();
    const queue = uniq('torn');
    let broker = await startOn(dataDir);
    const { ch } = await confirmChannel(broker.url);
    await ch.assertQueue(queue, { durable: true });
    for (let i = 1; i <= 50; i++) ch.sendToQueue(queue, Buffer.from(`p ${i}`), { persistent: true });
    await ch.waitForConfirms();
    await broker.close();

    const dir = queueDir(dataDir, '/', queue);
    const last = fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).sort().pop()!;
    const path = join(dir, last);
    fs.truncateSync(path, fs.statSync(path).size - 5);

    // Inline the shard logs through this thread's console; a worker's stderr reaches this process's.
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void logged.push(args.join(' ')));
    const write = process.stderr.write.bind(process.stderr);
    vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: any, ...rest: any[]) => {
      logged.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stderr.write);
    broker = await startOn(dataDir);
    const conn = await connect(broker.url);
    const ch2 = await conn.createChannel();
    expect((await ch2.assertQueue(queue, { durable: true })).messageCount).toBe(49);
    const { numbers } = await drain(ch2, queue, 49);
    expect(numbers).toEqual(range(1, 49));
    for (let i = 0; i < 20 && !logged.some((l) => l.includes('cut off')); i++) await sleep(50);
    const warning = logged.find((l) => l.includes('cut off'));
    expect(warning).toContain(`queue '${queue}'`);
    expect(warning).toContain(last);
    await conn.close();
  });
});
