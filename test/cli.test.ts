/** `warren` as a user runs it: one ready line, a working broker, a clean stop, one-line errors. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { makePki } from './broker/tls-certs.js';

const MAIN = new URL('../dist/src/cli/main.js', import.meta.url).pathname;
const KILL_SHARD_ON_SIGUSR2 = new URL('./fixtures/kill-shard-on-sigusr2.mjs', import.meta.url).href;

/** Data dirs of this file's brokers, removed at the end. */
const TEMP = mkdtempSync(path.join(os.tmpdir(), 'warren-cli-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

/** Each run gets its own default data dir ($WARREN_DATA_DIR), so runs never share a lock. */
const freshDataDir = () => ({ ...process.env, WARREN_DATA_DIR: mkdtempSync(path.join(TEMP, 'data-')) });

/** Starts warren; resolves with the child and the port from its ready line. */
async function startCli(
  args: string[],
  nodeArgs: string[] = [],
  env: NodeJS.ProcessEnv = freshDataDir(),
): Promise<{ child: ChildProcessWithoutNullStreams; port: number; line: string; stderr: () => string; stdout: () => string }> {
  const child = spawn(process.execPath, [...nodeArgs, MAIN, '--port', '0', '--host', '127.0.0.1', ...args], { env });
  let output = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdout.setEncoding('utf8');
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('\n')) resolve(output.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`warren exited with ${code} before it was ready: ${stderr}`)));
  });
  const match = /listening on 127\.0\.0\.1 port (\d+) /.exec(line);
  expect(match, line).not.toBeNull();
  return { child, port: Number(match![1]), line, stderr: () => stderr, stdout: () => output };
}

/** Runs warren to its exit; resolves with the exit code and stderr. */
async function runCli(args: string[], env: NodeJS.ProcessEnv = freshDataDir()): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { env });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const [code] = await once(child, 'exit');
  return { code, stderr };
}

