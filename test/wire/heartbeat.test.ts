/** Heartbeats on the wire: the server sends them every heartbeat/2 seconds and drops a silent peer. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channel, connect, drain, eventually, start } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';
import { RawClient } from './raw-client.js';

const FRAME_HEARTBEAT = 8;

describe('heartbeats', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start(1);
  });
  afterAll(() => broker.close());

  it('sends heartbeats and disconnects a peer that stays silent for two intervals, saying so in the log', async () => {
    const observer = await connect(broker.url);
    const ch = await channel(observer);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.rabbitmq.log', 'warning');
    const client = await RawClient.open(broker.port);
    await client.handshake(1); // heartbeat = 1 s
    const opened = Date.now();
    const frame = await client.readFrame(3000);
    expect(frame?.type, 'a heartbeat frame from the server').toBe(FRAME_HEARTBEAT);
    expect(frame?.channel).toBe(0);
    // We never answer: the server must give up after about 2 s, and not before.
    await client.waitClosed(6000);
    const silentFor = Date.now() - opened;
    expect(silentFor).toBeGreaterThanOrEqual(1900);
    expect(silentFor).toBeLessThan(5000);
    // RabbitMQ's words, in the connection category (a warning: the console stays quiet).
    const lines = await eventually(async () => {
      const got = await drain(ch, queue);
      expect(got.some((line) => / missed heartbeats from client, timeout: 1s$/.test(line))).toBe(true);
      return got;
    });
    expect(lines.filter((line) => line.includes('missed heartbeats'))).toHaveLength(1);
    await observer.close();
  });

  it('sends a heartbeat every heartbeat/2 seconds, as RabbitMQ does (heartbeat=1: every ~500 ms)', async () => {
    const client = await RawClient.open(broker.port);
    await client.handshake(1);
    // We answer every beat, so the server keeps the connection and goes on beating.
    const arrivals: number[] = [];
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const frame = await client.readFrame(1500);
      expect(frame?.type, 'a heartbeat frame from the server').toBe(FRAME_HEARTBEAT);
      arrivals.push(Date.now());
      client.send(Buffer.from([FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, 0xce]));
    }
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]);
    console.log(`heartbeat gaps (ms): ${gaps.join(' ')}`);
    expect(arrivals.length).toBeGreaterThanOrEqual(5);
    for (const gap of gaps) expect(gap).toBeLessThan(800);
    client.destroy();
  });

  it('keeps a peer that sends heartbeats', async () => {
    const client = await RawClient.open(broker.port);
    await client.handshake(1);
    const beat = setInterval(() => client.send(Buffer.from([FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, 0xce])), 400);
    await new Promise((r) => setTimeout(r, 3500));
    clearInterval(beat);
    expect(client.ended).toBe(false);
    client.destroy();
  });
});
