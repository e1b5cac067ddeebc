// One load generator: the publishers, consumers and idle connections given to
// one thread. It runs inside a piscina worker (worker.ts) or, with --threads 0,
// on the main thread. It talks to the coordinator over a MessagePort:
//   -> {type:'ready'} once every connection is open
//   <- {type:'go', startUs, warmupEndUs, endUs} (monotonic µs, see clock.ts)
//   -> {type:'progress', sent, received, idle} every PROGRESS_MS while running
import type { MessagePort } from 'node:worker_threads';
import { nowUs, sleep, sleepUntilUs, withTimeout } from './clock.js';
import { amqplibDriver } from './drivers/amqplib.js';
import { pipelinedDriver } from './drivers/pipelined.js';
import type { Closeable, ConsumerSpec, Driver, DriverName, Publisher, PublisherSpec } from './drivers/types.js';
import { encodeHistogram, newHistogram } from './histogram.js';

export const PROGRESS_MS = 250;

export interface GeneratorTask {
  driver: DriverName;
  url: string;
  publishers: PublisherSpec[];
  consumers: ConsumerSpec[];
  idleConnections: number;
  port: MessagePort;
}

export interface GoMessage {
  type: 'go';
  startUs: number;
  warmupEndUs: number;
  endUs: number;
}

export interface ProgressMessage {
  type: 'progress';
  sent: number;
  received: number;
  idle: number;
}

export interface PublisherResult {
  /** Messages the broker had processed (synced or confirmed) within the window. */
  takenIn: number;
  /** That window, from the warm-up marker's answer to the final one's, in µs. */
  windowUs: number;
  sent: number;
}

export interface GeneratorResult {
  publishers: PublisherResult[];
  /** Deliveries received inside [warmupEnd, end]. */
  received: number;
  /** Send-to-receive latency of those deliveries (µs), encoded HDR histogram. */
  histogram: string;
  /** Send-to-confirm latency of the confirms received inside [warmupEnd, end] (µs), encoded HDR histogram; empty without confirms. */
  confirmHistogram: string;
  /** Time to open the idle connections, µs. */
  idleOpenUs: number;
  errors: string[];
}

export function driverByName(name: DriverName): Driver {
  return name === 'pipelined' ? pipelinedDriver : amqplibDriver;
}

/** How long a publisher waits for its final sync or confirms before giving up. */
const FINAL_MARKER_TIMEOUT_MS = 60_000;
/**
 * Without confirms, a publisher would otherwise write megabytes ahead of what the
 * broker has processed (socket buffers), and the final marker would wait for all
 * of it. A sync every SYNC_EVERY messages, with at most SYNCS_IN_FLIGHT
 * unanswered, bounds that backlog the way confirms do.
 */
const SYNC_EVERY = 500;
const SYNCS_IN_FLIGHT = 2;
/** How far behind its schedule a fixed-rate publisher may fall before stamps carry the intended time. */
const SCHEDULE_SLACK_US = 2000;

export async function runGenerator(task: GeneratorTask): Promise<GeneratorResult> {
  const driver = driverByName(task.driver);
  const errors: string[] = [];
  const hist = newHistogram();
  const confirmHist = newHistogram();
  let received = 0;
  let receivedTotal = 0;
  let sentTotal = 0;
  let windowStart = Infinity;
  let windowEnd = -Infinity;

  const onDelivery = (stampUs: number) => {
    receivedTotal++;
    const now = nowUs();
    if (now < windowStart || now > windowEnd) return;
    received++;
    if (stampUs > 0) hist.recordValue(Math.max(1, Math.round(now - stampUs)));
  };
  const onConfirm = (stampUs: number) => {
    const now = nowUs();
    if (now >= windowStart && now <= windowEnd && stampUs > 0) confirmHist.recordValue(Math.max(1, Math.round(now - stampUs)));
  };

  // Connect everything before the clock starts: setup is not measured.
  const consumers: Closeable[] = [];
  const publishers: Publisher[] = [];
  const idle: Closeable[] = [];
  let idleOpenUs = 0;
  try {
    for (const spec of task.consumers) consumers.push(await driver.openConsumer(task.url, spec, onDelivery));
    for (const spec of task.publishers) publishers.push(await driver.openPublisher(task.url, spec, onConfirm));
    const t0 = nowUs();
    // Opened a few at a time, as a pool of clients would, without a connection storm.
    for (let i = 0; i < task.idleConnections; i += 25) {
      const batch = Math.min(25, task.idleConnections - i);
      idle.push(...await Promise.all(Array.from({ length: batch }, () => driver.openIdle(task.url))));
    }
    idleOpenUs = nowUs() - t0;
  } catch (e) {
    errors.push(`setup: ${(e as Error).message}`);
  }

  const go = await new Promise<GoMessage>((resolve) => {
    task.port.once('message', (m: GoMessage) => resolve(m));
    task.port.postMessage({ type: 'ready', errors });
  });
  windowStart = go.warmupEndUs;
  windowEnd = go.endUs;

  const progress = setInterval(() => {
    const m: ProgressMessage = { type: 'progress', sent: sentTotal, received: receivedTotal, idle: idle.length };
    task.port.postMessage(m);
  }, PROGRESS_MS);

  await sleepUntilUs(go.startUs);
  const pubResults = await Promise.all(publishers.map((p, i) =>
    publishLoop(p, task.publishers[i]!, go, (n) => { sentTotal += n; }).catch((e: Error) => {
      errors.push(`publisher: ${e.message}`);
      return { takenIn: 0, windowUs: 0, sent: 0 };
    })));
  await sleepUntilUs(go.endUs);
  clearInterval(progress);
  task.port.postMessage({ type: 'progress', sent: sentTotal, received: receivedTotal, idle: idle.length } satisfies ProgressMessage);

  await Promise.all([...publishers, ...consumers, ...idle].map((c) => c.close().catch(() => undefined)));
  const result: GeneratorResult = { publishers: pubResults, received, histogram: encodeHistogram(hist), confirmHistogram: encodeHistogram(confirmHist), idleOpenUs, errors };
  hist.destroy();
  confirmHist.destroy();
  return result;
}