describe('warren CLI', () => {
  it('prints its address and start-up time, serves clients, and on SIGTERM closes them with 320 and exits 0', async () => {
    const { child, port, line } = await startCli(['--workers', '1']);
    const match = /ready in ([\d.]+) ms/.exec(line);
    expect(Number(match![1])).toBeLessThan(1000);

    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('hi'));
    await new Promise((r) => setTimeout(r, 50));
    const msg = await ch.get(queue, { noAck: true });
    expect(msg && msg.content.toString()).toBe('hi');

    const closed = new Promise<any>((resolve) => conn.once('close', resolve));
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect((await closed)?.code, 'connection.close 320 rather than a reset').toBe(320);
  });

  const usage: [string, string[], RegExp][] = [
    ['an unknown option', ['--bogus'], /^warren: unknown option '--bogus' \(see --help\)$/],
    ['a stray argument', ['stray'], /^warren: unexpected argument 'stray' \(see --help\)$/],
    ['an option without its value', ['--port'], /^warren: option '--port <value>' argument missing \(see --help\)$/],
    ['a port that is not a number', ['--port', 'abc'], /^warren: --port needs an integer from 0 to 65535, got 'abc'/],
    ['a port over 65535', ['--port', '70000'], /^warren: --port needs an integer from 0 to 65535, got '70000'/],
    ['an unknown log level', ['--log-level', 'loud'], /^warren: --log-level needs one of debug, info, warning, error, got 'loud'/],
    ['a heartbeat over a u16', ['--heartbeat', '70000'], /^warren: --heartbeat needs an integer from 0 to 65535, got '70000'/],
    ['a max message size over 512 MiB', ['--max-message-size', '4294967296'], /^warren: --max-message-size needs an integer from 1 to 536870912, got '4294967296'/],
    ['a fractional worker count', ['--workers', '1.5'], /^warren: --workers needs an integer from 0 to 1024, got '1.5'/],
    ['--data-dir with --in-memory', ['--data-dir', 'x', '--in-memory'], /^warren: --data-dir and --in-memory exclude each other \(see --help\)$/],
    ['an empty --default-vhost', ['--default-vhost', ''], /^warren: --default-vhost must be 1 to 255 bytes, got '' \(see --help\)$/],
  ];
  for (const [what, args, expected] of usage) {
    it(`${what} is one line on stderr and exit code 2`, async () => {
      const { code, stderr } = await runCli(args);
      expect(code).toBe(2);
      expect(stderr).not.toContain('    at ');
      expect(stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(expected)]);
    });
  }

  it('prints no connection events by default; --log-level info prints them (a refused login on stderr)', async () => {
    const session = async (args: string[]) => {
      const cli = await startCli(['--workers', '0', '--in-memory', '--management-port', '0', ...args]);
      await amqp.connect(`amqp://guest:nope@127.0.0.1:${cli.port}`).then(
        () => expect.unreachable('a wrong password must be refused'),
        () => {},
      );
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${cli.port}`);
      await conn.close();
      await new Promise((r) => setTimeout(r, 100));
      cli.child.kill('SIGTERM');
      await once(cli.child, 'exit');
      return { stdout: cli.stdout(), stderr: cli.stderr() };
    };
    const quiet = await session([]);
    expect(quiet.stdout.trimEnd().split('\n').slice(1)).toEqual(['warren: SIGTERM, stopping']);
    expect(quiet.stderr).toBe('');
    const verbose = await session(['--log-level', 'info']);
    expect(verbose.stdout).toMatch(/warren: accepting AMQP connection \d+ \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+\)/);
    expect(verbose.stdout).toContain("user 'guest' authenticated and granted access to vhost '/'");
    expect(verbose.stdout).toMatch(/warren: closing AMQP connection \d+ .*vhost: '\/', user: 'guest'/);
    expect(verbose.stderr).toMatch(/^warren: connection \d+ \(.*\): ACCESS_REFUSED - PLAIN login refused: user 'guest' - invalid credentials$/m);
  });

  it('RABBITMQ_DEFAULT_USER, _PASS and _VHOST (RabbitMQ\'s Docker image\'s) make that user and vhost instead of guest and /; the flags win', async () => {
    const env = { ...freshDataDir(), RABBITMQ_DEFAULT_USER: 'app', RABBITMQ_DEFAULT_PASS: 's3cret', RABBITMQ_DEFAULT_VHOST: 'apps' };
    const { child, port } = await startCli(['--in-memory', '--management-port', '0'], [], env);
    try {
      const conn = await amqp.connect(`amqp://app:s3cret@127.0.0.1:${port}/apps`);
      const ch = await conn.createChannel();
      await ch.assertQueue('declared-by-the-default-user'); // full permissions there
      await conn.close();
      await expect(amqp.connect(`amqp://guest:guest@127.0.0.1:${port}/apps`)).rejects.toThrow(/403|ACCESS_REFUSED|Handshake terminated/);
      // '/' was not made: the login passes, connection.open is refused (530; amqplib shows no text)
      await expect(amqp.connect(`amqp://app:s3cret@127.0.0.1:${port}/`)).rejects.toThrow('Expected ConnectionOpenOk; got <ConnectionClose channel:0>');
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    const flagged = await startCli(['--in-memory', '--management-port', '0', '--default-user', 'cli-user', '--default-pass', 'pw', '--default-vhost', 'ci'], [], env);
    try {
      await (await amqp.connect(`amqp://cli-user:pw@127.0.0.1:${flagged.port}/ci`)).close();
      await expect(amqp.connect(`amqp://app:s3cret@127.0.0.1:${flagged.port}/apps`)).rejects.toThrow();
    } finally {
      flagged.child.kill('SIGTERM');
      await once(flagged.child, 'exit');
    }
  });

  it('a port in use is one line and exit code 1', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const { code, stderr } = await runCli(['--host', '127.0.0.1', '--port', String(port), '--workers', '1']);
      expect(code).toBe(1);
      expect(stderr).not.toContain('    at ');
      expect(stderr.trimEnd().split('\n')).toEqual([`warren: port ${port} on 127.0.0.1 is in use (is RabbitMQ running? use --port)`]);
    } finally {
      taken.close();
    }
  });

  it('an address that cannot be bound is one line and exit code 1', async () => {
    // TEST-NET-3: not an address of this machine, so listen() fails locally with EADDRNOTAVAIL.
    const { code, stderr } = await runCli(['--host', '203.0.113.1', '--port', '0', '--workers', '0']);
    expect(code).toBe(1);
    expect(stderr).not.toContain('    at ');
    expect(stderr.trimEnd().split('\n')).toEqual(['warren: cannot listen on 203.0.113.1: no such address on this machine (use --host)']);
  });

  it('keeps durable definitions in $WARREN_DATA_DIR across a restart; a second warren on it exits 1 with one line', async () => {
    const env = freshDataDir();
    const dir = env.WARREN_DATA_DIR!;
    const first = await startCli(['--workers', '1'], [], env);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${first.port}`);
    const ch = await conn.createChannel();
    await ch.assertQueue('kept', { durable: true });
    await ch.assertQueue('dropped', { durable: false });
    await conn.close();

    const second = await runCli(['--host', '127.0.0.1', '--port', '0', '--workers', '0'], env);
    expect(second.code).toBe(1);
    expect(second.stderr.trimEnd().split('\n')).toEqual([`warren: data directory ${dir} is in use by pid ${first.child.pid}`]);
    // The same directory named with --data-dir is the same lock.
    expect((await runCli(['--port', '0', '--data-dir', dir], freshDataDir())).stderr).toContain(`is in use by pid ${first.child.pid}`);

    first.child.kill('SIGTERM');
    expect((await once(first.child, 'exit'))[0]).toBe(0);
    const again = await startCli(['--workers', '1'], [], env);
    try {
      const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${again.port}`);
      c.on('error', () => {});
      const check = await c.createChannel();
      expect(await check.checkQueue('kept')).toMatchObject({ queue: 'kept' });
      check.on('error', () => {});
      await expect(check.checkQueue('dropped')).rejects.toThrow(/404/);
      await c.close().catch(() => {});
    } finally {
      again.child.kill('SIGTERM');
      await once(again.child, 'exit');
    }
  });

  it('after SIGKILL the next warren takes over the stale lock and has the durable definitions written before the kill', async () => {
    const env = freshDataDir();
    const dir = env.WARREN_DATA_DIR!;
    const first = await startCli(['--workers', '1'], [], env);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${first.port}`);
    conn.on('error', () => {}); // the kill drops it
    const ch = await conn.createChannel();
    await ch.assertExchange('killed-x', 'topic', { durable: true });
    await ch.assertQueue('killed-q', { durable: true });
    await ch.bindQueue('killed-q', 'killed-x', 'k.#');
    // Written soon after the -ok (it does not wait for the disk): wait for the binding to be there.
    const file = path.join(dir, 'definitions.json');
    for (let i = 0; i < 100 && !(existsSync(file) && readFileSync(file, 'utf8').includes('k.#')); i++) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    expect(readFileSync(path.join(dir, 'warren.lock'), 'utf8')).toBe(`${first.child.pid}\n`);

    const again = await startCli(['--workers', '1'], [], env);
    try {
      const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${again.port}`);
      const cc = await c.createChannel();
      cc.publish('killed-x', 'k.1', Buffer.from('routed after the crash'));
      let got: amqp.GetMessage | false = false;
      for (let i = 0; i < 50 && !got; i++) {
        got = await cc.get('killed-q', { noAck: true });
        if (!got) await new Promise((r) => setTimeout(r, 20));
      }
      expect(got && got.content.toString()).toBe('routed after the crash');
      await c.close();
    } finally {
      again.child.kill('SIGTERM');
      await once(again.child, 'exit');
    }
  });

  it('--in-memory writes nothing', async () => {
    const env = freshDataDir();
    const { child } = await startCli(['--workers', '0', '--in-memory'], [], env);
    child.kill('SIGTERM');
    await once(child, 'exit');
    expect(readdirSync(env.WARREN_DATA_DIR!)).toEqual([]);
  });

  it('exits 1 with one line when its shard worker dies, after closing clients with 541', async () => {
    // The preload ends the worker on SIGUSR2, from outside the broker.
    // Its own management port: stderr must hold the one line whatever else listens on 15672.
    const { child, port, stderr } = await startCli(['--workers', '1', '--management-port', '0'], ['--import', KILL_SHARD_ON_SIGUSR2]);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    conn.on('error', () => {});
    const closed = new Promise<any>((resolve) => conn.once('close', resolve));
    const started = Date.now();
    child.kill('SIGUSR2');
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
    // terminate() ends the worker with code 1, or 0 when it was between batches.
    expect(stderr().trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^warren: shard 0 stopped \(its worker exited with code [01]\); closing the broker — its queues' messages are lost$/),
    ]);
    expect((await closed)?.code).toBe(541);
  });
  it('--tls-port/--tls-cert/--tls-key serve amqps beside the plain port (certificates made by openssl now); incomplete TLS options are a usage error', async () => {
    const pki = makePki();
    try {
      const dir = mkdtempSync(path.join(TEMP, 'tls-'));
      const [cert, key] = [path.join(dir, 'server.crt'), path.join(dir, 'server.key')];
      writeFileSync(cert, pki.server.cert);
      writeFileSync(key, pki.server.key);
      const { child, port, line } = await startCli(['--workers', '0', '--tls-port', '0', '--tls-cert', cert, '--tls-key', key]);
      const tlsPort = Number(/amqps port (\d+) /.exec(line)![1]);
      expect(tlsPort).not.toBe(port);
      const conn = await amqp.connect(`amqps://guest:guest@127.0.0.1:${tlsPort}`, { ca: [pki.ca] });
      await (await conn.createChannel()).assertQueue('over-tls');
      await conn.close();
      child.kill('SIGTERM');
      expect((await once(child, 'exit'))[0]).toBe(0);

      const missing = await runCli(['--port', '0', '--in-memory', '--tls-port', '0', '--tls-cert', cert]);
      expect(missing.code).toBe(2);
      expect(missing.stderr.trim()).toBe('warren: --tls-port needs --tls-key (see --help)');
      const unreadable = await runCli(['--port', '0', '--in-memory', '--tls-port', '0', '--tls-cert', cert, '--tls-key', path.join(dir, 'nope.key')]);
      expect(unreadable.code).toBe(2);
      expect(unreadable.stderr.trim()).toBe(`warren: --tls-key: cannot read ${path.join(dir, 'nope.key')}: ENOENT`);
    } finally {
      pki.dispose();
    }
  });
});
