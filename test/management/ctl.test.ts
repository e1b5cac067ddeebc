/**
 * `warren ctl` (the CLI built in dist) against a running broker: rabbitmqctl's
 * tab-separated tables, -q, --no-table-headers, --formatter json, and the
 * commands that change things, checked through amqplib and the API.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { MODES, WARREN_MAIN as MAIN, channel, collect, connect, nextEvent, runWarren, uniq } from '../helpers.js';
import { managedBroker } from './support.js';

const TEMP = mkdtempSync(path.join(os.tmpdir(), 'warren-ctl-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

async function ctl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; lines: string[] }> {
  const result = await runWarren(['ctl', ...args]);
  return { ...result, lines: result.stdout.split('\n').filter((l) => l !== '') };
}

for (const mode of MODES) {
  describe(`warren ctl (${mode.name})`, () => {
    const m = managedBroker(mode.workers);
    const url = () => `http://guest:guest@127.0.0.1:${m.broker.managementPort}`;
    const run = (...args: string[]) => ctl(['--url', url(), ...args]);

    it('list_queues prints rabbitmqctl\'s table with the info items asked for; -q, --no-table-headers and --formatter json', async () => {
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createConfirmChannel();
        const a = uniq('ctl-a');
        const b = uniq('ctl b/é');
        await ch.assertQueue(a, { durable: true });
        await ch.assertQueue(b, { durable: false, autoDelete: true });
        for (let i = 1; i <= 5; i++) ch.sendToQueue(a, Buffer.from(`a-${i}`));
        ch.sendToQueue(b, Buffer.from('b-1'));
        await ch.waitForConfirms();
        const consumer = await channel(conn);
        await consumer.prefetch(2);
        await consumer.consume(a, () => {}, { noAck: false });
        await consumer.checkQueue(a);

        const plain = await run('list_queues');
        expect(plain.code, plain.stderr).toBe(0);
        // by name, as the management API lists them (' ' sorts before '-')
        expect(plain.lines).toEqual(['Timeout: 60.0 seconds ...', 'Listing queues for vhost / ...', 'name\tmessages', `${b}\t1`, `${a}\t5`]);

        const items = await run('-q', 'list_queues', 'name', 'messages_ready', 'messages_unacknowledged', 'consumers', 'durable', 'auto_delete');
        expect(items.lines).toEqual([
          'name\tmessages_ready\tmessages_unacknowledged\tconsumers\tdurable\tauto_delete',
          `${b}\t1\t0\t0\tfalse\ttrue`,
          `${a}\t3\t2\t1\ttrue\tfalse`,
        ]);
        const bare = await run('list_queues', '-p', '/', '--no-table-headers', '-q', 'name', 'messages');
        expect(bare.lines).toEqual([`${b}\t1`, `${a}\t5`]);
        const json = await run('--formatter', 'json', 'list_queues', 'name', 'messages');
        expect(JSON.parse(json.stdout)).toEqual([{ name: b, messages: 1 }, { name: a, messages: 5 }]);

        const consumers = await run('-q', 'list_consumers', 'queue_name', 'ack_required', 'prefetch_count');
        expect(consumers.lines).toEqual(['queue_name\tack_required\tprefetch_count', `${a}\ttrue\t2`]);
        const channels = await run('-q', 'list_channels', 'number', 'consumer_count', 'messages_unacknowledged', 'confirm', 'messages_unconfirmed', 'messages_uncommitted', 'acks_uncommitted');
        expect(channels.lines).toEqual([
          'number\tconsumer_count\tmessages_unacknowledged\tconfirm\tmessages_unconfirmed\tmessages_uncommitted\tacks_uncommitted',
          '1\t0\t0\ttrue\t0\t0\t0',
          '2\t1\t2\tfalse\t0\t0\t0',
        ]);
        const conns = await run('-q', 'list_connections', 'user', 'vhost', 'channels', 'state');
        expect(conns.lines).toEqual(['user\tvhost\tchannels\tstate', 'guest\t/\t2\trunning']);
      } finally {
        await conn.close();
      }
    });

    it("rabbitmqctl's global flags and forms: -s, -n NODE, -l, list_queues --online/--local/--offline, --formatter csv, tables as Erlang terms", async () => {
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createChannel();
        const q = uniq('fmt "q",x');
        // as RabbitMQ 3.10.8 prints the same declare (its arguments sorted at every depth)
        await ch.assertQueue(q, { exclusive: true, arguments: { 'x-t': { n: { z: 1, k: 'v' } }, 'x-custom': ['a', 1, true], 'x-b': false, 'x-s': 'str"q' } });
        const term = '[{"x-b",false},{"x-custom",["a",1,true]},{"x-s","str\\"q"},{"x-t",[{"n",[{"k","v"},{"z",1}]}]}]';
        const csvQ = `"${q.replaceAll('"', '""')}"`;
        const mine = (lines: string[]) => lines.filter((l) => l.startsWith(`${q}\t`) || l.startsWith(`${csvQ},`));
        expect(mine((await run('-q', 'list_queues', 'name', 'arguments')).lines)).toEqual([`${q}\t${term}`]);
        const silent = await run('-s', 'list_queues', 'name');
        expect(silent.lines).toContain(q);
        expect(silent.lines.some((l) => l.startsWith('Listing') || l === 'name')).toBe(false);
        for (const flags of [['-n', 'rabbit@elsewhere'], ['--node', 'rabbit@elsewhere'], ['-l'], ['--longnames']]) expect((await run(...flags, '-q', 'list_queues', 'name')).lines, flags.join(' ')).toContain(q);
        for (const flag of ['--online', '--local']) expect((await run('-q', 'list_queues', flag, 'name')).lines).toContain(q);
        // no rows, no header: nothing at all, as rabbitmqctl 3.10.8
        expect((await run('-q', 'list_queues', '--offline', 'name')).stdout).toBe('');
        const csv = await run('--formatter', 'csv', 'list_queues', 'name', 'arguments', 'durable');
        expect(csv.lines[0]).toBe('"name","arguments","durable"');
        expect(mine(csv.lines)).toEqual([`${csvQ},"${term.replaceAll('"', '""')}","false"`]);
        const props = (await run('-q', 'list_connections', 'client_properties')).lines[1];
        expect(props).toMatch(/^\[\{"product","amqplib"\},\{"version","[^"]+"\},.*\{"capabilities",\[\{"publisher_confirms",true\},/);
        expect((await run('--formatter', 'xml', 'list_queues')).code).toBe(64);
        // a vhost that is not there: rabbitmqctl lists no queues, exchanges, bindings or consumers of it; its other lists refuse it
        for (const [command, heading] of [['list_queues', 'Timeout: 60.0 seconds ...\nListing queues for vhost nowhere ...'], ['list_exchanges', 'Listing exchanges for vhost nowhere ...'], ['list_bindings', 'Listing bindings for vhost nowhere...'], ['list_consumers', 'Listing consumers in vhost nowhere ...']]) {
          expect(await run('-p', 'nowhere', command)).toMatchObject({ code: 0, stdout: `${heading}\n` });
        }
        // rabbitmqctl's codes (sysexits): 65 for a vhost that does not exist
        for (const command of ['list_permissions', 'list_policies', 'list_topic_permissions']) expect((await run('-p', 'nowhere', command)).code, command).toBe(65);
      } finally {
        await conn.close();
      }
    });

    it('list_exchanges, list_bindings and list_vhosts', async () => {
      const x = uniq('ctl-x');
      const q = uniq('ctl-q');
      await m.api('PUT', `/api/exchanges/%2F/${x}`, { type: 'fanout', durable: false });
      await m.api('PUT', `/api/queues/%2F/${q}`, { durable: false });
      await m.api('POST', `/api/bindings/%2F/e/${x}/q/${q}`, { routing_key: 'rk' });
      const exchanges = await run('-q', 'list_exchanges');
      expect(exchanges.lines[0]).toBe('name\ttype');
      expect(exchanges.lines).toEqual(expect.arrayContaining(['\tdirect', 'amq.topic\ttopic', `${x}\tfanout`]));
      const bindings = await run('-q', '--no-table-headers', 'list_bindings');
      expect(bindings.lines).toEqual(expect.arrayContaining([`\texchange\t${q}\tqueue\t${q}\t[]`, `${x}\texchange\t${q}\tqueue\trk\t[]`]));
      const vhosts = await run('list_vhosts', 'name', 'tracing');
      expect(vhosts.lines).toEqual(['Listing vhosts ...', 'name\ttracing', '/\tfalse']);
    });

    it('purge_queue, delete_queue (--if-empty refused) and close_connection change the broker', async () => {
      const conn = await connect(m.broker.url);
      const ch = await conn.createConfirmChannel();
      const q = uniq('ctl-purge');
      await ch.assertQueue(q, { durable: false });
      for (let i = 0; i < 4; i++) ch.sendToQueue(q, Buffer.from(String(i)));
      await ch.waitForConfirms();

      const notEmpty = await run('delete_queue', q, '--if-empty');
      expect(notEmpty.code).toBe(64);
      expect(notEmpty.stderr.trim()).toBe(`warren ctl: 400 bad_request: queue '${q}' in vhost '/' not empty`);
      const purged = await run('purge_queue', q);
      expect(purged.code, purged.stderr).toBe(0);
      expect(purged.lines).toEqual([`Purging queue '${q}' in vhost '/' ...`]);
      expect((await ch.checkQueue(q)).messageCount).toBe(0);
      ch.sendToQueue(q, Buffer.from('last'));
      await ch.waitForConfirms();
      const deleted = await run('delete_queue', q);
      expect(deleted.lines).toEqual([`Deleting queue '${q}' on vhost '/' ...`, 'Queue was successfully deleted with 1 message']);
      expect((await m.api('GET', `/api/queues/%2F/${q}`)).status).toBe(404);
      const missing = await run('purge_queue', q);
      expect(missing.code).toBe(69);
      expect(missing.stderr.trim()).toBe(`warren ctl: queue '${q}' in vhost '/' not found`);

      const [target] = (await m.api('GET', '/api/connections')).body;
      const closed = nextEvent<any>(conn, 'close');
      const close = await run('close_connection', target.name, 'go home');
      expect(close.code, close.stderr).toBe(0);
      const err = await closed;
      expect(err.code).toBe(320);
      expect(err.message).toContain('CONNECTION_FORCED - go home');
    });

    it('export_definitions and import_definitions round-trip through a file; status summarises', async () => {
      const q = uniq('ctl-def');
      await m.api('PUT', `/api/queues/%2F/${q}`, { durable: true, arguments: { 'x-max-length': 9 } });
      const file = path.join(TEMP, `${uniq('defs')}.json`);
      const exported = await run('-q', 'export_definitions', file);
      expect(exported.code, exported.stderr).toBe(0);
      const defs = JSON.parse(readFileSync(file, 'utf8'));
      expect(defs.queues).toContainEqual({ name: q, vhost: '/', type: 'classic', durable: true, auto_delete: false, arguments: { 'x-max-length': 9 } });

      const renamed = uniq('ctl-imported');
      writeFileSync(file, JSON.stringify({ queues: [{ name: renamed, vhost: '/', durable: true, auto_delete: false, arguments: {} }] }));
      const imported = await run('import_definitions', file);
      expect(imported.code, imported.stderr).toBe(0);
      expect((await m.api('GET', `/api/queues/%2F/${renamed}`)).body).toMatchObject({ name: renamed, durable: true });

      const status = await run('status');
      expect(status.code).toBe(0);
      expect(status.lines).toEqual(expect.arrayContaining([`OS PID: ${process.pid}`, 'Product name: warren', `Interface: 127.0.0.1, port: ${m.broker.port}, protocol: amqp`]));
      expect(status.lines.find((l) => l.startsWith('Queues: '))).toBe(`Queues: ${m.broker.broker.vhosts.get('/')!.topology.queues.size}`);
    });

    it("fails with one line and rabbitmqctl's exit code: bad login, unreachable broker (69), unknown command or info item (64)", async () => {
      const badLogin = await ctl(['--url', `http://guest:nope@127.0.0.1:${m.broker.managementPort}`, 'list_queues']);
      expect([badLogin.code, badLogin.stderr.trim()]).toEqual([69, `warren ctl: http://127.0.0.1:${m.broker.managementPort}: login refused (check the user and password in --url)`]);
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const freePort = (closed.address() as net.AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const unreachable = await ctl(['--url', `http://guest:guest@127.0.0.1:${freePort}`, 'status']);
      expect(unreachable.code).toBe(69);
      expect(unreachable.stderr.trim()).toBe(`warren ctl: cannot reach the management API at http://127.0.0.1:${freePort}: ECONNREFUSED`);
      const item = await run('list_queues', 'name', 'colour');
      expect(item.code).toBe(64);
      expect(item.stderr.trim().split('\n')).toHaveLength(1);
      expect(item.stderr).toContain("info key 'colour' is not one of name, vhost, durable");
      const command = await run('list_unicorns');
      expect([command.code, command.stderr.trim()]).toEqual([64, "warren ctl: unknown command 'list_unicorns' (see warren ctl --help)"]);
    });

    it("each refusal's exit code is rabbitmqctl 3.10.8's for the same command (read off a RabbitMQ beside warren)", async () => {
      const nobody = uniq('no-user');
      const nowhere = uniq('no-vhost');
      const file = path.join(os.tmpdir(), `${uniq('bad')}.json`);
      writeFileSync(file, '{bad');
      const cases: [string[], number][] = [
        [['delete_user', nobody], 67],
        [['change_password', nobody, 'x'], 67],
        [['set_user_tags', nobody, 'administrator'], 67],
        [['clear_permissions', nobody], 67],
        [['clear_topic_permissions', nobody], 67],
        [['set_permissions', nobody, 'a', 'a', 'a'], 67],
        [['set_topic_permissions', nobody, 'amq.topic', 'a', 'a'], 67],
        [['add_user', 'guest', 'x'], 70],
        [['delete_vhost', nowhere], 65],
        [['-p', nowhere, 'list_parameters'], 65],
        [['-p', nowhere, 'set_vhost_limits', '{"max-queues":1}'], 65],
        [['authenticate_user', 'guest', 'wrong'], 65],
        [['import_definitions', path.join(os.tmpdir(), uniq('none'))], 65],
        [['import_definitions', file], 65],
        [['export_definitions', path.join(os.tmpdir(), uniq('no-dir'), 'f.json')], 65],
        [['set_vm_memory_high_watermark', '7'], 65],
        [['set_disk_free_limit', 'bogus'], 65],
        [['delete_queue', nobody], 64],
        [['enable_feature_flag', 'nosuch'], 64],
        [['add_user'], 64],
        [['purge_queue', nobody], 69],
        [['clear_policy', nobody], 69],
        [['clear_operator_policy', nobody], 69],
        [['clear_global_parameter', nobody], 69],
        [['-p', nowhere, 'clear_vhost_limits'], 69],
        [['set_policy', 'p', '^a', '{bad'], 69],
        [['set_global_parameter', 'x', '{bad'], 69],
        [['set_user_limits', nobody, '{"max-channels":1}'], 69],
        [['list_user_permissions', nobody], 69],
        [['close_connection', nobody, 'reason'], 69],
        [['-p', nowhere, 'set_permissions', 'guest', 'a', 'a', 'a'], 69],
      ];
      for (const [args, code] of cases) {
        const { code: got, stderr } = await run(...args);
        expect([args.join(' '), got, stderr.trim().split('\n').length]).toEqual([args.join(' '), code, 1]);
      }
      // rabbitmqctl's words where they are words
      expect((await run('delete_user', nobody)).stderr).toBe(`warren ctl: User "${nobody}" does not exist\n`);
      expect((await run('delete_vhost', nowhere)).stderr).toBe(`warren ctl: Virtual host '${nowhere}' does not exist\n`);
      expect((await run('set_permissions', nobody, 'a', 'a', 'a')).stderr).toBe(`warren ctl: User ${nobody} does not exist\n`);
      expect((await run('-p', nowhere, 'clear_permissions', 'guest')).stderr).toBe(`warren ctl: Virtual host ${nowhere} does not exist\n`);
      expect((await run('clear_policy', nobody)).stderr).toBe('warren ctl: Parameter does not exist\n');
      // and where rabbitmqctl refuses nothing: no permissions to clear, no connections to close in a vhost not there
      const bare = uniq('bare-user');
      expect((await run('add_user', bare, 'pw')).code).toBe(0);
      expect((await run('clear_permissions', bare)).code).toBe(0);
      expect((await run('clear_topic_permissions', bare)).code).toBe(0);
      expect((await run('delete_user', bare)).code).toBe(0);
      expect(await run('-p', nowhere, 'close_all_connections', 'r')).toMatchObject({ code: 0, stdout: `Closing all connections in vhost ${nowhere}, reason: r...\nClosed 0 connections\n` });
    });

    it('add_user, set_user_tags, change_password, add_vhost, set_permissions, list_* and the deletes, as rabbitmqctl; each seen through amqplib', async () => {
      const user = uniq('ctl user/é');
      const vhost = uniq('ctl vhost/✓');
      const port = Number(new URL(m.broker.url).port);
      const login = (password: string) => amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port, username: user, password, vhost });

      const added = await run('add_user', user, 'pw1');
      expect([added.code, added.lines[0]], added.stderr).toEqual([0, `Adding user "${user}" ...`]);
      const again = await run('add_user', user, 'pw1');
      expect([again.code, again.stderr.trim()]).toEqual([70, `warren ctl: User "${user}" already exists`]);
      expect((await run('set_user_tags', user, 'monitoring', 'management')).lines).toEqual([`Setting tags for user "${user}" to [monitoring, management] ...`]);
      const users = await run('list_users');
      expect(users.lines.slice(0, 2)).toEqual(['Listing users ...', 'user\ttags']);
      expect(users.lines).toContain(`${user}\t[monitoring, management]`);
      expect(users.lines).toContain('guest\t[administrator]');

      expect((await run('add_vhost', vhost)).lines).toEqual([`Adding vhost "${vhost}" ...`]);
      // rabbitmqctl add_vhost grants nobody anything
      const none = await run('-p', vhost, 'list_permissions');
      // no rows, no header; an empty line, as rabbitmqctl 3.10.8 prints for its permission lists
      expect(none.stdout).toBe(`Listing permissions for vhost "${vhost}" ...\n\n`);
      await expect(login('pw1')).rejects.toThrow();
      // --description and --tags; add_vhost of an existing vhost leaves it as it is, as rabbitmqctl does.
      const described = uniq('ctl described');
      const row = `${described}\tfor load tests\t[ci, load]`;
      expect((await run('add_vhost', described, '--description', 'for load tests', '--tags', 'ci, load')).code).toBe(0);
      expect((await run('-q', 'list_vhosts', 'name', 'description', 'tags')).lines).toContain(row);
      expect((await run('add_vhost', described)).code).toBe(0);
      expect((await run('-q', 'list_vhosts', 'name', 'description', 'tags')).lines).toContain(row);
      expect((await m.api('DELETE', `/api/vhosts/${encodeURIComponent(described)}`)).status).toBe(204);

      const set = await run('-p', vhost, 'set_permissions', user, '^ctl-', '.*', '');
      expect([set.code, set.lines], set.stderr).toEqual([0, [`Setting permissions for user "${user}" in vhost "${vhost}" ...`]]);
      expect((await run('-q', '-p', vhost, 'list_permissions')).lines).toEqual(['user\tconfigure\twrite\tread', `${user}\t^ctl-\t.*\t`]);
      expect((await run('-q', 'list_user_permissions', user)).lines).toEqual(['vhost\tconfigure\twrite\tread', `${vhost}\t^ctl-\t.*\t`]);
      const json = await run('--formatter', 'json', 'list_user_permissions', user);
      expect(JSON.parse(json.stdout)).toEqual([{ vhost, configure: '^ctl-', write: '.*', read: '' }]);

      const conn = await login('pw1');
      conn.on('error', () => {});
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.assertQueue('ctl-allowed', { durable: false });
      const refusedDeclare = ch.assertQueue('other', { durable: false });
      await expect(refusedDeclare).rejects.toThrow(/403/);

      // change_password keeps the tags; the old password stops working
      expect((await run('change_password', user, 'pw2')).code).toBe(0);
      expect((await m.api('GET', `/api/users/${encodeURIComponent(user)}`)).body.tags).toEqual(['monitoring', 'management']);
      await expect(login('pw1')).rejects.toThrow();
      await (await login('pw2')).close();

      expect((await run('-p', vhost, 'clear_permissions', user)).lines).toEqual([`Clearing permissions for user "${user}" in vhost "${vhost}" ...`]);
      await expect(login('pw2')).rejects.toThrow();
      const closed = new Promise<any>((resolve) => conn.once('close', resolve));
      expect((await run('delete_vhost', vhost)).lines).toEqual([`Deleting vhost "${vhost}" ...`]);
      expect((await closed).code).toBe(320);
      expect((await run('delete_user', user)).lines).toEqual([`Deleting user "${user}" ...`]);
      expect((await run('-q', 'list_users')).lines).not.toContain(`${user}\t[monitoring, management]`);
      const missing = await run('delete_user', user);
      expect([missing.code, missing.stderr.trim()]).toEqual([67, `warren ctl: User "${user}" does not exist`]);
      const badArgs = await run('set_permissions', user, '.*');
      expect(badArgs.code).toBe(64);
    }, 90_000); // about twenty CLI processes, each a node start: slow on a loaded 2-core machine

    it('set_policy, list_policies and clear_policy, as rabbitmqctl; the policy limits the queue it matches', async () => {
      const prefix = uniq('ctl-pol');
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createConfirmChannel();
        await ch.assertQueue(`${prefix}-q`, { durable: false });
        for (let i = 1; i <= 6; i++) ch.sendToQueue(`${prefix}-q`, Buffer.from(`m-${i}`));
        await ch.waitForConfirms();
        const set = await run('set_policy', '--priority', '3', '--apply-to', 'queues', prefix, `^${prefix}`, '{"max-length":4}');
        expect([set.code, set.lines], set.stderr).toEqual([0, [`Setting policy "${prefix}" for pattern "^${prefix}" to "{"max-length":4}" with priority "3" for vhost "/" ...`]]);
        const listed = await run('list_policies');
        expect(listed.lines).toEqual(['Listing policies for vhost "/" ...', 'vhost\tname\tpattern\tapply-to\tdefinition\tpriority', `/\t${prefix}\t^${prefix}\tqueues\t{"max-length":4}\t3`]);
        expect((await ch.checkQueue(`${prefix}-q`)).messageCount).toBe(4);
        expect((await run('-q', 'list_queues', 'name', 'policy')).lines).toContain(`${prefix}-q\t${prefix}`);
        const refused = await run('set_policy', 'bad', '^x', '{"max-length":-1}');
        expect([refused.code, refused.stderr.trim()]).toEqual([69, 'warren ctl: 400 bad_request: Validation failed\n\n-1 is not a valid maximum length']);
        const cleared = await run('clear_policy', prefix);
        expect([cleared.code, cleared.lines]).toEqual([0, [`Clearing policy "${prefix}" on vhost "/" ...`]]);
        expect((await run('-q', '--no-table-headers', 'list_policies')).lines).toEqual([]);
        expect((await run('clear_policy', prefix)).code).toBe(69);
      } finally {
        await conn.close();
      }
    }, 60_000);

    it('set_operator_policy, list_operator_policies and clear_operator_policy, as rabbitmqctl 3.10.8; the lower limit applies', async () => {
      const prefix = uniq('ctl-op');
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createConfirmChannel();
        await ch.assertQueue(`${prefix}-q`, { durable: false, arguments: { 'x-max-length': 5 } });
        for (let i = 1; i <= 6; i++) ch.sendToQueue(`${prefix}-q`, Buffer.from(`m-${i}`));
        await ch.waitForConfirms();
        const set = await run('set_operator_policy', '--priority', '2', '--apply-to', 'queues', prefix, `^${prefix}`, '{"max-length":3}');
        expect([set.code, set.lines], set.stderr).toEqual([0, [`Setting operator policy override "${prefix}" for pattern "^${prefix}" to "{"max-length":3}" with priority "2" for vhost "/" ...`]]);
        const listed = await run('list_operator_policies');
        expect(listed.lines).toEqual(['Listing operator policy overrides for vhost "/" ...', 'vhost\tname\tpattern\tapply-to\tdefinition\tpriority', `/\t${prefix}\t^${prefix}\tqueues\t{"max-length":3}\t2`]);
        const ch2 = await conn.createChannel();
        expect((await ch2.get(`${prefix}-q`, { noAck: true })) as { content: Buffer }).toMatchObject({ content: Buffer.from('m-4') });
        const refused = await run('set_operator_policy', 'bad', '^x', '{"overflow":"drop-head"}');
        expect([refused.code, refused.stderr.trim()]).toEqual([69, 'warren ctl: 400 bad_request: Validation failed\n\n[{<<"overflow">>,<<"drop-head">>}] are not recognised policy settings']);
        const cleared = await run('clear_operator_policy', prefix);
        expect([cleared.code, cleared.lines]).toEqual([0, [`Clearing operator policy "${prefix}" on vhost "/" ...`]]);
        expect((await run('-q', '--no-table-headers', 'list_operator_policies')).lines).toEqual([]);
        const missing = await run('clear_operator_policy', prefix);
        expect([missing.code, missing.stderr.trim()]).toEqual([69, 'warren ctl: Parameter does not exist']);
      } finally {
        await conn.close();
      }
    }, 60_000);

    it('trace_on and trace_off, as rabbitmqctl 3.10.8: the vhost traces, and keeps its description', async () => {
      const vhost = uniq('ctl-trace');
      expect((await m.api('PUT', `/api/vhosts/${vhost}`, { description: 'traced here' })).status).toBe(201);
      const on = await run('trace_on', '-p', vhost);
      expect([on.code, on.lines], on.stderr).toEqual([0, [`Starting tracing for vhost "${vhost}" ...`, `Trace enabled for vhost ${vhost}`]]);
      expect((await m.api('GET', `/api/vhosts/${vhost}`)).body).toMatchObject({ tracing: true, description: 'traced here' });
      expect((await run('-q', '--no-table-headers', 'list_vhosts', 'name', 'tracing')).lines).toContain(`${vhost}\ttrue`);
      const off = await run('trace_off', '-p', vhost);
      expect([off.code, off.lines]).toEqual([0, [`Stopping tracing for vhost "${vhost}" ...`, `Trace disabled for vhost ${vhost}`]]);
      expect((await m.api('GET', `/api/vhosts/${vhost}`)).body.tracing).toBe(false);
      const missing = await run('trace_on', '-p', uniq('no-vhost'));
      expect(missing.code).toBe(69);
      expect((await m.api('DELETE', `/api/vhosts/${vhost}`)).status).toBe(204);
    }, 60_000);

    it('user and vhost limits, topic permissions and authenticate_user, as rabbitmqctl 3.10.8; the limits act on amqplib', async () => {
      const user = uniq('ctl limited');
      const port = Number(new URL(m.broker.url).port);
      const login = (password: string) => amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port, username: user, password });
      await m.api('PUT', `/api/users/${encodeURIComponent(user)}`, { password: 'pw', tags: '' });
      await m.api('PUT', `/api/permissions/%2F/${encodeURIComponent(user)}`, { configure: '.*', write: '.*', read: '.*' });

      // set_user_limits changes the limits given and keeps the others
      expect((await run('set_user_limits', user, '{"max-connections": 3, "max-channels": 4}')).lines).toEqual([`Setting user limits to "{"max-connections": 3, "max-channels": 4}" for user "${user}" ...`]);
      expect((await run('set_user_limits', user, '{"max-channels": 1}')).code).toBe(0);
      expect((await run('list_user_limits', '--user', user)).lines).toEqual([`Listing limits for user "${user}" ...`, '{"max-connections":3,"max-channels":1}']);
      // no flag: the limits of the user warren ctl logs in as (guest here), as rabbitmqctl; --global: all users'
      expect((await run('list_user_limits')).lines).toEqual(['Listing limits for user "guest" ...', '{}']);
      expect((await run('-q', 'list_user_limits', '--global')).lines).toContain(`${user}\t{"max-connections":3,"max-channels":1}`);
      const conn = await login('pw');
      conn.on('error', () => {});
      await conn.createChannel();
      const refused = nextEvent<any>(conn, 'close');
      await expect(conn.createChannel()).rejects.toThrow();
      expect((await refused).code).toBe(530);
      expect((await run('clear_user_limits', user, 'max-channels')).lines).toEqual([`Clearing "max-channels" limit for user "${user}" ...`]);
      expect((await run('-q', 'list_user_limits', '--user', user)).lines).toEqual(['{"max-connections":3}']);
      expect((await run('clear_user_limits', user, 'all')).code).toBe(0);
      expect((await run('-q', 'list_user_limits', '--user', user)).lines).toEqual(['{}']);
      expect((await run('set_user_limits', user, '{"max-bananas": 1}')).code).toBe(69);
      expect((await run('set_user_limits', user, 'not json')).code).toBe(69);

      // set_vhost_limits replaces the vhost's limits
      const vhost = uniq('ctl limited vhost');
      await m.api('PUT', `/api/vhosts/${encodeURIComponent(vhost)}`);
      expect((await run('-p', vhost, 'set_vhost_limits', '{"max-queues": 100}')).code).toBe(0);
      expect((await run('-p', vhost, 'set_vhost_limits', '{"max-connections": 0}')).lines).toEqual([`Setting vhost limits to "{"max-connections": 0}" for vhost "${vhost}" ...`]);
      expect((await run('-p', vhost, 'list_vhost_limits')).lines).toEqual([`Listing limits for vhost "${vhost}" ...`, '{"max-connections":0}']);
      expect((await run('-q', 'list_vhost_limits', '--global')).lines).toContain(`${vhost}\t{"max-connections":0}`);
      await expect(amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port, username: 'guest', password: 'guest', vhost })).rejects.toThrow();
      expect((await run('-p', vhost, 'clear_vhost_limits')).lines).toEqual([`Clearing vhost "${vhost}" limits ...`]);
      expect((await run('-q', '-p', vhost, 'list_vhost_limits')).stdout).toBe('\n');
      await (await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port, username: 'guest', password: 'guest', vhost })).close();

      // topic permissions: a publish to amq.topic past the write pattern is refused (403)
      expect((await run('set_topic_permissions', user, 'amq.topic', '^allowed', '.*')).lines).toEqual([`Setting topic permissions on "amq.topic" for user "${user}" in vhost "/" ...`]);
      expect((await run('set_topic_permissions', user, 'amq.headers', '^x', '^y')).code).toBe(0);
      expect((await run('-q', 'list_topic_permissions')).lines).toEqual(expect.arrayContaining([`${user}\tamq.topic\t^allowed\t.*`, `${user}\tamq.headers\t^x\t^y`]));
      const publisher = await login('pw');
      publisher.on('error', () => {});
      const ch = await publisher.createConfirmChannel();
      ch.on('error', () => {});
      ch.publish('amq.topic', 'allowed.key', Buffer.from('ok'));
      await ch.waitForConfirms();
      ch.publish('amq.topic', 'other.key', Buffer.from('no'));
      await expect(ch.waitForConfirms()).rejects.toThrow();
      expect((await run('clear_topic_permissions', user, 'amq.topic')).lines).toEqual([`Clearing topic permissions on "amq.topic" for user "${user}" in vhost "/" ...`]);
      // rabbitmqctl 3.10.8 prints this list without a header
      expect((await run('-q', 'list_user_topic_permissions', user)).lines).toEqual(['/\tamq.headers\t^x\t^y']);
      expect((await run('clear_topic_permissions', user)).code).toBe(0);
      expect((await run('-q', 'list_user_topic_permissions', user)).stdout).toBe('\n');

      expect((await run('authenticate_user', user, 'pw')).lines).toEqual([`Authenticating user "${user}" ...`, 'Success']);
      const bad = await run('authenticate_user', user, 'wrong');
      expect([bad.code, bad.stderr.trim()]).toEqual([65, `warren ctl: failed to authenticate user "${user}": user '${user}' - invalid credentials`]);
      await conn.close().catch(() => {});
      await publisher.close().catch(() => {});
    }, 90_000); // about thirty CLI processes

    it('set_parameter, list_parameters, clear_parameter, the global ones and set_cluster_name, as rabbitmqctl 3.10.8; each seen through the API or amqplib', async () => {
      const vhost = uniq('ctl-params');
      await run('add_vhost', vhost);
      await run('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
      expect(await run('-p', vhost, 'set_parameter', 'vhost-limits', 'limits', '{"max-connections": 0}')).toMatchObject({
        code: 0,
        stdout: `Setting runtime parameter "limits" for component "vhost-limits" to "{"max-connections": 0}" in vhost "${vhost}" ...\n`,
      });
      await expect(amqp.connect(`${m.broker.url}/${encodeURIComponent(vhost)}`)).rejects.toThrow();
      expect((await run('-p', vhost, 'list_parameters')).lines).toEqual([`Listing runtime parameters for vhost "${vhost}" ...`, 'component\tname\tvalue', 'vhost-limits\tlimits\t{"max-connections":0}']);
      const refused = await run('-p', vhost, 'set_parameter', 'federation-upstream', 'up', '{}');
      expect([refused.code, refused.stderr]).toEqual([69, expect.stringContaining('component federation-upstream not found')]);
      expect((await run('-p', vhost, 'set_parameter', 'vhost-limits', 'limits', 'not json')).code).toBe(69);
      expect(await run('-p', vhost, 'clear_parameter', 'vhost-limits', 'limits')).toMatchObject({
        code: 0,
        stdout: `Clearing runtime parameter "limits" for component "vhost-limits" on vhost "${vhost}" ...\n`,
      });
      expect((await run('-p', vhost, 'clear_parameter', 'vhost-limits', 'limits')).code).toBe(69);
      await (await amqp.connect(`${m.broker.url}/${encodeURIComponent(vhost)}`)).close();

      const name = uniq('g');
      expect(await run('set_global_parameter', name, '{"x":[1,"y"]}')).toMatchObject({ code: 0, stdout: `Setting global runtime parameter "${name}" to "{"x":[1,"y"]}" ...\n` });
      expect(await run('set_cluster_name', 'ctl cluster')).toMatchObject({ code: 0, stdout: 'Setting cluster name to ctl cluster ...\n' });
      const listed = await run('list_global_parameters');
      expect(listed.lines.slice(0, 2)).toEqual(['Listing global runtime parameters ...', 'name\tvalue']);
      expect(listed.lines).toEqual(expect.arrayContaining([`${name}\t{"x":[1,"y"]}`, 'cluster_name\t"ctl cluster"', expect.stringMatching(/^internal_cluster_id\t"rabbitmq-cluster-id-/)]));
      const conn = await amqp.connect(m.broker.url);
      expect(conn.connection.serverProperties.cluster_name).toBe('ctl cluster');
      await conn.close();
      const status = await run('cluster_status');
      expect(status.lines.slice(0, 3)).toEqual([expect.stringMatching(/^Cluster status of node rabbit@/), 'Basics', 'Cluster name: ctl cluster']);
      expect(status.lines).toContain(`Node: ${(await m.api('GET', '/api/overview')).body.node}, interface: 127.0.0.1, port: ${new URL(m.broker.url).port}, protocol: amqp, purpose: AMQP 0-9-1`);
      expect(JSON.parse((await run('--formatter', 'json', 'cluster_status')).stdout)).toMatchObject({ cluster_name: 'ctl cluster', alarms: [], running_nodes: [expect.any(String)] });
      expect(await run('clear_global_parameter', name)).toMatchObject({ code: 0, stdout: `Clearing global runtime parameter "${name}" ...\n` });
      expect(await run('clear_global_parameter', name)).toMatchObject({ code: 69, stderr: 'warren ctl: Parameter does not exist\n' });
      expect((await run('clear_global_parameter', 'cluster_name')).code).toBe(0);
      expect((await m.api('GET', '/api/cluster-name')).body.name).toMatch(/^rabbit@/);
    });

    it('set_vm_memory_high_watermark 0 blocks publishers (RabbitMQ\'s way to test connection.blocked); 0.4 lets every message through; set_disk_free_limit', async () => {
      const node = (await m.api('GET', '/api/overview')).body.node;
      const publisher = await connect(m.broker.url);
      const ch = await publisher.createChannel();
      const queue = uniq('watermark');
      await ch.assertQueue(queue, { exclusive: true });
      const blocked = nextEvent<string>(publisher, 'blocked');
      expect(await run('set_vm_memory_high_watermark', '0')).toMatchObject({ code: 0, stdout: `Setting memory threshold on ${node} to 0 ...\n` });
      expect((await m.api('GET', '/api/nodes')).body[0]).toMatchObject({ mem_limit: 0, mem_alarm: true });
      for (let i = 1; i <= 20; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
      expect(await blocked).toBe('low on memory');
      expect((await run('check_local_alarms')).code).toBe(69);
      const unblocked = nextEvent(publisher, 'unblocked');
      expect((await run('set_vm_memory_high_watermark', '0.4')).code).toBe(0);
      await unblocked;
      const got = await collect(ch, queue, 20);
      expect(got.map((msg) => msg.content.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `m${i + 1}`));
      await publisher.close();

      expect(await run('set_vm_memory_high_watermark', 'absolute', '2GiB')).toMatchObject({ code: 0, stdout: `Setting memory threshold on ${node} to 2GiB bytes ...\n` });
      expect((await m.api('GET', '/api/nodes')).body[0].mem_limit).toBe(2 * 2 ** 30);
      for (const bad of [['1.5'], ['abc'], ['absolute', '2XB'], ['relative', '0.5']]) expect((await run('set_vm_memory_high_watermark', ...bad)).code, bad.join(' ')).not.toBe(0);
      expect(await run('set_disk_free_limit', '1GB')).toMatchObject({ code: 0, stdout: `Setting disk free limit on ${node} to 1GB bytes ...\n` });
      expect((await m.api('GET', '/api/nodes')).body[0].disk_free_limit).toBe(1e9);
      expect(await run('set_disk_free_limit', 'mem_relative', '0.5')).toMatchObject({ code: 0, stdout: `Setting disk free limit on ${node} to 0.5 times the total RAM ...\n` });
      expect((await run('set_disk_free_limit', 'lots')).code).toBe(65);
      expect((await run('set_disk_free_limit', '50MB')).code).toBe(0);
      expect((await run('set_vm_memory_high_watermark', '0.4')).code).toBe(0);
    });

    it("rabbitmq-diagnostics' listener, certificate and node reports, with RabbitMQ 3.10.8's lines; the listener checks fail for what is not there", async () => {
      const node = (await m.api('GET', '/api/overview')).body.node;
      const amqpPort = new URL(m.broker.url).port;
      const listeners = [
        `Interface: 127.0.0.1, port: ${amqpPort}, protocol: amqp, purpose: AMQP 0-9-1`,
        `Interface: 127.0.0.1, port: ${m.broker.managementPort}, protocol: http, purpose: HTTP API`,
      ];
      expect((await run('listeners')).lines).toEqual([`Asking node ${node} to report its protocol listeners ...`, ...listeners]);
      expect((await run('check_protocol_listener', 'amqp')).lines).toEqual([`Asking node ${node} if there's an active listener for protocol amqp ...`, `A listener for protocol amqp is running on node ${node}.`]);
      expect(await run('check_protocol_listener', 'mqtt')).toMatchObject({
        code: 69,
        stderr: `warren ctl: No listener for protocol mqtt is active on node ${node}. Found listeners for the following protocols: amqp, http\n`,
      });
      expect((await run('-q', 'check_port_listener', amqpPort)).lines).toEqual([`A listener for port ${amqpPort} is running on node ${node}.`]);
      expect(await run('check_port_listener', '1')).toMatchObject({ code: 69, stderr: `warren ctl: No listener for port 1 is active on node ${node}. Found listeners that use the following ports: ${amqpPort}, ${m.broker.managementPort}\n` });
      expect((await run('check_certificate_expiration')).lines).toEqual([`Checking certificate expiration on node ${node} ...`, 'No certificates are expiring within 4 weeks.']);
      expect((await run('check_certificate_expiration', '--within', '1', '--unit', 'fortnights')).code).toBe(64);
      expect((await run('-q', 'is_running')).lines).toEqual([`RabbitMQ on node ${node} is fully booted and running`]);
      expect((await run('-q', 'server_version')).lines).toEqual([(await m.api('GET', '/api/overview')).body.rabbitmq_version]);
      // -q drops the banner, not the result, as rabbitmq-diagnostics
      expect((await run('-q', 'alarms')).lines).toEqual([`Node ${node} reported no alarms, local or clusterwide`]);
      expect((await run('-q', 'check_running')).lines).toEqual([`RabbitMQ on node ${node} is fully booted and running`]);
      expect((await run('node_health_check')).lines.at(-1)).toBe('Health check passed');
      for (const check of ['check_if_node_is_quorum_critical', 'check_if_node_is_mirror_sync_critical']) {
        expect((await run('-q', check)).lines).toEqual([`Node ${node} seems to be the only one in a single node cluster, the check does not apply`]);
      }
      expect((await run('check_port_listener')).code).toBe(64);
      // feature flags: RabbitMQ 3.10.8's, all enabled (warren behaves as each says)
      const flags = (await run('-q', 'list_feature_flags')).lines;
      expect(flags).toEqual(expect.arrayContaining(['name\tstate', 'quorum_queue\tenabled', 'user_limits\tenabled', 'stream_queue\tenabled']));
      expect(flags).toHaveLength(10);
      expect(await run('enable_feature_flag', 'all')).toMatchObject({ code: 0, stdout: 'Enabling all feature flags ...\n' });
      expect((await run('enable_feature_flag', 'user_limits')).code).toBe(0);
      expect((await run('enable_feature_flag', 'stream_queue')).code).toBe(0);
      expect(await run('enable_feature_flag', 'no_such_flag')).toMatchObject({ code: 64, stderr: 'warren ctl: 400 bad_request: unsupported\n' });
      const monitor = uniq('flags-mon');
      await m.api('PUT', `/api/users/${monitor}`, { password: 'p', tags: 'monitoring' });
      expect((await m.api('GET', '/api/feature-flags', undefined, { auth: `Basic ${Buffer.from(`${monitor}:p`).toString('base64')}` })).status).toBe(401);
      expect(await run('list_unresponsive_queues')).toMatchObject({ code: 0, stdout: 'Listing unresponsive queues for vhost / ...\n' });
    });

    it('close_all_connections closes a vhost\'s connections (up to --limit) with 320 and the reason, or the node\'s with --global', async () => {
      const vhost = uniq('ctl closing');
      await m.api('PUT', `/api/vhosts/${encodeURIComponent(vhost)}`);
      const port = Number(new URL(m.broker.url).port);
      const open = async (v: string) => {
        const c = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port, username: 'guest', password: 'guest', vhost: v });
        c.on('error', () => {});
        return { c, closed: nextEvent<any>(c, 'close', 10_000) };
      };
      const inVhost = [await open(vhost), await open(vhost), await open(vhost)];
      const elsewhere = await open('/');
      const two = await run('-p', vhost, 'close_all_connections', '--limit', '2', 'two of them');
      expect(two.lines).toEqual([`Closing 2 connections in vhost ${vhost}, reason: two of them...`, 'Closed 2 connections']);
      const all = await run('-p', vhost, 'close_all_connections', 'the rest');
      expect(all.lines).toEqual([`Closing all connections in vhost ${vhost}, reason: the rest...`, 'Closed 1 connections']);
      const events = await Promise.all(inVhost.map((x) => x.closed));
      expect(events.map((e) => e.code)).toEqual([320, 320, 320]);
      expect(events.map((e) => /two of them|the rest/.exec(e.message)?.[0]).sort()).toEqual(['the rest', 'two of them', 'two of them']);
      // the other vhost's connection is still open; --global closes it too
      await (await elsewhere.c.createChannel()).close();
      const global = await run('close_all_connections', '--global', 'everyone');
      expect(global.lines[0]).toMatch(/^Closing all connections to node \S+ \(across all vhosts\), reason: everyone\.\.\.$/);
      expect((await elsewhere.closed).code).toBe(320);
    }, 60_000);

    it('a user without the administrator tag is told which tag it lacks', async () => {
      const user = uniq('watcher');
      await m.api('PUT', `/api/users/${user}`, { password: 'p', tags: 'monitoring' });
      const listed = await ctl(['--url', `http://${user}:p@127.0.0.1:${m.broker.managementPort}`, 'list_users']);
      expect([listed.code, listed.stderr.trim()]).toEqual([69, `warren ctl: http://127.0.0.1:${m.broker.managementPort}: refused: Not administrator user`]);
      const vhosts = await ctl(['--url', `http://${user}:p@127.0.0.1:${m.broker.managementPort}`, '-q', 'list_vhosts']);
      expect(vhosts.lines).toContain('/');
    });
  });
}

/** A port nothing listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('warren --management-port', () => {
  it('serves the API on the port asked for, after the ready line; warren ctl reaches it; SIGTERM stops both', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN, '--port', '0', '--host', '127.0.0.1', '--workers', '0', '--in-memory', '--management-port', String(port)]);
    let stdout = '';
    child.stdout.setEncoding('utf8');
    const lines = await new Promise<string[]>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        const got = stdout.split('\n');
        if (got.length > 2) resolve(got.slice(0, 2));
      });
      child.once('exit', (code) => reject(new Error(`warren exited with ${code}: ${stdout}`)));
    });
    try {
      expect(lines[0]).toMatch(/^warren .* listening on 127\.0\.0\.1 port \d+ .* ready in [\d.]+ ms$/);
      expect(lines[1]).toBe(`warren: management API on http://127.0.0.1:${port}/api/`);
      const status = await ctl(['--url', `http://guest:guest@127.0.0.1:${port}`, '-q', 'list_vhosts']);
      expect(status.lines).toEqual(['name', '/']);
    } finally {
      child.kill('SIGTERM');
      expect((await once(child, 'exit'))[0]).toBe(0);
    }
    const after = await ctl(['--url', `http://guest:guest@127.0.0.1:${port}`, 'status']);
    expect(after.code).toBe(69);
  });

  it('shutdown and stop close the clients with 320 and end the process (exit 0); a data dir keeps the persistent messages for the next start', async () => {
    const [port, amqpPort] = [await freePort(), await freePort()];
    const dir = path.join(TEMP, 'shutdown');
    const url = `http://guest:guest@127.0.0.1:${port}`;
    const start = () => spawn(process.execPath, [MAIN, '--port', String(amqpPort), '--host', '127.0.0.1', '--workers', '0', '--data-dir', dir, '--management-port', String(port)]);
    let child = start();
    expect((await ctl(['--url', url, 'await_startup'])).code).toBe(0);
    const node = JSON.parse((await ctl(['--url', url, '--formatter', 'json', 'status'])).stdout).overview.node;
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
    const closed = nextEvent<any>(conn, 'close', 10_000);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('kept', { durable: true });
    for (let i = 1; i <= 10; i++) ch.sendToQueue('kept', Buffer.from(`m${i}`), { persistent: true });
    await ch.waitForConfirms();
    const exited = once(child, 'exit');
    expect((await ctl(['--url', url, 'shutdown'])).lines).toEqual([
      `Shutting down RabbitMQ node ${node} running at PID ${child.pid}`,
      `Waiting for PID ${child.pid} to terminate`,
      `RabbitMQ node ${node} running at PID ${child.pid} successfully shut down`,
    ]);
    expect((await exited)[0]).toBe(0);
    expect((await closed).message).toMatch(/320/);
    expect((await ctl(['--url', url, 'shutdown'])).code).toBe(69);

    child = start();
    expect((await ctl(['--url', url, 'await_startup'])).code).toBe(0);
    const again = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
    again.on('error', () => {});
    const got = await collect(await again.createChannel(), 'kept', 10, { noAck: true });
    expect(got.map((m) => m.content.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `m${i + 1}`));
    const stopped = once(child, 'exit');
    expect((await ctl(['--url', url, 'stop'])).lines).toEqual([`Stopping and halting node ${node} ...`]);
    expect((await stopped)[0]).toBe(0);
  }, 60_000);

  it('await_startup waits for a broker that starts later, and gives up after --timeout', async () => {
    const port = await freePort();
    const waiting = ctl(['--url', `http://guest:guest@127.0.0.1:${port}`, 'await_startup', '--timeout', '60']);
    await new Promise((r) => setTimeout(r, 1000));
    const child = spawn(process.execPath, [MAIN, '--port', '0', '--host', '127.0.0.1', '--workers', '0', '--in-memory', '--management-port', String(port)]);
    try {
      const waited = await waiting;
      expect([waited.code, waited.stdout, waited.stderr]).toEqual([0, '', '']);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    const started = Date.now();
    const nobody = await ctl(['--url', `http://guest:guest@127.0.0.1:${port}`, 'await_startup', '-t', '1']);
    expect([nobody.code, nobody.stderr]).toEqual([69, expect.stringContaining('cannot reach the management API')]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it("rabbitmq-diagnostics' checks: ping, check_running (fails while stopped), the alarm checks (fail under an alarm), ports, vhosts", async () => {
    const port = await freePort();
    const url = `http://guest:guest@127.0.0.1:${port}`;
    // A memory watermark below what the broker holds at start: the memory alarm is on.
    const child = spawn(process.execPath, [MAIN, '--port', '0', '--host', '127.0.0.1', '--workers', '0', '--in-memory', '--management-port', String(port), '--memory-high-watermark', '1000000']);
    try {
      expect((await ctl(['--url', url, 'await_startup'])).code).toBe(0);
      const node = JSON.parse((await ctl(['--url', url, '--formatter', 'json', 'status'])).stdout).overview.node;
      expect((await ctl(['--url', url, 'ping'])).lines).toEqual(['Ping succeeded']);
      expect((await ctl(['--url', url, 'check_running'])).lines).toEqual([`Checking if RabbitMQ is running on node ${node} ...`, `RabbitMQ on node ${node} is fully booted and running`]);
      const ports = await ctl(['--url', url, 'check_port_connectivity']);
      expect([ports.code, ports.lines[1]]).toEqual([0, expect.stringMatching(new RegExp(`^Successfully connected to ports \\d+, ${port} on node `))]);
      expect((await ctl(['--url', url, 'check_virtual_hosts'])).code).toBe(0);
      for (const check of ['check_local_alarms', 'check_alarms']) {
        const alarmed = await ctl(['--url', url, check]);
        expect([check, alarmed.code, alarmed.stderr.trim()]).toEqual([check, 69, `warren ctl: Node ${node} reported alarms: memory`]);
      }
      expect((await ctl(['--url', url, 'cluster_status'])).lines).toEqual(expect.arrayContaining(['Alarms', `Memory alarm on node ${node}`]));
      expect((await ctl(['--url', url, '-q', 'alarms'])).lines).toEqual([`Memory alarm on node ${node}`]);
      const unhealthy = await ctl(['--url', url, 'node_health_check']);
      expect([unhealthy.code, unhealthy.stderr.trim()]).toEqual([69, 'warren ctl: health check failed. Message: resource alarm(s) in effect: memory']);
      expect((await ctl(['--url', url, 'stop_app'])).code).toBe(0);
      const down = (await ctl(['--url', url, 'cluster_status'])).lines;
      expect(down.slice(down.indexOf('Running Nodes'), down.indexOf('Running Nodes') + 2)).toEqual(['Running Nodes', '(none)']);
      expect((await ctl(['--url', url, '-q', 'is_running'])).lines).toEqual([`RabbitMQ on node ${node} is not running or has not fully booted yet (check with is_booting)`]);
      expect((await ctl(['--url', url, 'listeners'])).code).toBe(69);
      const stopped = await ctl(['--url', url, 'check_running']);
      expect([stopped.code, stopped.stderr.trim()]).toEqual([69, `warren ctl: RabbitMQ on node ${node} is not running or has not fully booted yet`]);
      expect((await ctl(['--url', url, 'start_app'])).code).toBe(0);
      expect((await ctl(['--url', url, 'check_running'])).code).toBe(0);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    expect((await ctl(['--url', url, 'ping'])).code).toBe(69);
  }, 60_000);

  it('a management port in use, asked for, is one line and exit code 1', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const child = spawn(process.execPath, [MAIN, '--port', '0', '--host', '127.0.0.1', '--workers', '0', '--in-memory', '--management-port', String(port)]);
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const [code] = await once(child, 'exit');
      expect(code).toBe(1);
      expect(stderr.trimEnd().split('\n')).toEqual([`warren: management API: port ${port} on 127.0.0.1 is in use`]);
    } finally {
      taken.close();
    }
  });
});
