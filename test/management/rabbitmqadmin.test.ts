/**
 * The management API driven by RabbitMQ's own CLI client, Debian's /usr/bin/rabbitmqadmin
 * (package rabbitmq-server): it relies on RabbitMQ's exact paths and JSON shapes.
 * Each call starts a python, so the assertions are batched into one flow per mode.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, nextEvent } from '../helpers.js';
import { managedBroker } from './support.js';

const RABBITMQADMIN = '/usr/bin/rabbitmqadmin';
const present = existsSync(RABBITMQADMIN);

interface AdminRun {
  code: number;
  stdout: string;
  stderr: string;
}

function admin(port: number, login: [string, string], args: string[]): Promise<AdminRun> {
  const [user, password] = login;
  const argv = [RABBITMQADMIN, '-H', '127.0.0.1', '-P', String(port), '-u', user, '-p', password, '-f', 'raw_json', ...args];
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', argv, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

for (const mode of MODES) {
  // Missing rabbitmqadmin skips only off CI: CI installs rabbitmq-server (.ci/run).
  describe.skipIf(!present && !process.env.CI)(`rabbitmqadmin against warren (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('declares, publishes, lists, gets, closes, purges, deletes, exports and imports', async () => {
      const port = m.broker.managementPort!;
      const guest = (...args: string[]) => admin(port, ['guest', 'guest'], args);
      const ok = async (run: Promise<AdminRun>): Promise<string> => {
        const r = await run;
        expect(r, r.stderr).toMatchObject({ code: 0 });
        return r.stdout;
      };
      const json = async (run: Promise<AdminRun>): Promise<any[]> => JSON.parse(await ok(run));
      const vhost = `adm-${mode.workers}`;
      const user = `alice-${mode.workers}`;
      const queue = 'qü€😀-ÿ'; // multi-byte UTF-8 in the name and in the API path
      const exchange = 'adm.topic';
      // The new user (administrator in the new vhost) does the work, so tags and permissions count.
      const alice = (...args: string[]) => admin(port, [user, 'pw-ü'], ['-V', vhost, ...args]);

      expect(await ok(guest('declare', 'vhost', `name=${vhost}`))).toContain('vhost declared');
      expect(await ok(guest('declare', 'user', `name=${user}`, 'password=pw-ü', 'tags=administrator'))).toContain('user declared');
      await ok(guest('declare', 'permission', `vhost=${vhost}`, `user=${user}`, 'configure=.*', 'write=.*', 'read=.*'));
      await ok(alice('declare', 'exchange', `name=${exchange}`, 'type=topic'));
      await ok(alice('declare', 'queue', `name=${queue}`, 'durable=true', 'arguments={"x-max-length":10}'));
      await ok(alice('declare', 'binding', `source=${exchange}`, `destination=${queue}`, 'routing_key=n.#'));

      // 12 numbered messages into a queue of at most 10: the first two are dropped (x-max-length took effect).
      for (let i = 1; i <= 12; i++) expect(await ok(alice('publish', `exchange=${exchange}`, 'routing_key=n.x', `payload=msg ${i} ü`))).toContain('Message published');
      expect(await json(alice('list', 'queues', 'name', 'messages', 'durable', 'arguments'))).toEqual([
        { name: queue, messages: 10, durable: true, arguments: { 'x-max-length': 10 } },
      ]);
      const got = await json(alice('get', `queue=${queue}`, 'ackmode=ack_requeue_false', 'count=3'));
      expect(got.map((g) => [g.payload, g.message_count, g.redelivered, g.routing_key, g.exchange, g.payload_encoding, g.properties])).toEqual([
        ['msg 3 ü', 9, false, 'n.x', exchange, 'string', []],
        ['msg 4 ü', 8, false, 'n.x', exchange, 'string', []],
        ['msg 5 ü', 7, false, 'n.x', exchange, 'string', []],
      ]);
      expect(await json(alice('list', 'queues', 'name', 'messages'))).toEqual([{ name: queue, messages: 7 }]);

      // An AMQP client in the same vhost: it sees the same depth, and is listed and closed by rabbitmqadmin.
      const connName = `adm-client-${mode.workers}`;
      const conn = await amqp.connect(`${m.broker.url}/${encodeURIComponent(vhost)}`, { clientProperties: { connection_name: connName } });
      const closed = nextEvent<any>(conn, 'close', 10_000);
      const ch = await conn.createChannel();
      await ch.prefetch(3);
      expect((await ch.checkQueue(queue)).messageCount).toBe(7);

      expect(await json(alice('list', 'exchanges', 'name', 'type'))).toContainEqual({ name: exchange, type: 'topic' });
      expect(await json(alice('list', 'bindings', 'source', 'destination', 'routing_key'))).toEqual([
        { source: '', destination: queue, routing_key: queue },
        { source: exchange, destination: queue, routing_key: 'n.#' },
      ]);
      const conns = await json(guest('list', 'connections', 'name', 'user', 'vhost', 'user_provided_name', 'channels'));
      expect(conns).toHaveLength(1);
      expect(conns[0]).toMatchObject({ user: 'guest', vhost, user_provided_name: connName, channels: 1 });
      expect(await json(guest('list', 'channels', 'name', 'number', 'prefetch_count'))).toEqual([{ name: `${conns[0].name} (1)`, number: 1, prefetch_count: 3 }]);
      expect(await json(guest('list', 'users', 'name', 'tags'))).toContainEqual({ name: user, tags: ['administrator'] });
      expect((await json(guest('list', 'vhosts', 'name'))).map((v) => v.name)).toEqual(['/', vhost]);
      expect(await json(guest('list', 'permissions', 'user', 'vhost', 'configure', 'write', 'read'))).toContainEqual({ user, vhost, configure: '.*', write: '.*', read: '.*' });

      expect(await ok(guest('close', 'connection', `name=${conns[0].name}`))).toContain('connection closed');
      const err = await closed;
      expect(err.code).toBe(320);
      expect(err.message).toContain('CONNECTION_FORCED - Closed via management plugin');
      expect(await json(guest('list', 'connections', 'name'))).toEqual([]);

      // Errors: RabbitMQ's reason on stderr (texts as RabbitMQ 3.10.8 prints them) and a non-zero exit.
      const where = `for queue '${queue}' in vhost '${vhost}'`;
      const refusals = await Promise.all([
        alice('declare', 'queue', `name=${queue}`, 'durable=true', 'arguments={"x-max-length":11}'),
        alice('declare', 'queue', `name=${queue}`, 'durable=false', 'arguments={"x-max-length":10}'),
        alice('declare', 'exchange', `name=${exchange}`, 'type=direct'),
        alice('declare', 'exchange', 'name=amq.mine', 'type=direct'),
        alice('publish', 'exchange=no.such', 'routing_key=a', 'payload=x'),
        alice('get', 'queue=no.such'),
        admin(port, [user, 'wrong'], ['list', 'vhosts']),
      ]);
      expect(refusals.map((r) => [r.code, r.stderr.trim()])).toEqual([
        [1, `*** inequivalent arg 'x-max-length' ${where}: received '11' but current is '10'`],
        [1, `*** inequivalent arg 'durable' ${where}: received 'false' but current is 'true'`],
        [1, `*** inequivalent arg 'type' for exchange '${exchange}' in vhost '${vhost}': received 'direct' but current is 'topic'`],
        [1, `*** Access refused: /api/exchanges/${vhost}/amq.mine`],
        [1, `*** 404 NOT_FOUND - no exchange 'no.such' in vhost '${vhost}'`],
        [1, `*** Not found: /api/queues/${vhost}/no.such/get`],
        [1, '*** Access refused: /api/vhosts'],
      ]);
      // No policies or parameters: empty lists, as on a fresh RabbitMQ.
      expect(await Promise.all(['policies', 'operator_policies', 'parameters'].map((what) => json(alice('list', what))))).toEqual([[], [], []]);
      // A policy that matches the queue; its limit is above the queue's x-max-length, so the lower one (10) stays in force.
      expect(await ok(alice('declare', 'policy', 'name=cap', 'pattern=^q', 'definition={"max-length":50}', 'priority=2', 'apply-to=queues'))).toContain('policy declared');
      expect(await json(alice('list', 'policies'))).toEqual([{ vhost, name: 'cap', pattern: '^q', 'apply-to': 'queues', definition: { 'max-length': 50 }, priority: 2 }]);
      expect(await json(alice('list', 'queues', 'name', 'policy'))).toEqual([{ name: queue, policy: 'cap' }]);
      expect(await ok(alice('delete', 'policy', 'name=cap'))).toContain('policy deleted');
      expect(await json(alice('list', 'queues', 'name', 'policy'))).toEqual([{ name: queue, policy: null }]);
      expect(await json(alice('list', 'queues', 'name', 'messages'))).toEqual([{ name: queue, messages: 7 }]);

      // Vhost limits as a runtime parameter and as vhost_limit objects, answered as RabbitMQ 3.10.8 answers them (compared side by side).
      expect(await ok(alice('declare', 'parameter', 'component=vhost-limits', 'name=limits', 'value={"max-queues":1}'))).toContain('parameter declared');
      expect(await json(alice('list', 'parameters'))).toEqual([{ vhost, component: 'vhost-limits', name: 'limits', value: { 'max-queues': 1 } }]);
      const second = await alice('declare', 'queue', 'name=second');
      expect([second.code, second.stderr]).toEqual([1, expect.stringContaining('queue limit')]);
      const federation = await alice('declare', 'parameter', 'component=federation-upstream', 'name=up', 'value={"uri":"amqp://"}');
      expect([federation.code, federation.stderr.trim()]).toEqual([1, '*** Validation failed\n\ncomponent federation-upstream not found']);
      expect(await ok(alice('delete', 'parameter', 'component=vhost-limits', 'name=limits'))).toContain('parameter deleted');
      expect(await ok(guest('declare', 'vhost_limit', `vhost=${vhost}`, 'name=max-connections', 'value=3'))).toContain('vhost_limit declared');
      expect(await json(guest('list', 'vhost_limits'))).toEqual([{ vhost, value: { 'max-connections': 3 } }]);
      expect(await ok(guest('delete', 'vhost_limit', `vhost=${vhost}`, 'name=max-connections'))).toContain('vhost_limit deleted');
      // the parameter of no limits RabbitMQ leaves behind
      expect(await json(alice('list', 'parameters'))).toEqual([{ vhost, component: 'vhost-limits', name: 'limits', value: [] }]);
      await ok(alice('delete', 'parameter', 'component=vhost-limits', 'name=limits'));

      // Export, delete everything, import: the definitions come back (the queue empty, with its argument).
      const dir = mkdtempSync(join(tmpdir(), 'warren-rabbitmqadmin-'));
      try {
        const file = join(dir, 'defs.json');
        await ok(guest('export', file));
        const defs = JSON.parse(readFileSync(file, 'utf8'));
        expect(defs.queues).toContainEqual(expect.objectContaining({ name: queue, vhost, durable: true, arguments: { 'x-max-length': 10 } }));

        expect(await ok(alice('purge', 'queue', `name=${queue}`))).toContain('queue purged');
        expect(await json(alice('list', 'queues', 'name', 'messages'))).toEqual([{ name: queue, messages: 0 }]);
        await ok(alice('delete', 'binding', `source=${exchange}`, 'destination_type=queue', `destination=${queue}`, 'properties_key=n.%23'));
        expect(await json(alice('list', 'bindings', 'source'))).toEqual([{ source: '' }]);
        await ok(alice('delete', 'queue', `name=${queue}`));
        await ok(alice('delete', 'exchange', `name=${exchange}`));
        expect(await json(alice('list', 'queues', 'name'))).toEqual([]);
        await ok(guest('delete', 'user', `name=${user}`));
        await ok(guest('delete', 'vhost', `name=${vhost}`));
        expect((await json(guest('list', 'vhosts', 'name'))).map((v) => v.name)).toEqual(['/']);
        expect((await json(guest('list', 'users', 'name'))).map((u) => u.name)).not.toContain(user);

        await ok(guest('import', file));
        expect(await json(alice('list', 'queues', 'name', 'messages', 'arguments'))).toEqual([{ name: queue, messages: 0, arguments: { 'x-max-length': 10 } }]);
        expect(await json(alice('list', 'bindings', 'source', 'destination', 'routing_key'))).toContainEqual({ source: exchange, destination: queue, routing_key: 'n.#' });
        expect(await json(alice('list', 'exchanges', 'name', 'type'))).toContainEqual({ name: exchange, type: 'topic' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  });
}
