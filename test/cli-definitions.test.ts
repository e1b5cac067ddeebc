/**
 * `warren definitions export|import` and `--definitions FILE`, run as a user
 * runs them: child processes, each with its own data dir, checked with amqplib.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { MODES, WARREN_MAIN as MAIN, runWarren } from './helpers.js';


const TEMP = mkdtempSync(path.join(os.tmpdir(), 'warren-defs-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

const freshDir = () => mkdtempSync(path.join(TEMP, 'data-'));
const envFor = (dir: string) => ({ ...process.env, WARREN_DATA_DIR: dir });

/** Starts a broker; resolves with the child and the port of its ready line. */
async function startBroker(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcessWithoutNullStreams; port: number }> {
  const child = spawn(process.execPath, [MAIN, '--port', '0', '--host', '127.0.0.1', ...args], { env });
  let output = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('\n')) resolve(output.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`warren exited with ${code} before it was ready: ${stderr}`)));
  });
  return { child, port: Number(/ port (\d+) /.exec(line)![1]) };
}

async function stop(child: ChildProcessWithoutNullStreams): Promise<void> {
  child.kill('SIGTERM');
  expect((await once(child, 'exit'))[0]).toBe(0);
}

const run = runWarren;

/** Expects exit 1 and exactly one line on stderr, no stack. */
function oneLine(result: { code: number | null; stderr: string }, expected: string | RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stderr.trimEnd().split('\n')).toEqual([typeof expected === 'string' ? expected : expect.stringMatching(expected)]);
}

