/**
 * RabbitMQ's consumer_timeout: a delivery left unacked longer than the
 * timeout closes its channel with 406 and RabbitMQ's text; its deliveries go
 * back to their queue (redelivered), other channels go on. Checked by one
 * broker-wide timer that runs only while unacked deliveries exist.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Channel, ConsumeMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, closedWith, connect, eventually, sleep, subscribe, within } from '../helpers.js';
import { nameOnShard } from './on-shard.js';

const TIMEOUT = 300;
const text = (ch: number, ms: number) =>
  `PRECONDITION_FAILED - delivery acknowledgement on channel ${ch} timed out. Timeout value used: ${ms} ms. This timeout value can be configured, see consumers doc guide to learn more`;
/** amqplib's channel number */
const idOf = (ch: Channel) => (ch as any).ch as number;

describe.each(MODES)('consumer timeout: $name', ({ workers }) => {
  let running: RunningBroker;
  const conns: Awaited<ReturnType<typeof connect>>[] = [];
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers, consumerTimeoutMs: TIMEOUT });
  });
  afterEach(async () => {
    await Promise.all(conns.splice(0).map((c) => c.close().catch(() => {})));
  });
  afterAll(async () => {
    await running.close();
  });
  const open = async () => {
    const conn = await connect(running.url);
    conns.push(conn);
    return conn;
  };
  const timerRunning = () => (running.broker.consumerTimeout as any).timer !== null;

  it('an unacked delivery closes its channel after the timeout; the queue gets it back redelivered, the other channel goes on', async () => {
    const conn = await open();
    const admin = await channel(conn);
    const q = nameOnShard('ct', 1, workers);
    await admin.assertQueue(q, { autoDelete: false });
    const slow = await channel(conn);
    await slow.prefetch(10);
    const N = 10;
    const got: ConsumeMessage[] = [];
    let deliveredAt = 0;
    await slow.consume(q, (m) => {
      if (m === null) return;
      got.push(m);
      deliveredAt ||= Date.now();
      if (Number(m.content.toString().slice(1)) % 2 === 0) slow.ack(m); // evens acked, odds held
    });
    const closing = closedWith(slow, 5000);
    for (let i = 0; i < N; i++) admin.sendToQueue(q, Buffer.from(`m${i}`));
    expect(await closing).toEqual({ code: 406, text: text(idOf(slow), TIMEOUT) });
    const waited = Date.now() - deliveredAt;
    expect(waited).toBeGreaterThanOrEqual(TIMEOUT);
    expect(waited).toBeLessThan(TIMEOUT * 1.5 + 300);
    expect(got.map((m) => m.content.toString())).toEqual(Array.from({ length: N }, (_, i) => `m${i}`));
    // the odd ones come back, once each, redelivered; the admin channel was never touched
    const again = await subscribe(admin, q, { noAck: true });
    const back = await again.waitFor(N / 2);
    expect(back.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([1, 3, 5, 7, 9].map((i) => [`m${i}`, true]));
    await sleep(50);
    expect(again.messages).toHaveLength(N / 2);
    await admin.deleteQueue(q);
    await eventually(() => expect(timerRunning()).toBe(false));
  });

  it('acks within the timeout keep a channel open however long it consumes; basic.get deliveries count too', async () => {
    const conn = await open();
    const ch = await channel(conn);
    const q = nameOnShard('ct-steady', 0, workers);
    await ch.assertQueue(q, { exclusive: true });
    let closedBy: unknown = null;
    ch.on('error', (err) => (closedBy = err));
    // 12 deliveries, one every 80 ms, each acked 120 ms after it came: over 4 timeouts in all
    const acked: string[] = [];
    await ch.consume(q, (m) => m && setTimeout(() => (ch.ack(m), acked.push(m.content.toString())), 120));
    for (let i = 0; i < 12; i++) {
      ch.sendToQueue(q, Buffer.from(`s${i}`));
      await sleep(80);
    }
    await eventually(() => expect(acked).toHaveLength(12), 3000);
    await sleep(TIMEOUT * 2);
    expect(closedBy).toBeNull();
    expect(acked).toEqual(Array.from({ length: 12 }, (_, i) => `s${i}`));
    // a basic.get with acks left alone
    const getter = await channel(conn);
    const closing = closedWith(getter, 5000);
    const other = await channel(conn);
    const tmp = (await other.assertQueue('', { exclusive: true })).queue;
    other.sendToQueue(tmp, Buffer.from('held'));
    await eventually(async () => expect(await getter.get(tmp, { noAck: false })).not.toBe(false));
    expect(await closing).toEqual({ code: 406, text: text(idOf(getter), TIMEOUT) });
    await other.checkQueue(tmp); // the connection and its other channels are fine
  });

  it('no-ack consumers never time out, and a quiet broker runs no timer', async () => {
    const conn = await open();
    const ch = await channel(conn);
    const q = nameOnShard('ct-noack', 1, workers);
    await ch.assertQueue(q, { exclusive: true });
    const inbox = await subscribe(ch, q, { noAck: true });
    for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(`n${i}`));
    await inbox.waitFor(5);
    expect(timerRunning()).toBe(false);
    await sleep(TIMEOUT * 2);
    await ch.checkQueue(q); // still open
    expect(timerRunning()).toBe(false);
  });
});

