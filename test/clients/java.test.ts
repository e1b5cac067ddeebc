/** warren with RabbitMQ's Java client (Debian librabbitmq-client-java, 5.0.0), run as child processes. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { channel, connect, start } from '../helpers.js';
import { HERE, runOk, uniq, works } from './support.js';

const JARS = ['/usr/share/java/amqp-client.jar', '/usr/share/java/slf4j-api.jar'];
const javaReady = JARS.every((jar) => existsSync(jar)) && works('javac', ['-version']);

describe.skipIf(!javaReady)('Java clients (skipped: apt-get install librabbitmq-client-java default-jdk-headless)', () => {
  let broker: RunningBroker;
  let classes: string;
  const classpath = () => [...JARS, classes].join(':');
  const java = (scenario: string, ...args: string[]) =>
    runOk('java', ['-cp', classpath(), 'JavaClient', broker.url, scenario, uniq('java'), ...args]).then((lines) => lines.filter((l) => !l.startsWith('SLF4J')));

  beforeAll(async () => {
    classes = mkdtempSync(path.join(os.tmpdir(), 'warren-java-'));
    await runOk('javac', ['-d', classes, '-cp', JARS.join(':'), path.join(HERE, 'JavaClient.java')], { timeoutMs: 60_000 });
    broker = await start(2);
  }, 70_000);
  afterAll(async () => {
    await broker?.close();
    if (classes) rmSync(classes, { recursive: true, force: true });
  });

  it('2,000 numbered persistent publishes are confirmed, then consumed with prefetch 50 and acks: each once, in order', async () => {
    expect(await java('confirms', '2000')).toEqual(['confirmed 2000', 'ready 2000', 'got 2000 in order', 'remaining 0', 'done']);
  });

  it('basic.nack with requeue brings the message back redelivered; without, it is gone', async () => {
    expect(await java('nack')).toEqual(['got again redelivered=true, dropped redelivered=false', 'remaining 0', 'done']);
  });

  it('a mandatory publish with no route reaches the return listener', async () => {
    const lines = await java('return');
    expect(lines[0]).toMatch(/^returned 312 NO_ROUTE java-\S+\.nowhere lost$/);
    expect(lines[1]).toBe('done');
  });

  it('exchange.bind routes a fanout into a topic exchange; exchange.unbind stops it', async () => {
    expect(await java('e2e')).toEqual(['got routed, routed too; left 0', 'after unbind 0', 'done']);
  });

  it('tx.rollback drops the publishes, tx.commit makes them visible', async () => {
    expect(await java('tx')).toEqual(['before commit 0', 'after rollback 0', 'after commit 5', 'done']);
  });

  it("channel errors come with RabbitMQ's codes and texts, and the connection goes on", async () => {
    const lines = await java('errors');
    expect(lines[0]).toMatch(/^closed 404 NOT_FOUND - no queue 'java-\S+\.missing' in vhost '\/'$/);
    expect(lines[1]).toBe('channel open false');
    expect(lines[2]).toMatch(/^closed 406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'java-\S+\.x' in vhost '\/': received 'true' but current is 'false'$/);
    expect(lines.slice(3)).toEqual(['connection open true', 'done']);
  });

  it('a consumer whose queue is deleted hears basic.cancel', async () => {
    expect(await java('cancel')).toEqual(['cancelled by the broker true', 'done']);
  });

  it("amqplib publishes properties and headers of many types; the Java client reads them as RabbitMQ hands them over", async () => {
    const conn = await connect(broker.url);
    try {
      const ch = await channel(conn);
      const q = uniq('amqplib-to-java');
      await ch.assertQueue(q);
      ch.sendToQueue(q, Buffer.from('héllo'), {
        contentType: 'text/plain',
        priority: 3,
        correlationId: 'c-1',
        persistent: true,
        headers: { int: 5, big: 2 ** 40, neg: -70_000, frac: 1.5, str: 'ü€', yes: true, nested: { a: 1, b: 'x' }, list: [1, 'two', false], nothing: null },
      });
      await ch.checkQueue(q); // the publish is in before the child looks
      expect(await java('headers', q)).toEqual(EXPECTED_HEADERS);
      expect((await ch.checkQueue(q)).messageCount).toBe(0);
      await ch.deleteQueue(q);
    } finally {
      await conn.close();
    }
  });
});

/** What the same publish and the same Java consumer printed against RabbitMQ 3.10.8 (every scenario above printed the same there too). */
const EXPECTED_HEADERS = [
  'body héllo',
  'content-type text/plain priority 3 correlation-id c-1 delivery-mode 2',
  'header big = 1099511627776 (Long)',
  'header frac = 1.5 (Double)',
  'header int = 5 (Byte)',
  'header list = [1 (Byte), two (ByteArrayLongString), false (Boolean)]',
  'header neg = -70000 (Integer)',
  'header nested = {a: 1 (Byte), b: x (ByteArrayLongString)}',
  'header nothing = null',
  'header str = ü€ (ByteArrayLongString)',
  'header yes = true (Boolean)',
  'done',
];