/** What a user exports from RabbitMQ, written by hand: a topic exchange, a queue, a binding, in a second vhost too. */
const RABBIT_FILE = {
  rabbit_version: '3.13.7',
  rabbitmq_version: '3.13.7',
  product_name: 'RabbitMQ',
  users: [{ name: 'guest', password_hash: 'ORGXdwcjWMbmqOShFHSFncWsy1+1+lgaYavxcdJylReu2uIV', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'], limits: {} }],
  vhosts: [{ name: '/', metadata: { description: 'Default virtual host', tags: [] } }],
  permissions: [{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
  topic_permissions: [],
  parameters: [],
  global_parameters: [],
  policies: [{ vhost: '/', name: 'one-here', pattern: '^already\\.here$', 'apply-to': 'queues', definition: { 'max-length': 1 }, priority: 0 }],
  queues: [{ name: 'orders.eu', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' } }],
  exchanges: [{ name: 'orders', vhost: '/', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} }],
  bindings: [{ source: 'orders', vhost: '/', destination: 'orders.eu', destination_type: 'queue', routing_key: 'eu.#', arguments: {} }],
};

/** Publishes `count` numbered messages to `exchange` and expects each once in `queue`, in order. */
async function expectRouted(port: number, exchange: string, routingKey: string, queue: string, count: number): Promise<void> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  try {
    const ch = await conn.createConfirmChannel();
    for (let i = 0; i < count; i++) ch.publish(exchange, routingKey, Buffer.from(`m${i}`), { mandatory: true });
    await ch.waitForConfirms();
    const got: string[] = [];
    for (let tries = 0; got.length < count && tries < 200; tries++) {
      const msg = await ch.get(queue, { noAck: true });
      if (msg) got.push(msg.content.toString());
      else await new Promise((r) => setTimeout(r, 10));
    }
    expect(got).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
  } finally {
    await conn.close();
  }
}

describe('warren definitions', () => {
  it('export writes what a running broker keeps, in RabbitMQ field names, to a file and to stdout', async () => {
    const dir = freshDir();
    const { child, port } = await startBroker(['--workers', '1'], envFor(dir));
    try {
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
      const ch = await conn.createChannel();
      await ch.assertExchange('ex.kept', 'direct', { durable: true });
      await ch.assertQueue('q.kept', { durable: true, arguments: { 'x-max-length': 10 } });
      await ch.assertQueue('q.gone', { durable: false });
      await ch.bindQueue('q.kept', 'ex.kept', 'rk');
      await conn.close();
      // The broker writes soon after the -ok: wait for the binding, then export while it runs.
      const stored = path.join(dir, 'definitions.json');
      for (let i = 0; i < 100 && !(existsSync(stored) && readFileSync(stored, 'utf8').includes('"rk"')); i++) await new Promise((r) => setTimeout(r, 20));

      const file = path.join(dir, '..', `${path.basename(dir)}-export.json`);
      const result = await run(['definitions', 'export', file], envFor(dir));
      expect(result.code, result.stderr).toBe(0);
      const text = readFileSync(file, 'utf8');
      expect(text, 'pretty-printed').toContain('\n  "exchanges": [');
      const defs = JSON.parse(text);
      expect(defs.rabbit_version).toMatch(/^3\./);
      expect(defs.exchanges).toEqual([{ name: 'ex.kept', vhost: '/', type: 'direct', durable: true, auto_delete: false, internal: false, arguments: {} }]);
      expect(defs.queues).toEqual([{ name: 'q.kept', vhost: '/', type: 'classic', durable: true, auto_delete: false, arguments: { 'x-max-length': 10 } }]);
      expect(defs.bindings).toEqual([{ source: 'ex.kept', vhost: '/', destination: 'q.kept', destination_type: 'queue', routing_key: 'rk', arguments: {} }]);

      const stdout = await run(['definitions', 'export', '-', '--data-dir', dir], envFor(freshDir()));
      expect(stdout.code).toBe(0);
      expect(JSON.parse(stdout.stdout)).toEqual(defs);
    } finally {
      await stop(child);
    }
  });

  for (const mode of MODES) {
    it(`import of a RabbitMQ file into a stopped data dir, then a broker on it routes through the imported topology (${mode.name})`, async () => {
      const dir = freshDir();
      // Something already stored: kept by the merge, and its same-named queue replaced.
      const first = await startBroker(['--workers', '0'], envFor(dir));
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${first.port}`);
      const ch = await conn.createChannel();
      await ch.assertQueue('already.here', { durable: true });
      await ch.assertQueue('orders.eu', { durable: true, arguments: { 'x-max-length': 1 } });
      await conn.close();
      await stop(first.child);

      const file = path.join(dir, '..', `${path.basename(dir)}-rabbit.json`);
      writeFileSync(file, JSON.stringify(RABBIT_FILE));
      const result = await run(['definitions', 'import', file], envFor(dir));
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
      expect(existsSync(path.join(dir, 'warren.lock')), 'the lock is released').toBe(false);
      const stored = JSON.parse(readFileSync(path.join(dir, 'definitions.json'), 'utf8'));
      expect(stored.queues.map((q: { name: string }) => q.name).sort()).toEqual(['already.here', 'orders.eu']);
      expect(stored.policies).toEqual(RABBIT_FILE.policies);

      const { child, port } = await startBroker(['--workers', String(mode.workers)], envFor(dir));
      try {
        const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
        const check = await c.createChannel();
        await check.checkExchange('orders');
        expect(await check.checkQueue('already.here')).toMatchObject({ queue: 'already.here' });
        // The file's queue replaced the stored one: a declare with the stored x-max-length is now 406.
        await check.assertQueue('orders.eu', { durable: true, arguments: { 'x-queue-type': 'classic' } });
        check.on('error', () => {});
        await expect(check.assertQueue('orders.eu', { durable: true, arguments: { 'x-max-length': 1 } })).rejects.toThrow(/406/);
        await c.close().catch(() => {});
        await expectRouted(port, 'orders', 'eu.paris', 'orders.eu', 5);
        // The file's policy holds the stored queue to one message.
        const c2 = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
        const limited = await c2.createConfirmChannel();
        for (const body of ['a', 'b', 'c']) limited.sendToQueue('already.here', Buffer.from(body));
        await limited.waitForConfirms();
        expect(await limited.checkQueue('already.here')).toMatchObject({ messageCount: 1 });
        await c2.close();
      } finally {
        await stop(child);
      }
    });
  }

  it('import is refused with one line while a broker holds the data dir, and changes nothing', async () => {
    const dir = freshDir();
    const { child } = await startBroker(['--workers', '0'], envFor(dir));
    try {
      const file = path.join(dir, '..', `${path.basename(dir)}-rabbit.json`);
      writeFileSync(file, JSON.stringify(RABBIT_FILE));
      const before = existsSync(path.join(dir, 'definitions.json')) ? readFileSync(path.join(dir, 'definitions.json'), 'utf8') : null;
      oneLine(await run(['definitions', 'import', file], envFor(dir)), `warren: stop the broker first: data directory ${dir} is in use by pid ${child.pid}`);
      const after = existsSync(path.join(dir, 'definitions.json')) ? readFileSync(path.join(dir, 'definitions.json'), 'utf8') : null;
      expect(after).toBe(before);
      expect(readFileSync(path.join(dir, 'warren.lock'), 'utf8')).toBe(`${child.pid}\n`);
    } finally {
      await stop(child);
    }
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{"queues": [', /^warren: \S+ is not a definitions file: /],
    ['a queue whose durable is a string', JSON.stringify({ queues: [{ name: 'q', vhost: '/', durable: 'yes' }] }), /: durable of queue 'q' must be true or false, got "yes"$/],
    ['a binding of an unknown destination_type', JSON.stringify({ bindings: [{ source: 'amq.direct', destination: 'q', destination_type: 'stream', routing_key: '' }] }), /: binding from 'amq\.direct' to 'q': destination_type must be 'queue' or 'exchange'$/],
    ['a binding to a queue that is nowhere', JSON.stringify({ bindings: [{ source: 'amq.direct', vhost: '/', destination: 'missing', destination_type: 'queue', routing_key: 'k' }] }), /: binding from 'amq\.direct' to 'missing' in vhost '\/': NOT_FOUND - .*'missing'/],
    ['a policy RabbitMQ would refuse', JSON.stringify({ policies: [{ vhost: '/', name: 'p', pattern: '.*', definition: { 'max-length': -1 } }] }), /: policy 'p' in vhost '\/': -1 is not a valid maximum length$/],
    ['an exchange of an unknown type', JSON.stringify({ exchanges: [{ name: 'x', vhost: '/', type: 'x-nope', durable: true }] }), /: exchange 'x' in vhost '\/': .*x-nope/],
  ];
  for (const [what, text, expected] of bad) {
    it(`import of ${what} is one line, exit 1, and leaves the data dir as it was`, async () => {
      const dir = freshDir();
      const file = path.join(dir, '..', `${path.basename(dir)}-bad.json`);
      writeFileSync(file, text);
      const result = await run(['definitions', 'import', file], envFor(dir));
      oneLine(result, expected);
      expect(result.stderr).toContain(file);
      expect(existsSync(path.join(dir, 'definitions.json'))).toBe(false);
      expect(existsSync(path.join(dir, 'warren.lock'))).toBe(false);
    });
  }

  it('usage errors are one line and exit 2', async () => {
    const env = envFor(freshDir());
    for (const [args, expected] of [
      [['definitions'], /^warren: definitions needs 'export FILE' or 'import FILE'/],
      [['definitions', 'import'], /^warren: definitions import needs a FILE/],
      [['definitions', 'export', 'a', 'b'], /^warren: unexpected argument 'b'/],
      [['definitions', 'export', 'a', '--bogus'], /^warren: unknown option '--bogus'/],
    ] as [string[], RegExp][]) {
      const result = await run(args, env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(expected)]);
    }
  });
});

describe('warren --definitions FILE', () => {
  for (const mode of MODES) {
    it(`with --in-memory loads the file's topology at start (${mode.name})`, async () => {
      const file = path.join(freshDir(), 'rabbit.json');
      writeFileSync(file, JSON.stringify(RABBIT_FILE));
      const env = envFor(freshDir());
      const { child, port } = await startBroker(['--workers', String(mode.workers), '--in-memory', '--definitions', file], env);
      try {
        await expectRouted(port, 'orders', 'eu.x', 'orders.eu', 7);
      } finally {
        await stop(child);
      }
      expect(existsSync(path.join(env.WARREN_DATA_DIR, 'definitions.json')), '--in-memory writes nothing').toBe(false);
    });
  }

  it('with a data dir loads after the stored definitions, and keeps what it loaded', async () => {
    const dir = freshDir();
    const file = path.join(dir, '..', `${path.basename(dir)}-rabbit.json`);
    // The file binds to a queue only the data dir has: it must be loaded second.
    writeFileSync(file, JSON.stringify({ ...RABBIT_FILE, queues: [], bindings: [{ ...RABBIT_FILE.bindings[0], destination: 'stored' }] }));
    const first = await startBroker(['--workers', '0'], envFor(dir));
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${first.port}`);
    await (await conn.createChannel()).assertQueue('stored', { durable: true });
    await conn.close();
    await stop(first.child);

    const second = await startBroker(['--workers', '0', '--definitions', file], envFor(dir));
    await expectRouted(second.port, 'orders', 'eu.1', 'stored', 3);
    await stop(second.child);
    // Without the option now: the loaded exchange and binding were kept in the data dir.
    const third = await startBroker(['--workers', '0'], envFor(dir));
    try {
      await expectRouted(third.port, 'orders', 'eu.2', 'stored', 3);
    } finally {
      await stop(third.child);
    }
  });

  it('a bad file stops the start with one line and exit 1', async () => {
    const file = path.join(freshDir(), 'bad.json');
    writeFileSync(file, JSON.stringify({ exchanges: [{ name: 'x', vhost: '/', type: 'topic', internal: 'no' }] }));
    const result = await run(['--port', '0', '--host', '127.0.0.1', '--workers', '0', '--in-memory', '--definitions', file], envFor(freshDir()));
    oneLine(result, `warren: cannot start: ${file}: internal of exchange 'x' must be true or false, got "no"`);
  });
});

describe('users, vhosts and permissions in definitions', () => {
  const withAccess = {
    ...RABBIT_FILE,
    users: [
      ...RABBIT_FILE.users,
      // Made by RabbitMQ 3.10.8's rabbit_password for 'pässwörd € 😀'.
      { name: 'shop-app', password_hash: 'fMXCU2YHj1rsExCo2gxaMKNwVhfR94RwooVI3FCzEfwvI8PI', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: 'management', limits: {} },
    ],
    vhosts: [...RABBIT_FILE.vhosts, { name: 'shop', limits: [], metadata: { description: '', tags: [] } }],
    permissions: [...RABBIT_FILE.permissions, { user: 'shop-app', vhost: 'shop', configure: '^shop\\.', write: '.*', read: '.*' }],
    topic_permissions: [{ user: 'shop-app', vhost: 'shop', exchange: 'amq.topic', write: '^eu\\.', read: '.*' }],
    parameters: [{ vhost: 'shop', component: 'vhost-limits', name: 'limits', value: { 'max-connections': 1 } }],
    queues: [...RABBIT_FILE.queues, { name: 'shop.orders', vhost: 'shop', durable: true, auto_delete: false, arguments: {} }],
  };

  it('import carries users (RabbitMQ hashes), vhosts, permissions, topic permissions and limits; the broker enforces them; export writes them back', async () => {
    const dir = freshDir();
    const file = path.join(dir, '..', `${path.basename(dir)}-access.json`);
    writeFileSync(file, JSON.stringify(withAccess));
    const result = await run(['definitions', 'import', file, '--data-dir', dir], envFor(dir));
    expect(result.code, result.stderr).toBe(0);
    const { child, port } = await startBroker(['--workers', '1'], envFor(dir));
    try {
      const url = `amqp://127.0.0.1:${port}/shop`;
      // amqplib reads a URL's percent-decoded password as latin1: credentials go in as text.
      const login = { credentials: amqp.credentials.plain('shop-app', 'pässwörd € 😀') };
      const conn = await amqp.connect(url, login);
      const ch = await conn.createChannel();
      expect((await ch.checkQueue('shop.orders')).queue).toBe('shop.orders');
      // max-connections 1: a second connection to 'shop' is refused.
      // (amqplib says only "Expected ConnectionOpenOk; got <ConnectionClose channel:0>"; the text is tested in vhosts.test.ts)
      await expect(amqp.connect(url, login)).rejects.toThrow(/got <ConnectionClose/);
      await conn.close();
    } finally {
      await stop(child);
    }
    const exported = JSON.parse((await run(['definitions', 'export', '-', '--data-dir', dir], envFor(dir))).stdout);
    // the broker rewrote the file at start (it keeps its internal_cluster_id): tags as the list RabbitMQ 3.10 exports
    expect(exported.users.find((u: any) => u.name === 'shop-app')).toEqual({ ...withAccess.users[1], tags: ['management'] });
    expect(exported.permissions).toContainEqual(withAccess.permissions[1]);
    expect(exported.topic_permissions).toEqual(withAccess.topic_permissions);
    expect(exported.parameters).toEqual(withAccess.parameters);
  });
});