describe('consumer timeout settings', () => {
  it('defaults to RabbitMQ’s 30 minutes; 0 turns it off', async () => {
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers: 0 });
    expect(broker.broker.options.consumerTimeoutMs).toBe(1_800_000);
    await broker.close();
    const off = await startBroker({ port: 0, host: '127.0.0.1', workers: 0, consumerTimeoutMs: 0 });
    const conn = await connect(off.url);
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('kept'));
    await eventually(async () => expect(await ch.get(queue, { noAck: false })).not.toBe(false));
    expect((off.broker.consumerTimeout as any).timer).toBeNull();
    await ch.checkQueue(queue);
    await conn.close();
    await off.close();
  });

  it('--consumer-timeout on the command line', async () => {
    const main = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
    const bad = spawn(process.execPath, [main, '--consumer-timeout', '5s', '--in-memory']);
    let stderr = '';
    bad.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    expect((await once(bad, 'exit'))[0]).toBe(2);
    expect(stderr).toMatch(/^warren: --consumer-timeout needs an integer from 0 to \d+, got '5s'/);

    const child = spawn(process.execPath, [main, '--port', '0', '--host', '127.0.0.1', '--in-memory', '--workers', '0', '--consumer-timeout', '250']);
    try {
      child.stdout.setEncoding('utf8');
      const line = await within(
        new Promise<string>((resolve) => child.stdout.on('data', (c: string) => resolve(c))),
        10_000,
        'ready line',
      );
      const port = /port (\d+) /.exec(line)![1];
      const conn = await connect(`amqp://guest:guest@127.0.0.1:${port}`);
      const ch = await channel(conn);
      const { queue } = await ch.assertQueue('', { exclusive: true });
      ch.sendToQueue(queue, Buffer.from('x'));
      const closing = closedWith(ch, 5000);
      await eventually(async () => expect(await ch.get(queue, { noAck: false })).not.toBe(false));
      expect(await closing).toEqual({ code: 406, text: text(idOf(ch), 250) });
      await conn.close();
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});

describe.each(MODES)('consumer timeout at its default (30 minutes): $name', ({ workers }) => {
  it('a channel that closes with unacked deliveries is let go at once, and the check stops with the last one', async () => {
    const running = await startBroker({ port: 0, host: '127.0.0.1', workers });
    const timeouts = running.broker.consumerTimeout as any;
    try {
      for (const closeHow of ['channel', 'connection'] as const) {
        const conn = await connect(running.url);
        const ch = await channel(conn);
        const q = (await ch.assertQueue('', { exclusive: true })).queue;
        const inbox = await subscribe(ch, q, { noAck: false });
        ch.sendToQueue(q, Buffer.from('held'));
        await inbox.waitFor(1);
        expect(timeouts.watched.size, closeHow).toBe(1);
        expect(timeouts.timer, closeHow).not.toBeNull();
        // Checked once a minute at this timeout: kept till then, each closed channel held its
        // connection's buffers, so fast-churning clients piled up a minute of them.
        if (closeHow === 'channel') await ch.close();
        await conn.close();
        await eventually(() => expect(timeouts.watched.size, closeHow).toBe(0), 1000);
        expect(timeouts.timer, closeHow).toBeNull();
      }
    } finally {
      await running.close();
    }
  });
});
