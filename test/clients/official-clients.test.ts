/**
 * warren with RabbitMQ's own Java and Go clients (Debian's librabbitmq-client-java
 * 5.0.0 and golang-github-rabbitmq-amqp091-go-dev 1.5.0), each scenario program
 * built once and run as a child process per test. Every expected output here was
 * printed by the same programs against RabbitMQ 3.10.8.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { channel, connect, sleep, start } from '../helpers.js';
import { HERE, converse, recoversAcrossRestart, runOk, uniq, works } from './support.js';

const JARS = ['/usr/share/java/amqp-client.jar', '/usr/share/java/slf4j-api.jar'];
const GOPATH = '/usr/share/gocode';

interface Client {
  name: string;
  /** what to apt-get install when it is missing */
  packages: string;
  ready: boolean;
  /** Builds the scenario program into `dir`; returns the command that runs it. */
  build(dir: string): Promise<string[]>;
  /** the amqplib message's properties and headers as this client reads them */
  headers: string[];
  /** the x-death entry's types as this client reads them (count, the names, routing-keys' items, time) */
  deathTypes: [string, string, string, string];
  /** it recovers connections and their topology by itself (the Java client; Go's has no such thing) */
  recovers: boolean;
}

const HEADERS_HEAD = ['body héllo', 'content-type text/plain priority 3 correlation-id c-1 delivery-mode 2'];

const CLIENTS: Client[] = [
  {
    name: 'Java',
    packages: 'librabbitmq-client-java default-jdk-headless',
    ready: JARS.every((jar) => existsSync(jar)) && works('javac', ['-version']),
    async build(dir) {
      await runOk('javac', ['-d', dir, '-cp', JARS.join(':'), path.join(HERE, 'JavaClient.java')], { timeoutMs: 60_000 });
      return ['java', '-cp', [...JARS, dir].join(':'), 'JavaClient'];
    },
    headers: [
      ...HEADERS_HEAD,
      'header big = 1099511627776 (Long)',
      'header frac = 1.5 (Double)',
      'header int = 5 (Byte)',
      'header list = [1 (Byte), two (ByteArrayLongString), false (Boolean)]',
      'header neg = -70000 (Integer)',
      'header nested = {a: 1 (Byte), b: x (ByteArrayLongString)}',
      'header nothing = null',
      'header str = ü€ (ByteArrayLongString)',
      'header yes = true (Boolean)',
    ],
    deathTypes: ['Long', 'ByteArrayLongString', 'ByteArrayLongString', 'Date'],
    recovers: true,
  },
  {
    name: 'Go',
    packages: 'golang-go golang-github-rabbitmq-amqp091-go-dev',
    ready: existsSync(path.join(GOPATH, 'src/github.com/rabbitmq/amqp091-go')) && works('go', ['version']),
    async build(dir) {
      const binary = path.join(dir, 'go_client');
      // Debian's packaged sources, without modules (nothing is fetched); its own build cache.
      const env = ['GO111MODULE=off', `GOPATH=${GOPATH}`, `GOCACHE=${path.join(dir, 'cache')}`];
      await runOk('env', [...env, 'go', 'build', '-o', binary, path.join(HERE, 'go_client.go')], { timeoutMs: 120_000 });
      return [binary];
    },
    headers: [
      ...HEADERS_HEAD,
      'header big = 1099511627776 (int64)',
      'header frac = 1.5 (float64)',
      'header int = 5 (int8)',
      'header list = [1 (int8), two (string), false (bool)]',
      'header neg = -70000 (int32)',
      'header nested = {a: 1 (int8), b: x (string)}',
      'header nothing = nil',
      'header str = ü€ (string)',
      'header yes = true (bool)',
    ],
    deathTypes: ['int64', 'string', 'string', 'time.Time'],
    recovers: false,
  },
];

