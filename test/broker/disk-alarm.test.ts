/**
 * RabbitMQ's free disk space alarm (disk_free_limit): with a data dir, while
 * its filesystem has less free than the limit, publishers get
 * connection.blocked ("low on disk") at their next publish and are not read;
 * consumers go on; the management API and /metrics show the alarm; when it
 * clears they get connection.unblocked and every held message arrives. The
 * blocked reasons and the health checks' 503 bodies are RabbitMQ 3.10.8's, as
 * read from one beside warren (rabbitmqctl set_disk_free_limit 1000GB).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { diskFreeLimitBytes } from '../../dist/src/acceptor/disk-free.js';
import { MODES, channel, confirmChannel, connect, eventually, nextEvent, sleep, tempDirs, uniq, within } from '../helpers.js';
import { basic } from '../management/support.js';

const newDataDir = tempDirs('warren-disk-alarm-');
/** Far above any disk here: the alarm is on from the start. */
const PETABYTE = 1e15;

async function api(broker: RunningBroker, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${broker.managementPort}${path}`, { headers: { authorization: basic('guest', 'guest') } });
  const text = await res.text();
  return { status: res.status, body: path === '/metrics' ? text : JSON.parse(text) };
}

/** `count` numbered persistent messages into `queue`, without waiting for anything. */
function publishNumbered(conn: ChannelModel, queue: string, count: number): Promise<void> {
  return channel(conn).then((ch) => {
    for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.from(String(i)), { persistent: true });
  });
}

describe.each(MODES)('disk alarm, $name', ({ workers }) => {
  it('blocks publishers below the limit, lets consumers go on, shows it in the API, and delivers every held message once it clears', { timeout: 30_000 }, async () => {
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir: newDataDir(), diskFreeLimit: PETABYTE, managementPort: 0 });
    try {
      const queue = uniq('disk-alarm');
      const consumerConn = await connect(broker.url);
      const consumerCh = await channel(consumerConn);
      await consumerCh.assertQueue(queue, { durable: true });
      await consumerCh.prefetch(50);

      // The management API looks at the disk whether anyone publishes or not, as RabbitMQ does.
      const health = await api(broker, '/api/health/checks/alarms');
      expect(health).toEqual({ status: 503, body: { status: 'failed', reason: 'There are alarms in effect in the cluster', alarms: [{ node: expect.any(String), resource: 'disk space' }] } });
      expect(await api(broker, '/api/health/checks/local-alarms')).toMatchObject({ status: 503, body: { reason: 'There are alarms in effect on the node' } });
      const node = (await api(broker, '/api/nodes')).body[0];
      expect(node).toMatchObject({ disk_free_alarm: true, disk_free_limit: PETABYTE, mem_alarm: false });
      expect(node.disk_free).toBeGreaterThan(0);
      expect(node.disk_free).toBeLessThan(PETABYTE);
      const metrics = (await api(broker, '/metrics')).body;
      expect(metrics).toMatch(/^rabbitmq_alarms_free_disk_space_watermark 1$/m);
      expect(metrics).toMatch(/^rabbitmq_disk_space_available_limit_bytes 1000000000000000$/m);
      expect(Number(/^rabbitmq_disk_space_available_bytes (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);

      const publisher = await connect(broker.url);
      const blocked = nextEvent<string>(publisher, 'blocked');
      const unblocked = nextEvent(publisher, 'unblocked', 10_000);
      const count = 300;
      await publishNumbered(publisher, queue, count);
      expect(await blocked).toBe('low on disk');

      // Held, not routed: nothing reaches the queue while the alarm lasts.
      const got: number[] = [];
      const redelivered: number[] = [];
      await consumerCh.consume(queue, (msg) => {
        if (msg === null) return;
        got.push(Number(msg.content.toString()));
        if (msg.fields.redelivered) redelivered.push(Number(msg.content.toString()));
        consumerCh.ack(msg);
      });
      await sleep(500);
      expect(got).toEqual([]);
      expect((await consumerCh.checkQueue(queue)).messageCount).toBe(0);

      broker.broker.setDiskFreeLimit('1MB');
      await unblocked;
      await eventually(() => expect(got.length).toBe(count), 10_000);
      expect(got).toEqual(Array.from({ length: count }, (_, i) => i));
      expect(redelivered).toEqual([]);
      expect(await api(broker, '/api/health/checks/alarms')).toEqual({ status: 200, body: { status: 'ok' } });
      expect((await api(broker, '/api/nodes')).body[0]).toMatchObject({ disk_free_alarm: false, disk_free_limit: 1e6 });
      await publisher.close();
      await consumerConn.close();
    } finally {
      await broker.close();
    }
  });

  it('names both alarms when memory is low too, as RabbitMQ does', async () => {
    // A watermark below what the broker holds at start: the memory alarm is on as well.
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir: newDataDir(), diskFreeLimit: PETABYTE, memoryHighWatermark: 1024 * 1024 });
    try {
      const publisher = await connect(broker.url);
      const blocked = nextEvent<string>(publisher, 'blocked');
      await publishNumbered(publisher, 'nowhere', 1);
      expect(await blocked).toBe('low on disk & memory');
    } finally {
      await broker.close();
    }
  });

  it('in memory nothing is written: no disk alarm, whatever the limit', async () => {
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers, diskFreeLimit: PETABYTE, managementPort: 0 });
    try {
      const conn = await connect(broker.url);
      let blocked = false;
      conn.on('blocked', () => (blocked = true));
      const ch = await confirmChannel(conn);
      const queue = uniq('no-disk');
      await ch.assertQueue(queue, { durable: true });
      for (let i = 0; i < 100; i++) ch.sendToQueue(queue, Buffer.from(String(i)), { persistent: true });
      await ch.waitForConfirms();
      expect(blocked).toBe(false);
      expect((await ch.checkQueue(queue)).messageCount).toBe(100);
      const node = (await api(broker, '/api/nodes')).body[0];
      expect(node).toMatchObject({ disk_free_alarm: false, disk_free_limit: PETABYTE });
      expect(node).not.toHaveProperty('disk_free');
      expect((await api(broker, '/metrics')).body).not.toMatch(/^rabbitmq_disk_space_available_bytes/m);
      await conn.close();
    } finally {
      await broker.close();
    }
  });
});

describe('disk free limit values', () => {
  it('takes bytes, and bytes with a decimal or binary unit, as RabbitMQ does', () => {
    const units: [string, number][] = [['', 1], ['B', 1], ['kB', 1e3], ['MB', 1e6], ['GB', 1e9], ['KiB', 2 ** 10], ['MiB', 2 ** 20], ['gib', 2 ** 30]];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(...units), fc.constantFrom('', ' '), (n, [unit, size], gap) => {
        expect(diskFreeLimitBytes(`${n}${gap}${unit}`)).toBe(Math.floor(n * size));
      }),
    );
    expect(diskFreeLimitBytes(50_000_000)).toBe(50_000_000);
    expect(diskFreeLimitBytes('1.5GB')).toBe(1.5e9);
    for (const bad of ['', 'lots', '-1', '0.5', '2XB', '0.5B', '1e9']) expect(() => diskFreeLimitBytes(bad), bad).toThrow(/disk free limit/);
    expect(() => diskFreeLimitBytes(-1)).toThrow(/disk free limit/);
    expect(() => diskFreeLimitBytes(2.5)).toThrow(/whole number/);
  });
});

/**
 * A real disk filling up: a 32 MiB tmpfs as the data dir, the limit at 8 MB, a
 * publisher with a confirm window.
 * Needs root and mount (CI's containers may not allow it: skipped then).
 */
const mountPoint = fs.mkdtempSync(join(os.tmpdir(), 'warren-small-disk-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch {
  // no permission to mount here
}
afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
  fs.rmSync(mountPoint, { recursive: true, force: true });
});

describe.skipIf(!mounted)('a filesystem that fills up', () => {
  it.each(MODES)('publishers stop before the disk is full, nothing is nacked, and go on once consumers free it ($name)', { timeout: 60_000 }, async ({ workers }) => {
    const dataDir = join(mountPoint, `w${workers}`);
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir, diskFreeLimit: '8MB' });
    try {
      const publisher = await connect(broker.url);
      let blockedBy = '';
      publisher.on('blocked', (reason: string) => (blockedBy = reason));
      const unblocked = new Promise((resolve) => publisher.on('unblocked', resolve));
      const ch = await confirmChannel(publisher);
      const queue = 'fill';
      await ch.assertQueue(queue, { durable: true });
      const body = Buffer.alloc(64 * 1024, 'x');
      let sent = 0;
      let acked = 0;
      let nacked = 0;
      const publish = () => {
        const n = sent++;
        body.writeUInt32BE(n, 0);
        ch.sendToQueue(queue, Buffer.from(body), { persistent: true }, (err) => (err ? nacked++ : acked++));
      };
      // Up to 64 MiB offered to a 32 MiB disk in windows of 1 MiB, each confirmed (so on
      // disk) before the next: the alarm must stop it with the limit's 8 MB still free
      // (less one window). A publisher that does not wait for its confirms can have more
      // in flight than the limit, between the acceptor and the disk (README).
      const blockedNow = new Promise((resolve) => publisher.once('blocked', resolve));
      for (let window = 0; window < 64 && blockedBy === ''; window++) {
        for (let i = 0; i < 16; i++) publish();
        await Promise.race([ch.waitForConfirms(), blockedNow]);
      }
      expect(blockedBy).toBe('low on disk');
      expect(sent, 'blocked before the disk filled up').toBeGreaterThan(300); // 24 MB of 64 KiB messages
      await sleep(300);
      const free = fs.statfsSync(mountPoint);
      expect(free.bavail * free.bsize, 'free when publishers stopped').toBeGreaterThan(6e6);
      expect(nacked).toBe(0);

      // A consumer takes them all: acked segments go, the disk frees, the alarm clears.
      const consumerConn = await connect(broker.url);
      const consumer = await channel(consumerConn);
      await consumer.prefetch(100);
      const seen = new Set<number>();
      let twice = 0;
      await consumer.consume(queue, (msg) => {
        if (msg === null) return;
        const n = msg.content.readUInt32BE(0);
        if (seen.has(n)) twice++;
        seen.add(n);
        consumer.ack(msg);
      });
      await within(unblocked, 20_000, 'connection.unblocked');
      for (let i = 0; i < 32; i++) publish();
      await ch.waitForConfirms();
      await eventually(() => expect(seen.size).toBe(sent), 20_000);
      expect({ acked, nacked, twice }).toEqual({ acked: sent, nacked: 0, twice: 0 });
      await publisher.close();
      await consumerConn.close();
    } finally {
      await broker.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
