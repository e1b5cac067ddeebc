// The `reset` scenario: how long a test rig waits for a clean broker. Declares
// N queues (10,000 by default), each bound to one direct exchange, with a few
// messages each, through amqplib; then times warren's POST /api/warren/reset
// (broker.reset behind it). A broker without that route (RabbitMQ, a URL) gets
// what a test suite does there instead: every queue and the exchange deleted
// over AMQP, pipelined on one channel. Either way the run checks that the
// queues are gone.
import amqp from 'amqplib';
import { nowUs, sleep } from './clock.js';
import type { BrokerHandle } from './brokers.js';
import { declareTopology } from './topology.js';
import { encodeHistogram, newHistogram, summarize } from './histogram.js';
import type { RunResult } from './runner.js';
import type { ScenarioPlan } from './scenarios.js';

export interface ResetFigures {
  queues: number;
  bindings: number;
  messages: number;
  /** 'http': POST /api/warren/reset; 'amqp-delete': queue.delete of each queue, pipelined */
  method: 'http' | 'amqp-delete';
  /** wall-clock ms from the request to its answer (the last delete-ok) */
  ms: number;
}

export async function runReset(plan: ScenarioPlan, broker: { name: string; handle: BrokerHandle }): Promise<RunResult> {
  const { handle } = broker;
  const t = plan.topology;
  const perQueue = Number(plan.params.messagesPerQueue);
  const errors: string[] = [];
  await declareTopology(handle.url, t);
  const messages = await publish(handle.url, plan, perQueue);
  const started = nowUs();
  let method: ResetFigures['method'];
  if (handle.managementUrl !== undefined) {
    method = 'http';
    await httpReset(handle.managementUrl);
  } else {
    method = 'amqp-delete';
    await deleteAll(handle.url, plan);
  }
  const ms = (nowUs() - started) / 1000;
  const left = await survivors(handle.url, plan);
  if (left > 0) errors.push(`reset left ${left} of the sampled queues`);
  // No latency here: an empty histogram keeps the JSON's shape.
  const empty = newHistogram();
  const latency = summarize(empty);
  const histogram = encodeHistogram(empty);
  empty.destroy();
  await sleep(200);
  return {
    label: plan.label, scenario: plan.scenario, broker: broker.name, driver: 'amqplib',
    publishedPerSec: NaN, consumedPerSec: NaN, latency, histogram, confirmLatency: latency,
    cpuUsPerMsg: null, peakRssBytes: null, generatorBusy: null, timeline: [], errors,
    reset: { queues: t.queues.length, bindings: t.bindings.length, messages, method, ms },
  };
}

/** `perQueue` numbered messages to each queue through the exchange, confirmed. */
async function publish(url: string, plan: ScenarioPlan, perQueue: number): Promise<number> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    const exchange = plan.topology.exchanges[0]!.name;
    let n = 0;
    for (const b of plan.topology.bindings) {
      for (let i = 0; i < perQueue; i++) ch.publish(exchange, b.key, Buffer.from(`m-${n++}`));
      // Keep the client's buffer bounded.
      if (n % 5000 === 0) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    return n;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** POST /api/warren/reset; the management API comes up just after the AMQP port, so a refused connect is retried briefly. */
async function httpReset(base: string): Promise<void> {
  const url = new URL('/api/warren/reset', base);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  url.username = '';
  url.password = '';
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: '{}' });
      if (res.status !== 204) throw new Error(`POST /api/warren/reset: ${res.status} ${await res.text()}`);
      return;
    } catch (e) {
      if (attempt >= 50 || (e as { cause?: { code?: string } }).cause?.code !== 'ECONNREFUSED') throw e;
      await sleep(100);
    }
  }
}

async function deleteAll(url: string, plan: ScenarioPlan): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await Promise.all(plan.topology.queues.map((q) => ch.deleteQueue(q.name)));
    await Promise.all(plan.topology.exchanges.map((e) => ch.deleteExchange(e.name)));
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** How many of 100 sampled queues still exist (passive declares; a 404 closes the channel). */
async function survivors(url: string, plan: ScenarioPlan): Promise<number> {
  const conn = await amqp.connect(url);
  conn.on('error', () => undefined);
  const queues = plan.topology.queues;
  let left = 0;
  try {
    for (let i = 0; i < queues.length; i += Math.max(1, Math.floor(queues.length / 100))) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        await ch.checkQueue(queues[i]!.name);
        left++;
        await ch.close();
      } catch {
        /* 404: gone, as it should be */
      }
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
  return left;
}
