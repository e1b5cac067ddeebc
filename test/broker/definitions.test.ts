/**
 * Durable definitions on disk: what a broker with a data dir keeps across a
 * restart (exactly the durable exchanges, queues and the bindings between
 * durable ends), RabbitMQ's definitions format both ways, and the lock that
 * keeps a second broker off a data dir in use.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, bodies, channel, closedWith, connect, eventually, exchangeExists, queueExists, refused, sleep, subscribe } from '../helpers.js';

const TEMP = mkdtempSync(path.join(os.tmpdir(), 'warren-defs-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));
const freshDir = () => mkdtempSync(path.join(TEMP, 'data-'));

const readDefs = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'definitions.json'), 'utf8'));

/** A pid no process has: one that just exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

describe.each(MODES)('durable definitions: $name', ({ workers }) => {
  const start = (dataDir: string): Promise<RunningBroker> => startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });

  it('a restart brings back exactly the durable exchanges, queues and bindings, and they route', async () => {
    const dir = freshDir();
    let broker = await start(dir);
    let conn = await connect(broker.url);
    let ch = await channel(conn);
    await ch.assertExchange('d-topic', 'topic', { durable: true });
    await ch.assertExchange('d-fanout', 'fanout', { durable: true });
    await ch.assertExchange('d-headers', 'headers', { durable: true, arguments: { 'alternate-exchange': 'd-fanout' } });
    await ch.assertExchange('t-direct', 'direct', { durable: false });
    await ch.assertQueue('d-queue', { durable: true, arguments: { 'x-max-length': 100, 'x-queue-mode': 'lazy' } });
    await ch.assertQueue('d-second', { durable: true });
    await ch.assertQueue('t-queue', { durable: false });
    await ch.assertQueue('d-exclusive', { durable: true, exclusive: true });
    await ch.assertQueue('d-gone', { durable: true });
    await ch.deleteQueue('d-gone');
    await ch.bindQueue('d-queue', 'd-topic', 'a.*');
    await ch.bindQueue('d-queue', 'amq.direct', 'k');
    await ch.bindQueue('d-second', 'd-headers', '', { 'x-match': 'all', colour: 'blue', size: 3 });
    await ch.bindExchange('d-topic', 'd-fanout', '');
    // Not stored: one end is transient, or exclusive.
    await ch.bindQueue('t-queue', 'd-topic', '#');
    await ch.bindQueue('d-queue', 't-direct', 'x');
    await ch.bindQueue('d-exclusive', 'd-topic', '#');
    // Messages are not kept yet.
    ch.sendToQueue('d-queue', Buffer.from('in memory only'));
    await conn.close();
    await broker.close();

    const defs = readDefs(dir);
    // The release the management API's overview reports too.
    expect(defs.rabbit_version).toBe('3.10.8');
    expect(defs.vhosts).toEqual([{ name: '/' }]);
    // The default user, stored only as a salted hash.
    expect(defs.users).toEqual([{ name: 'guest', password_hash: expect.any(String), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'], limits: {} }]);
    expect(defs.users[0].password_hash).not.toContain('guest');
    expect(defs.permissions).toEqual([{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }]);
    expect(defs.exchanges.map((x: any) => x.name).sort()).toEqual(['d-fanout', 'd-headers', 'd-topic']);
    expect(defs.exchanges.find((x: any) => x.name === 'd-headers')).toEqual({
      name: 'd-headers',
      vhost: '/',
      type: 'headers',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: { 'alternate-exchange': 'd-fanout' },
    });
    expect(defs.queues.map((q: any) => q.name).sort()).toEqual(['d-queue', 'd-second']);
    expect(defs.queues.find((q: any) => q.name === 'd-queue')).toEqual({
      name: 'd-queue',
      vhost: '/',
      type: 'classic',
      durable: true,
      auto_delete: false,
      arguments: { 'x-max-length': 100, 'x-queue-mode': 'lazy' },
    });
    const binding = (b: any) => `${b.source} -> ${b.destination_type} ${b.destination} [${b.routing_key}]`;
    expect(defs.bindings.map(binding).sort()).toEqual([
      'amq.direct -> queue d-queue [k]',
      'd-fanout -> exchange d-topic []',
      'd-headers -> queue d-second []',
      'd-topic -> queue d-queue [a.*]',
    ]);
    expect(defs.bindings.find((b: any) => b.source === 'd-headers').arguments).toEqual({ 'x-match': 'all', colour: 'blue', size: 3 });

    broker = await start(dir);
    try {
      conn = await connect(broker.url);
      ch = await channel(conn);
      for (const x of ['d-topic', 'd-fanout', 'd-headers']) expect(await exchangeExists(conn, x), x).toBe(true);
      expect(await exchangeExists(conn, 't-direct')).toBe(false);
      for (const q of ['d-queue', 'd-second']) expect(await queueExists(conn, q), q).toBe(true);
      for (const q of ['t-queue', 'd-exclusive', 'd-gone']) expect(await queueExists(conn, q), q).toBe(false);
      expect((await ch.checkQueue('d-queue')).messageCount).toBe(0);
      // Flags and arguments came back: an equivalent redeclare is fine, a different one is refused.
      await ch.assertQueue('d-queue', { durable: true, arguments: { 'x-max-length': 100, 'x-queue-mode': 'lazy' } });
      await ch.assertExchange('d-headers', 'headers', { durable: true, arguments: { 'alternate-exchange': 'd-fanout' } });
      expect((await refused((await channel(conn)).assertQueue('d-queue', { durable: true }))).code).toBe(406);

      const inbox = await subscribe(ch, 'd-queue');
      const second = await subscribe(ch, 'd-second');
      ch.publish('d-fanout', 'a.b', Buffer.from('1 via fanout -> topic'));
      ch.publish('d-topic', 'a.c', Buffer.from('2 via topic'));
      ch.publish('amq.direct', 'k', Buffer.from('3 via amq.direct'));
      ch.publish('d-topic', 'b.c', Buffer.from('unrouted'));
      ch.publish('d-headers', '', Buffer.from('4 headers match'), { headers: { colour: 'blue', size: 3 } });
      ch.publish('d-headers', '', Buffer.from('headers miss'), { headers: { colour: 'red', size: 3 } });
      ch.sendToQueue('d-queue', Buffer.from('5 last'));
      expect(bodies(await inbox.waitFor(4))).toEqual(['1 via fanout -> topic', '2 via topic', '3 via amq.direct', '5 last']);
      expect(bodies(await second.waitFor(1))).toEqual(['4 headers match']);
      await sleep(50);
      expect(inbox.messages).toHaveLength(4);
      expect(second.messages).toHaveLength(1);
      await conn.close();
    } finally {
      await broker.close();
    }
  });

  it('a durable server-named queue comes back under its amq.gen name with its messages (a client may not declare that name again, the restart does)', async () => {
    const dir = freshDir();
    let broker = await start(dir);
    let conn = await connect(broker.url);
    const confirms = await conn.createConfirmChannel();
    const { queue } = await confirms.assertQueue('', { durable: true });
    expect(queue).toMatch(/^amq\.gen-/);
    for (let i = 0; i < 5; i++) confirms.sendToQueue(queue, Buffer.from(`m${i}`), { persistent: true });
    await confirms.waitForConfirms();
    await conn.close();
    await broker.close();
    broker = await start(dir);
    try {
      conn = await connect(broker.url);
      const ch = await channel(conn);
      expect(await ch.checkQueue(queue)).toEqual({ queue, messageCount: 5, consumerCount: 0 });
      expect(bodies(await (await subscribe(ch, queue)).waitFor(5))).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      expect((await refused((await channel(conn)).assertQueue(queue, { durable: true }))).code).toBe(403);
      await conn.close();
    } finally {
      await broker.close();
    }
  });

  it('deletes and unbinds are kept too; transient changes never touch the file', async () => {
    const dir = freshDir();
    let broker = await start(dir);
    const conn = await connect(broker.url);
    const ch = await channel(conn);
    await ch.assertExchange('x', 'direct', { durable: true });
    await ch.assertExchange('x-auto', 'fanout', { durable: true, autoDelete: true });
    await ch.assertQueue('q1', { durable: true });
    await ch.assertQueue('q2', { durable: true });
    await ch.bindQueue('q1', 'x', 'one');
    await ch.bindQueue('q1', 'x', 'two');
    await ch.bindQueue('q2', 'x-auto', '');
    const file = path.join(dir, 'definitions.json');
    const sawBindings = async (count: number) => {
      for (let i = 0; i < 100 && (readDefsSafe(dir)?.bindings?.length ?? -1) !== count; i++) await sleep(20);
      expect(readDefs(dir).bindings).toHaveLength(count);
    };
    await sawBindings(3);

    // Transient churn: no write at all.
    const before = statSync(file).mtimeMs;
    const written = readFileSync(file, 'utf8');
    for (let i = 0; i < 20; i++) {
      await ch.assertQueue(`t${i}`, { durable: false });
      await ch.bindQueue(`t${i}`, 'x', 'one');
      await ch.assertExchange(`tx${i}`, 'topic', { durable: false });
      await ch.deleteQueue(`t${i}`);
    }
    await sleep(100);
    expect(statSync(file).mtimeMs).toBe(before);
    expect(readFileSync(file, 'utf8')).toBe(written);

    await ch.unbindQueue('q1', 'x', 'two');
    await ch.deleteQueue('q2'); // x-auto loses its last binding and goes (auto-delete)
    await sawBindings(1);
    await conn.close();
    await broker.close();

    broker = await start(dir);
    try {
      const defs = readDefs(dir);
      expect(defs.exchanges.map((x: any) => x.name)).toEqual(['x']);
      expect(defs.queues.map((q: any) => q.name)).toEqual(['q1']);
      const c = await connect(broker.url);
      expect(await exchangeExists(c, 'x-auto')).toBe(false);
      expect(await queueExists(c, 'q2')).toBe(false);
      const cc = await channel(c);
      const inbox = await subscribe(cc, 'q1');
      cc.publish('x', 'two', Buffer.from('unbound'));
      cc.publish('x', 'one', Buffer.from('bound'));
      expect(bodies(await inbox.waitFor(1))).toEqual(['bound']);
      await sleep(50);
      expect(inbox.messages).toHaveLength(1);
      await c.close();
    } finally {
      await broker.close();
    }
  });

  it('a shutdown keeps what was stored when it began: a durable auto-delete queue whose consumer the shutdown cancels comes back', async () => {
    const dir = freshDir();
    let broker = await start(dir);
    const conn = await connect(broker.url);
    const ch = await channel(conn);
    await ch.assertQueue('d-auto', { durable: true, autoDelete: true });
    await subscribe(ch, 'd-auto');
    await broker.close(); // closes the connection, which cancels the consumer, which deletes the queue
    expect(readDefs(dir).queues.map((q: any) => q.name)).toEqual(['d-auto']);
    broker = await start(dir);
    try {
      expect(await queueExists(await connect(broker.url), 'd-auto')).toBe(true);
    } finally {
      await broker.close();
    }
  });

  it('many durable declares at once end up in the file, all of them', async () => {
    const dir = freshDir();
    const broker = await start(dir);
    try {
      const conn = await connect(broker.url);
      const ch = await channel(conn);
      await Promise.all(Array.from({ length: 300 }, (_, i) => ch.assertQueue(`burst-${i}`, { durable: true })));
      await conn.close();
    } finally {
      await broker.close();
    }
    const names = readDefs(dir).queues.map((q: any) => q.name);
    expect(new Set(names)).toEqual(new Set(Array.from({ length: 300 }, (_, i) => `burst-${i}`)));
  });

  it('a write that fails (the disk full) is tried again with no further change: what was declared meanwhile reaches the file', async () => {
    const dir = freshDir();
    const broker = await start(dir);
    try {
      const conn = await connect(broker.url);
      const ch = await channel(conn);
      await ch.assertQueue('before', { durable: true });
      await sleep(100);
      // The temp file's name taken by a directory: every write fails, as on a full disk.
      mkdirSync(path.join(dir, 'definitions.json.tmp'));
      await ch.assertQueue('while-failing', { durable: true });
      await sleep(300);
      expect(readDefs(dir).queues.map((q: any) => q.name)).toEqual(['before']);
      rmSync(path.join(dir, 'definitions.json.tmp'), { recursive: true });
      await eventually(() => expect(readDefs(dir).queues.map((q: any) => q.name).sort()).toEqual(['before', 'while-failing']), 5000);
      expect(await queueExists(conn, 'while-failing')).toBe(true);
      await conn.close();
    } finally {
      await broker.close();
    }
  });

  it('loads a definitions file written by hand in RabbitMQ format', async () => {
    const dir = freshDir();
    // As `rabbitmqctl export_definitions` writes it, with the parts warren does not use yet.
    const rabbit = {
      rabbit_version: '3.12.13',
      rabbitmq_version: '3.12.13',
      product_name: 'RabbitMQ',
      product_version: '3.12.13',
      users: [{ name: 'guest', password_hash: 'ORGXdwcjWMbmqOShFHSFncWsy1+1+lgaYavxcdJylReu2uIV', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'], limits: {} }],
      vhosts: [{ name: '/' }],
      permissions: [{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
      topic_permissions: [],
      parameters: [],
      global_parameters: [{ name: 'cluster_name', value: 'rabbit@host' }],
      policies: [],
      queues: [
        { name: 'orders', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' } },
        { name: 'audit', vhost: '/', durable: true, auto_delete: false, arguments: {} },
      ],
      exchanges: [
        { name: 'shop', vhost: '/', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} },
        { name: 'shop.audit', vhost: '/', type: 'fanout', durable: true, auto_delete: false, internal: true, arguments: {} },
      ],
      bindings: [
        { source: 'shop', vhost: '/', destination: 'orders', destination_type: 'queue', routing_key: 'order.#', arguments: {} },
        { source: 'shop', vhost: '/', destination: 'shop.audit', destination_type: 'exchange', routing_key: '#', arguments: {} },
        { source: 'shop.audit', vhost: '/', destination: 'audit', destination_type: 'queue', routing_key: '', arguments: {} },
      ],
    };
    writeFileSync(path.join(dir, 'definitions.json'), JSON.stringify(rabbit));
    const broker = await start(dir);
    try {
      const conn = await connect(broker.url);
      const ch = await channel(conn);
      await ch.assertQueue('orders', { durable: true, arguments: { 'x-queue-type': 'classic' } });
      const orders = await subscribe(ch, 'orders');
      const audit = await subscribe(ch, 'audit');
      for (let i = 1; i <= 5; i++) ch.publish('shop', `order.${i}`, Buffer.from(`order ${i}`));
      ch.publish('shop', 'refund.1', Buffer.from('refund 1'));
      expect(bodies(await orders.waitFor(5))).toEqual(['order 1', 'order 2', 'order 3', 'order 4', 'order 5']);
      expect(bodies(await audit.waitFor(6))).toEqual(['order 1', 'order 2', 'order 3', 'order 4', 'order 5', 'refund 1']);
      // shop.audit kept its internal flag: no direct publishes.
      const direct = await channel(conn);
      const closed = closedWith(direct);
      direct.publish('shop.audit', '', Buffer.from('direct'));
      expect((await closed).code).toBe(403);
      await conn.close();
    } finally {
      await broker.close();
    }
  });

  it('a definitions file it cannot use stops the start with a line naming the file and the entry, and frees the lock', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'definitions.json');
    writeFileSync(file, '{ "queues": [ ');
    await expect(start(dir)).rejects.toThrow(`${file} is not a definitions file`);
    writeFileSync(file, `{ "queues": [ { "name": "q", "vhost": "/", "durable": true, "arguments": { "x": ${'['.repeat(20_000)}${']'.repeat(20_000)} } } ] }`);
    await expect(start(dir)).rejects.toThrow(`${file} is not a definitions file: nested deeper than 108 levels`);
    writeFileSync(file, JSON.stringify({ exchanges: [{ name: 'e', vhost: '/', type: 'x-unknown', durable: true }] }));
    await expect(start(dir)).rejects.toThrow(`${file}: exchange 'e' in vhost '/': COMMAND_INVALID - unknown exchange type 'x-unknown'`);
    writeFileSync(file, JSON.stringify({ bindings: [{ source: 'nowhere', vhost: '/', destination: 'q', destination_type: 'queue', routing_key: '' }] }));
    await expect(start(dir)).rejects.toThrow(`binding from 'nowhere' to 'q' in vhost '/': NOT_FOUND - no exchange 'nowhere' in vhost '/'`);
    writeFileSync(file, JSON.stringify({ queues: [{ name: 'q', vhost: '/', durable: 'yes' }] }));
    await expect(start(dir)).rejects.toThrow(`${file}: durable of queue 'q' must be true or false, got "yes"`);
    writeFileSync(file, JSON.stringify({ queues: [{ name: 'fine', vhost: '/', durable: true, auto_delete: false, arguments: {} }] }));
    const broker = await start(dir);
    await broker.close();
  });

  it('a second broker on a data dir in use is refused with the holder’s pid; a stale lock is taken over', async () => {
    const dir = freshDir();
    const first = await start(dir);
    try {
      await expect(start(dir)).rejects.toThrow(`data directory ${dir} is in use by pid ${process.pid}`);
      // The refused start did not take the lock from the first.
      await expect(start(dir)).rejects.toThrow('is in use');
    } finally {
      await first.close();
    }
    // Closed: free again.
    const second = await start(dir);
    await second.close();

    const lock = path.join(dir, 'warren.lock');
    writeFileSync(lock, `${await deadPid()}\n`);
    const third = await start(dir);
    try {
      expect(readFileSync(lock, 'utf8')).toBe(`${process.pid}\n`);
    } finally {
      await third.close();
    }
    expect(existsSync(lock)).toBe(false);
    // A lock with our own pid that we do not hold: left by an earlier process that had
    // the same pid (a restarted container), so stale.
    writeFileSync(lock, `${process.pid}\n`);
    const fourth = await start(dir);
    await fourth.close();
  });

  it.skipIf(!existsSync('/proc/self/stat'))('a lock held by a killed broker its parent has not reaped (a zombie) is stale', async () => {
    // The child exits soon; its parent execs into sleep, which never reaps it, as
    // a container's first process may never reap an orphaned broker. (A child that
    // exited before the exec could be reaped by sh first: once in a full run it was.)
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = Number((await once(parent.stdout!, 'data'))[0]);
      const state = () => readFileSync(`/proc/${zombie}/stat`, 'latin1').split(') ')[1][0];
      for (let i = 0; i < 100 && state() !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(state()).toBe('Z');
      const dir = freshDir();
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'warren.lock'), `${zombie}\n`);
      const broker = await start(dir);
      expect(readFileSync(path.join(dir, 'warren.lock'), 'utf8')).toBe(`${process.pid}\n`);
      await broker.close();
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('brokers without a data dir', () => {
  it('keep nothing: startBroker() is in memory', async () => {
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers: 0 });
    try {
      expect(broker.broker.options.dataDir).toBeUndefined();
      const conn = await connect(broker.url);
      await (await channel(conn)).assertQueue('in-memory-durable', { durable: true });
      await conn.close();
    } finally {
      await broker.close();
    }
    const again = await startBroker({ port: 0, host: '127.0.0.1', workers: 0 });
    try {
      expect(await queueExists(await connect(again.url), 'in-memory-durable')).toBe(false);
    } finally {
      await again.close();
    }
  });
});

function readDefsSafe(dir: string): any {
  try {
    return readDefs(dir);
  } catch {
    return undefined;
  }
}
