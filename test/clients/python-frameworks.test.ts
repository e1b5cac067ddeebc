/**
 * warren under Python's two most used frameworks on AMQP, run as child processes:
 * Celery 5.2 (kombu 5.2, py-amqp 5.1: Debian's python3-celery) and aio-pika 8.2
 * (aiormq 6.4: python3-aio-pika). Every expected line here was printed by the
 * same scripts against RabbitMQ 3.10.8.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { start } from '../helpers.js';
import { HERE, converse, findPython, runOk, uniq } from './support.js';

const celeryPython = findPython('celery');
const aioPikaPython = findPython('aio_pika');
/** Celery scenarios start a worker process (about a second) and wait on it. */
const SCENARIO_MS = 40_000;

describe.skipIf(!celeryPython)('Celery (skipped: no python with celery; apt-get install python3-celery)', () => {
  let broker: RunningBroker;
  const celery = (scenario: string) =>
    runOk(celeryPython!, [path.join(HERE, 'celery_client.py'), broker.url, uniq('celery'), scenario], { timeoutMs: SCENARIO_MS });

  beforeAll(async () => {
    broker = await start(2);
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('runs 300 numbered tasks, a group and a chain through the rpc result backend, with their events', async () => {
    expect(await celery('tasks')).toEqual(['tasks True', 'group True', 'chain 113', 'events task-received task-sent task-started task-succeeded']);
  }, SCENARIO_MS);

  it('holds a countdown task, retries a failing one, and drops a revoked one', async () => {
    expect(await celery('schedule')).toEqual(['eta 4 True', 'retry 3', 'revoked TaskRevokedError']);
  }, SCENARIO_MS);

  it('answers remote control: ping, inspect, add_consumer (pidbox fanout and reply exchanges)', async () => {
    expect(await celery('control')).toEqual(['ping 1 True', "active_queues ['PREFIX.tasks']", 'stats 1', "add_consumer ['PREFIX.extra', 'PREFIX.tasks']"]);
  }, SCENARIO_MS);

  it('gives the tasks a killed worker held (acks_late) to the next worker, redelivered, every number answered', async () => {
    expect(await celery('worker-lost')).toEqual(['all True', 'redelivered True']);
  }, SCENARIO_MS);

  it.each([false, true])("keeps a worker serving across the rig's reset (keepConnections %s)", async (keepConnections) => {
    const prefix = uniq('celery');
    const child = converse(celeryPython!, [path.join(HERE, 'celery_client.py'), broker.url, prefix, 'reset'], SCENARIO_MS);
    try {
      expect([await child.next(), await child.next()], child.stderr()).toEqual(['before 3', 'ready']);
      await broker.waitFor.queue(`${prefix}.tasks`, { messages: 0 }); // the worker acked the task it ran
      await broker.reset({ keepConnections });
      await broker.waitFor.queue(`${prefix}.tasks`, { consumers: 1 }, { timeoutMs: 15_000 }); // the worker came back to it
      child.send('go');
      expect(await child.next(), child.stderr()).toBe('after 7');
      expect(await child.exited).toBe(0);
    } finally {
      child.end();
    }
  }, SCENARIO_MS);
});

describe.skipIf(!aioPikaPython)('aio-pika (skipped: no python with aio_pika; apt-get install python3-aio-pika)', () => {
  let broker: RunningBroker;
  const aioPika = (scenario: string, prefix = uniq('aiopika')) => [path.join(HERE, 'aio_pika_client.py'), broker.url, prefix, scenario];

  beforeAll(async () => {
    broker = await start(2);
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('confirms 2,000 numbered persistent publishes and delivers each once, by priority, headers intact', async () => {
    expect(await runOk(aioPikaPython!, aioPika('confirm-consume'))).toEqual(['each once True headers True', 'priority order [9, 9, 9] [0, 0, 0]']);
  });

  it('returns an unroutable mandatory publish and dead-letters expired messages with x-death', async () => {
    const deaths = [0, 1, 2, 3, 4].map((i) => `d${i}:expired:1:PREFIX.ttl`).join(' ');
    expect(await runOk(aioPikaPython!, aioPika('lifecycle'))).toEqual(['mandatory returned lost', `dead-lettered ${deaths}`]);
  });

  it('answers 100 concurrent calls of its RPC pattern, each to its caller', async () => {
    expect(await runOk(aioPikaPython!, aioPika('rpc'))).toEqual(['rpc True']);
  });

  it("raises RabbitMQ's channel errors and goes on; rolls back and commits transactions", async () => {
    expect(await runOk(aioPikaPython!, aioPika('errors'))).toEqual([
      "passive NOT_FOUND - no queue 'PREFIX.missing' in vhost '/'",
      "exclusive RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'PREFIX.mine' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.",
      'after 0',
    ]);
    expect(await runOk(aioPikaPython!, aioPika('tx'))).toEqual(['committed 4']);
  });

  it('reconnects a robust connection the broker closed, and its consumer gets all 600 numbered messages', async () => {
    const prefix = uniq('aiopika');
    const child = converse(aioPikaPython!, aioPika('robust', prefix));
    try {
      expect(await child.next(), child.stderr()).toBe('ready');
      expect(broker.faults.closeConnections({ name: prefix })).toBe(1);
      child.send('go');
      expect(await child.next(), child.stderr()).toBe('reconnected True each at least once True');
      expect(await child.exited).toBe(0);
    } finally {
      child.end();
    }
  });
});