/**
 * Publishes from startUs to endUs. What counts is what the broker took in: the
 * messages confirmed, or (without confirms) the messages written before a
 * synchronous round trip that has come back, between the warm-up and end markers.
 */
async function publishLoop(p: Publisher, spec: PublisherSpec, go: GoMessage, onSent: (n: number) => void): Promise<PublisherResult> {
  let sent = 0;
  let key = 0;
  const nKeys = spec.routingKeys.length;
  const intervalUs = spec.rate > 0 ? 1e6 / spec.rate : 0;
  let marker: Promise<{ n: number; at: number }> | null = null;
  const syncs: Promise<void>[] = [];
  let lastSyncAt = 0;

  const takeMarker = async (): Promise<{ n: number; at: number }> => {
    if (spec.confirm) {
      await p.waitConfirmed(sent);
      return { n: p.confirmed(), at: nowUs() };
    }
    const n = sent;
    await p.sync();
    return { n, at: nowUs() };
  };
  const warmMarker = async (): Promise<{ n: number; at: number }> => {
    // At the warm-up boundary publishing goes on; only the count and time are noted.
    if (spec.confirm) return { n: p.confirmed(), at: nowUs() };
    const n = sent;
    await p.sync();
    return { n, at: nowUs() };
  };

  for (;;) {
    const now = nowUs();
    if (now >= go.endUs) break;
    if (!marker && now >= go.warmupEndUs) marker = warmMarker();
    let burst = 0;
    let blocked = false;
    if (intervalUs === 0) {
      while (burst < SYNC_EVERY) {
        if (spec.confirm && sent - p.confirmed() >= spec.inFlight) break;
        blocked = !p.publish(key, nowUs());
        if (++key === nKeys) key = 0;
        sent++;
        burst++;
        if (blocked) break;
      }
      onSent(burst);
      if (!spec.confirm && sent - lastSyncAt >= SYNC_EVERY) {
        lastSyncAt = sent;
        syncs.push(p.sync());
        if (syncs.length > SYNCS_IN_FLIGHT) await syncs.shift();
      }
      if (spec.confirm && sent - p.confirmed() >= spec.inFlight) {
        await Promise.race([p.waitConfirmed(sent - spec.inFlight + 1), sleep(50)]);
      } else {
        await p.writable();
      }
    } else {
      // Fixed rate: send what is due. When the broker holds us back by more
      // than timer jitter, stamp the intended time so the wait counts as latency
      // (correcting coordinated omission).
      const due = Math.floor((now - go.startUs) / intervalUs) + 1;
      while (sent < due && !blocked) {
        if (spec.confirm && sent - p.confirmed() >= spec.inFlight) break;
        const intended = go.startUs + sent * intervalUs;
        const t = nowUs();
        blocked = !p.publish(key, t - intended > SCHEDULE_SLACK_US ? intended : t);
        if (++key === nKeys) key = 0;
        sent++;
        burst++;
      }
      onSent(burst);
      if (blocked) await p.writable();
      else if (spec.confirm && sent - p.confirmed() >= spec.inFlight) await Promise.race([p.waitConfirmed(sent - spec.inFlight + 1), sleep(50)]);
      else await sleepUntilUs(Math.min(go.startUs + sent * intervalUs, go.endUs));
    }
  }
  const first = marker ? await marker : { n: 0, at: go.startUs };
  const last = await withTimeout(takeMarker(), FINAL_MARKER_TIMEOUT_MS, 'broker did not answer the final marker within 60 s');
  return { takenIn: last.n - first.n, windowUs: last.at - first.at, sent };
}
