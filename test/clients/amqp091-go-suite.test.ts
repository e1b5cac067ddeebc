/**
 * Other people's tests in CI: the integration suite of RabbitMQ's Go client, as Debian's
 * golang-github-rabbitmq-amqp091-go-dev (1.5.0) ships it, built against Debian's goleak
 * and run against warren. Every test in it passes on RabbitMQ 3.10.8; each must pass here.
 * tools/client-suites/amqp091-go.sh runs a newer release of the same suite by hand.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, useBroker } from '../helpers.js';
import { run, runOk, works } from './support.js';

const GOPATH = '/usr/share/gocode';
const PACKAGE = 'github.com/rabbitmq/amqp091-go';
const ready =
  existsSync(path.join(GOPATH, 'src', PACKAGE, 'integration_test.go')) &&
  existsSync(path.join(GOPATH, 'src/go.uber.org/goleak')) &&
  works('go', ['version']);

/**
 * Three tests (TestIntegrationRecoverNotImplemented and the two that call
 * integrationRabbitMQ) do their work only when the server's product is "RabbitMQ" and
 * otherwise return without closing their connection, which the suite's goleak check
 * then reports, after every test passed, as heartbeat goroutines still running.
 */
const LEAK_OF_SKIPPED_TESTS = /^goleak: Errors on successful test run: found unexpected goroutines:/m;

describe.skipIf(!ready)('RabbitMQ Go client integration suite (skipped without: apt-get install golang-go golang-github-rabbitmq-amqp091-go-dev golang-uber-goleak-dev)', () => {
  let dir: string;
  let binary: string;
  let tests: string[];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'warren-amqp091-go-'));
    binary = path.join(dir, 'suite.test');
    // Debian's packaged sources, without modules (nothing is fetched); a build cache of its own.
    const env = ['GO111MODULE=off', `GOPATH=${GOPATH}`, `GOCACHE=${path.join(dir, 'cache')}`];
    await runOk('env', [...env, 'go', 'test', '-c', '-tags', 'integration', '-o', binary, PACKAGE], { timeoutMs: 240_000 });
    tests = (await runOk(binary, ['-test.list', '^Test'])).filter((name) => name.startsWith('Test'));
  }, 250_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe.each(MODES)('$name', ({ workers }) => {
    const broker = useBroker(workers);

    it('passes every test of the suite', async () => {
      const r = await run('env', [`AMQP_URL=${broker.url}/`, binary, '-test.v', '-test.timeout', '100s'], { timeoutMs: 120_000 });
      const output = r.stdout + r.stderr;
      const passed = new Set([...output.matchAll(/^--- PASS: (\S+)/gm)].map((m) => m[1]));
      expect(tests.length, 'tests the suite lists').toBeGreaterThan(100);
      expect(tests.filter((t) => !passed.has(t)), output.slice(-3000)).toEqual([]);
      if (r.code !== 0) expect(output, 'the only complaint after every test passed').toMatch(LEAK_OF_SKIPPED_TESTS);
    }, 130_000);
  });
});
