/**
 * faults.restart: amqplib clients see 320 with RabbitMQ's shutdown text, a
 * connect in the down window is refused, and afterwards exactly what a real
 * restart keeps is there: durable queues and exchanges with the persistent
 * messages (counted, in order, the unacked one back as redelivered); transient
 * queues, exclusive queues, non-durable exchanges and transient messages gone.
 * In memory and with a data dir, in both modes; and over HTTP.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, confirmChannel, drain, exchangeExists, nextEvent, queueExists, reason, tempDirs } from '../helpers.js';
import { managedBroker } from '../management/support.js';

const N = 30;
/** Every third message is transient (delivery-mode 1), the others persistent. */
const persistent = (i: number) => i % 3 !== 0;
const SHUTDOWN = { code: 320, text: "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'" };

async function connectNamed(url: string, name: string): Promise<ChannelModel> {
  const conn = await amqp.connect(url, { clientProperties: { connection_name: name } });
  conn.on('error', () => {});
  return conn;
}

/** Declares what a restart must sort out, publishes N numbered messages, takes two unacked; returns the connection. */
async function populate(url: string): Promise<ChannelModel> {
  const conn = await connectNamed(url, 'before-restart');
  const ch = await confirmChannel(conn);
  await ch.assertExchange('dx', 'direct', { durable: true });
  await ch.assertExchange('tx', 'direct', { durable: false });
  await ch.assertQueue('durable-q', { durable: true });
  await ch.assertQueue('transient-q', { durable: false });
  await ch.assertQueue('exclusive-durable-q', { durable: true, exclusive: true });
  await ch.assertQueue('priority-q', { durable: true, maxPriority: 4 });
  await ch.bindQueue('durable-q', 'dx', 'k');
  await ch.bindQueue('durable-q', 'tx', 'k');
  for (let i = 0; i < N; i++) {
    ch.publish('dx', 'k', Buffer.from(`m-${i}`), { persistent: persistent(i) });
    ch.sendToQueue('transient-q', Buffer.from(`t-${i}`), { persistent: true });
    ch.sendToQueue('exclusive-durable-q', Buffer.from(`e-${i}`), { persistent: true });
    ch.sendToQueue('priority-q', Buffer.from(`p-${i}`), { persistent: persistent(i), priority: i % 5 });
  }
  await ch.waitForConfirms();
  // Unacked at the restart: m-0 (transient) and m-1 (persistent) go back to their places first.
  const getter = await channel(conn);
  for (let i = 0; i < 2; i++) expect(await getter.get('durable-q', { noAck: false })).not.toBe(false);
  return conn;
}

/** After the restart: exactly the persistent messages of the durable queue, and nothing transient. */
async function checkSurvivors(url: string): Promise<void> {
  const conn = await connectNamed(url, 'after-restart');
  const ch = await channel(conn);
  expect((await ch.checkQueue('durable-q')).messageCount).toBe(Array.from({ length: N }, (_, i) => i).filter(persistent).length);
  const first = await ch.get('durable-q', { noAck: true });
  expect(first !== false && [first.content.toString(), first.fields.redelivered]).toEqual(['m-1', true]);
  const rest = await drain(ch, 'durable-q');
  expect(['m-1', ...rest]).toEqual(Array.from({ length: N }, (_, i) => i).filter(persistent).map((i) => `m-${i}`));
  // A priority queue keeps its persistent messages in priority order, FIFO within one.
  const kept = Array.from({ length: N }, (_, i) => i).filter(persistent);
  const byPriority = [...kept].sort((a, b) => Math.min(b % 5, 4) - Math.min(a % 5, 4) || a - b);
  expect(await drain(ch, 'priority-q')).toEqual(byPriority.map((i) => `p-${i}`));
  expect(await queueExists(conn, 'transient-q')).toBe(false);
  expect(await queueExists(conn, 'exclusive-durable-q')).toBe(false);
  expect(await exchangeExists(conn, 'tx')).toBe(false);
  expect(await exchangeExists(conn, 'dx')).toBe(true);
  // The durable binding stayed.
  const pub = await confirmChannel(conn);
  pub.publish('dx', 'k', Buffer.from('after'));
  await pub.waitForConfirms();
  expect(await drain(ch, 'durable-q')).toEqual(['after']);
  await conn.close();
}

describe.each(MODES)('faults.restart ($name)', ({ workers }) => {
  const newDataDir = tempDirs('warren-restart-');

  for (const storage of ['in memory', 'with a data dir'] as const) {
    it(`${storage}: closes with 320, refuses during downMs, keeps the durable queues' persistent messages only`, async () => {
      let dataDir: string | undefined;
      if (storage === 'with a data dir') dataDir = newDataDir();
      const broker: RunningBroker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
      try {
        const conn = await populate(broker.url);
        const closed = nextEvent(conn, 'close');
        const began = Date.now();
        const restarted = broker.faults.restart({ downMs: 500 });
        expect(reason(await closed)).toEqual(SHUTDOWN);
        // Down: a connect is refused.
        await expect(amqp.connect(broker.url)).rejects.toThrow();
        await restarted;
        expect(Date.now() - began).toBeGreaterThanOrEqual(500);
        await checkSurvivors(broker.url);
      } finally {
        await broker.close();
      }
    });
  }
});

describe.each(MODES)('POST /api/warren/faults/restart ($name)', ({ workers }) => {
  const m = managedBroker(workers);

  it('restarts over HTTP, answering 204 once connections are accepted again', async () => {
    const conn = await populate(m.broker.url);
    const closed = nextEvent(conn, 'close');
    const reply = m.api('POST', '/api/warren/faults/restart', { down_ms: 300 });
    expect(reason(await closed)).toEqual(SHUTDOWN);
    await expect(amqp.connect(m.broker.url)).rejects.toThrow();
    expect((await reply).status).toBe(204);
    await checkSurvivors(m.broker.url);
    expect((await m.api('POST', '/api/warren/faults/restart', { down_ms: -1 })).status).toBe(400);
  });
});