describe.each(CLIENTS)('RabbitMQ $name client (skipped without: apt-get install $packages)', (client) => {
  let broker: RunningBroker;
  let dir: string;
  let command: string[];
  const scenario = (name: string, ...args: string[]) =>
    runOk(command[0], [...command.slice(1), broker.url, name, uniq(client.name.toLowerCase()), ...args]).then((lines) =>
      lines.filter((l) => !l.startsWith('SLF4J')),
    );

  beforeAll(async () => {
    if (!client.ready) return;
    dir = mkdtempSync(path.join(os.tmpdir(), 'warren-client-'));
    command = await client.build(dir);
    broker = await start(2);
  }, 130_000);
  afterAll(async () => {
    await broker?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!client.ready)('2,000 numbered persistent publishes are confirmed, then consumed with prefetch 50 and acks: each once, in order', async () => {
    expect(await scenario('confirms', '2000')).toEqual(['confirmed 2000', 'ready 2000', 'got 2000 in order', 'remaining 0', 'done']);
  });

  it.skipIf(!client.ready)('basic.nack with requeue brings the message back redelivered; without, it is gone', async () => {
    expect(await scenario('nack')).toEqual(['got again redelivered=true, dropped redelivered=false', 'remaining 0', 'done']);
  });

  it.skipIf(!client.ready)('a mandatory publish with no route comes back to the client', async () => {
    const lines = await scenario('return');
    expect(lines[0]).toMatch(/^returned 312 NO_ROUTE [a-z]+-\S+\.nowhere lost$/);
    expect(lines[1]).toBe('done');
  });

  it.skipIf(!client.ready)('exchange.bind routes a fanout into a topic exchange; exchange.unbind stops it', async () => {
    expect(await scenario('e2e')).toEqual(['got routed, routed too; left 0', 'after unbind 0', 'done']);
  });

  it.skipIf(!client.ready)('tx.rollback drops the publishes, tx.commit makes them visible', async () => {
    expect(await scenario('tx')).toEqual(['before commit 0', 'after rollback 0', 'after commit 5', 'done']);
  });

  it.skipIf(!client.ready)("channel errors come with RabbitMQ's codes and texts, and the connection goes on", async () => {
    const lines = await scenario('errors');
    expect(lines[0]).toMatch(/^closed 404 NOT_FOUND - no queue '[a-z]+-\S+\.missing' in vhost '\/'$/);
    expect(lines[1]).toBe('channel open false');
    expect(lines[2]).toMatch(/^closed 406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue '[a-z]+-\S+\.x' in vhost '\/': received 'true' but current is 'false'$/);
    expect(lines.slice(3)).toEqual(['connection open true', 'done']);
  });

  it.skipIf(!client.ready)('a consumer whose queue is deleted hears basic.cancel', async () => {
    expect(await scenario('cancel')).toEqual(['cancelled by the broker true', 'done']);
  });

  it.skipIf(!client.ready)('a rejected message is dead-lettered with the x-death header RabbitMQ writes, in the types it writes', async () => {
    const [count, name, key, time] = client.deathTypes;
    expect(await scenario('dead-letter')).toEqual([
      'dead-lettered doomed to true',
      `x-death count = 1 (${count})`,
      `x-death exchange =  (${name})`,
      `x-death queue = P.work (${name})`,
      `x-death reason = rejected (${name})`,
      `x-death routing-keys = [P.work (${key})]`,
      `x-death time = (${time})`,
      'header x-death',
      'header x-first-death-exchange',
      'header x-first-death-queue',
      'header x-first-death-reason',
      'done',
    ]);
  });

  it.skipIf(!client.ready)('connection.blocked and unblocked reach the client; its publish waits for the unblock', async () => {
    const prefix = uniq(client.name.toLowerCase());
    const child = converse(command[0], [...command.slice(1), broker.url, 'blocked', prefix]);
    const conn = await connect(broker.url);
    try {
      expect(await child.next(), child.stderr()).toBe('ready');
      expect(broker.faults.blockPublishers({ name: prefix })).toBe(1);
      child.send('go');
      expect(await child.next(), child.stderr()).toBe('blocked blocked by a test fault');
      // Held, in one write (Java's) or several (Go's): a RabbitMQ in memory alarm holds both.
      await sleep(200);
      expect((await (await channel(conn)).checkQueue(`${prefix}.q`)).messageCount).toBe(0);
      expect(broker.faults.unblockPublishers({ name: prefix })).toBe(1);
      expect([await child.next(), await child.next(), await child.next()], child.stderr()).toEqual(['unblocked', 'count 1', 'done']);
      expect((await (await channel(conn)).checkQueue(`${prefix}.q`)).messageCount).toBe(1);
    } finally {
      child.end();
      await conn.close();
    }
  });

  it.skipIf(!client.ready || !client.recovers)('recovers its connections, consumers and server-named queue across faults.restart(): all 1,000 numbered messages arrive', async () => {
    const prefix = uniq(client.name.toLowerCase());
    const child = converse(command[0], [...command.slice(1), broker.url, 'recover', prefix], 40_000);
    const next = async () => {
      for (;;) {
        const line = await child.next();
        if (!line?.startsWith('SLF4J')) return line;
      }
    };
    await recoversAcrossRestart(child, () => broker.faults.restart({ downMs: 300 }), next);
    const conn = await connect(broker.url);
    await (await channel(conn)).deleteQueue(`${prefix}.q`);
    await conn.close();
  });

  it.skipIf(!client.ready)('amqplib publishes properties and headers of many types; the client reads them as RabbitMQ hands them over', async () => {
    const conn = await connect(broker.url);
    try {
      const ch = await channel(conn);
      const q = uniq('amqplib-to-client');
      await ch.assertQueue(q);
      ch.sendToQueue(q, Buffer.from('héllo'), {
        contentType: 'text/plain',
        priority: 3,
        correlationId: 'c-1',
        persistent: true,
        headers: { int: 5, big: 2 ** 40, neg: -70_000, frac: 1.5, str: 'ü€', yes: true, nested: { a: 1, b: 'x' }, list: [1, 'two', false], nothing: null },
      });
      await ch.checkQueue(q); // the publish is in before the child looks
      expect(await scenario('headers', q)).toEqual([...client.headers, 'done']);
      expect((await ch.checkQueue(q)).messageCount).toBe(0);
      await ch.deleteQueue(q);
    } finally {
      await conn.close();
    }
  });
});
