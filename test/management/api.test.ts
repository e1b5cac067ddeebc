/**
 * The management API's frame: auth, error bodies, overview, nodes, vhosts
 * (a vhost name that needs percent-encoding), whoami, health checks,
 * definitions export and import, pagination and columns, and /metrics.
 */
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, refused, uniq } from '../helpers.js';
import { basic, enc, managedBroker } from './support.js';

for (const mode of MODES) {
  describe(`management API (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('needs basic auth checked like an AMQP login: 401 with RabbitMQ\'s body and WWW-Authenticate', async () => {
      for (const auth of [null, basic('guest', 'wrong'), basic('nobody', 'guest'), 'Bearer abc', 'Basic !!!']) {
        const reply = await m.api('GET', '/api/overview', undefined, { auth });
        expect(reply.status, String(auth)).toBe(401);
        expect(reply.body).toEqual({ error: 'not_authorised', reason: 'Login failed' });
        expect(reply.headers.get('www-authenticate')).toBe('Basic realm="RabbitMQ Management"');
      }
      // Nothing was done for a refused request.
      const q = uniq('unauth');
      expect((await m.api('PUT', `/api/queues/%2F/${q}`, { durable: false }, { auth: basic('guest', 'nope') })).status).toBe(401);
      expect((await m.api('GET', `/api/queues/%2F/${q}`)).status).toBe(404);
      expect((await m.api('GET', '/api/whoami')).body).toEqual({ name: 'guest', tags: ['administrator'] });
    });

    it('answers errors with RabbitMQ\'s codes and bodies, and keeps serving', async () => {
      expect(await m.api('GET', '/api/nothing-here')).toMatchObject({ status: 404, body: { error: 'Object Not Found', reason: 'Not Found' } });
      expect(await m.api('GET', '/api/queues/no-such-vhost')).toMatchObject({ status: 404, body: { error: 'Object Not Found', reason: 'Not Found' } });
      expect(await m.api('PUT', `/api/queues/%2F/${uniq('json')}`, undefined, { raw: '{"durable": tru' })).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'not_json' } });
      expect(await m.api('PUT', `/api/queues/%2F/${uniq('arr')}`, [1, 2])).toMatchObject({ status: 400, body: { error: 'bad_request' } });
      expect(await m.api('PUT', `/api/queues/%2F/${uniq('flag')}`, { durable: 'maybe' })).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'durable must be true or false, got "maybe"' } });
      expect((await m.api('POST', '/api/overview', {})).status).toBe(405);
      expect(await m.api('GET', '/api/queues?page=0')).toMatchObject({ status: 400, body: { error: 'invalid_pagination_parameters', reason: 'Invalid pagination parameters: page number 0, page size undefined' } });
      expect(await m.api('GET', '/api/queues?page=1&page_size=501')).toMatchObject({ status: 400, body: { error: 'invalid_pagination_parameters', reason: 'Invalid pagination parameters: page number 1, page size 501' } });
      expect((await m.api('GET', '/api/queues?page=1&name=(&use_regex=true')).status).toBe(400);
      // RabbitMQ's other pagination refusals: not a number, and a page past the one after the last
      expect(await m.api('GET', '/api/queues?page=abc')).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'Pagination parameters are invalid' } });
      expect(await m.api('GET', `/api/queues?page=3&name=${uniq('none')}`)).toMatchObject({ status: 400, body: { error: 'page_out_of_range', reason: 'Page out of range, page: 3 page size: 100, len: 0' } });
      expect((await m.api('GET', `/api/queues?page=1&name=${uniq('none')}`)).body).toMatchObject({ filtered_count: 0, items: [] });
      expect((await m.api('GET', '/api/overview')).status).toBe(200);
    });

    it('a name filter, a policy pattern and a permission that backtrack exponentially answer at once', async () => {
      // ^(a+)+$ against forty a's and a ! backtracks for hours on JavaScript's engine, on the broker's thread.
      const evil = '^(a+)+$';
      const name = `${'a'.repeat(40)}!`;
      const conn = await connect(m.broker.url);
      try {
        const ch = await channel(conn);
        expect((await m.api('PUT', `/api/policies/%2F/${uniq('evil')}`, { pattern: evil, definition: { 'max-length': 1 }, 'apply-to': 'queues' })).status).toBe(201);
        await ch.assertQueue(name, { autoDelete: true });
        await ch.assertQueue('a'.repeat(40), { autoDelete: true });
        const filtered = await m.api('GET', `/api/queues?page=1&name=${enc(evil)}&use_regex=true&columns=name,policy`);
        expect(filtered.status).toBe(200);
        expect(filtered.body.items).toEqual([{ name: 'a'.repeat(40), policy: expect.stringMatching(/^evil-/) }]);
        expect((await m.api('GET', `/api/queues/%2F/${enc(name)}`)).body.policy).toBeNull();

        const user = uniq('evil-user');
        expect((await m.api('PUT', `/api/users/${user}`, { password: 'p', tags: '' })).status).toBe(201);
        expect((await m.api('PUT', `/api/permissions/%2F/${user}`, { configure: evil, write: '', read: '' })).status).toBe(201);
        const theirs = await connect(m.broker.url.replace('guest:guest', `${user}:p`));
        try {
          expect((await refused((await channel(theirs)).assertQueue(name))).code).toBe(403);
          expect((await (await channel(theirs)).assertQueue('a'.repeat(40), { autoDelete: true })).queue).toBe('a'.repeat(40));
        } finally {
          await theirs.close();
        }
      } finally {
        await conn.close();
      }
    });

    it('refuses JSON nested deeper than AMQP carries tables (400); what it keeps, it can list and export', async () => {
      const nested = (depth: number): unknown => {
        let value: unknown = 1;
        for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { a: value };
        return value;
      };
      // 20,000 levels (too deep for JSON.stringify), once stored, made every later listing and export of them run off the stack (500).
      const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
      for (const [path, body] of [
        [`/api/queues/%2F/${uniq('deep')}`, `{"durable":true,"arguments":{"x-other":${deep}}}`],
        [`/api/exchanges/%2F/${uniq('deep')}`, `{"type":"direct","durable":true,"arguments":{"x-other":${deep}}}`],
        ['/api/bindings/%2F/e/amq.direct/e/amq.fanout', `{"routing_key":"${uniq('deep')}","arguments":{"x-other":${deep}}}`],
      ]) {
        expect(await m.api(path.includes('bindings') ? 'POST' : 'PUT', path, undefined, { raw: body }), path).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'nested deeper than 108 levels' } });
      }
      expect((await m.api('POST', '/api/definitions', { queues: [{ name: 'deep', vhost: '/', durable: true, auto_delete: false, arguments: { x: nested(200) } }] })).status).toBe(400);
      // A table as deep as AMQP lets a client send (100) is kept, listed and exported.
      const q = uniq('as-deep-as-amqp');
      expect((await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: true, arguments: { 'x-other': nested(100) } })).status).toBe(201);
      expect((await m.api('GET', `/api/queues/%2F/${enc(q)}`)).body.arguments).toEqual({ 'x-other': nested(100) });
      const defs = await m.api('GET', '/api/definitions');
      expect(defs.status).toBe(200);
      expect(defs.body.queues.find((d: { name: string }) => d.name === q).arguments).toEqual({ 'x-other': nested(100) });
      expect((await m.api('DELETE', `/api/queues/%2F/${enc(q)}`)).status).toBe(204);
    });

    it('overview counts objects and messages; nodes, vhosts, health checks answer', async () => {
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createConfirmChannel();
        const q = uniq('ov');
        await ch.assertQueue(q, { durable: false });
        await ch.consume((await ch.assertQueue('', { exclusive: true })).queue, () => {});
        for (let i = 0; i < 3; i++) ch.sendToQueue(q, Buffer.from(String(i)));
        await ch.waitForConfirms();
        const { status, body } = await m.api('GET', '/api/overview');
        expect(status).toBe(200);
        expect(body).toMatchObject({
          management_version: '3.10.8',
          rabbitmq_version: '3.10.8',
          product_name: 'warren',
          listeners: [{ protocol: 'amqp', ip_address: '127.0.0.1', port: m.broker.port }, { protocol: 'http', ip_address: '127.0.0.1', port: m.broker.managementPort }],
          object_totals: { connections: 1, channels: 1, consumers: 1 },
        });
        expect(body.queue_totals.messages_ready).toBeGreaterThanOrEqual(3);
        expect(body.object_totals.queues).toBe(m.broker.broker.vhosts.get('/')!.topology.queues.size);
        expect(body.object_totals.exchanges).toBe(m.broker.broker.vhosts.get('/')!.topology.exchanges.size);
        expect(body.message_stats.publish).toBeGreaterThanOrEqual(3);
        expect(body.exchange_types.map((t: any) => t.name).sort()).toEqual(['direct', 'fanout', 'headers', 'topic']);
      } finally {
        await conn.close();
      }
      const [node] = (await m.api('GET', '/api/nodes')).body;
      expect(node).toMatchObject({ running: true, mem_alarm: false, os_pid: String(process.pid) });
      expect(node.mem_used).toBeGreaterThan(0);
      expect((await m.api('GET', `/api/nodes/${enc(node.name)}`)).body.name).toBe(node.name);
      expect((await m.api('GET', '/api/nodes/rabbit@elsewhere')).status).toBe(404);
      expect((await m.api('GET', '/api/vhosts')).body.map((v: any) => v.name)).toContain('/');
      expect((await m.api('GET', '/api/vhosts/%2F')).body).toMatchObject({ name: '/', description: 'Default virtual host', tracing: false, messages_ready: expect.any(Number) });
      expect(await m.api('GET', '/api/healthchecks/node')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect((await m.api('GET', '/api/cluster-name')).body).toEqual({ name: node.name });
      expect((await m.api('GET', '/api/extensions')).body).toEqual([]);
      expect(await m.api('GET', '/api/aliveness-test/%2F')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect((await m.api('GET', '/api/aliveness-test/nowhere')).status).toBe(404);
      expect(await m.api('GET', '/api/health/checks/alarms')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await m.api('GET', `/api/health/checks/port-listener/${m.broker.port}`)).toMatchObject({ status: 200, body: { status: 'ok', port: m.broker.port } });
      expect(await m.api('GET', '/api/health/checks/port-listener/1')).toMatchObject({ status: 503, body: { status: 'failed', reason: 'No active listener on port 1' } });
      expect(await m.api('GET', '/api/health/checks/protocol-listener/amqp')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect((await m.api('GET', '/api/health/checks/protocol-listener/stomp')).status).toBe(503);
      expect(await m.api('GET', `/api/health/checks/port-listener/${m.broker.managementPort}`)).toMatchObject({ status: 200 });
      expect(await m.api('GET', '/api/health/checks/protocol-listener/http')).toMatchObject({ status: 200 });
      // No TLS listener here: amqps is not listened for, and no certificate expires.
      expect((await m.api('GET', '/api/health/checks/protocol-listener/amqp%2Fssl')).status).toBe(503);
      expect(await m.api('GET', '/api/health/checks/certificate-expiration/1/years')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await m.api('GET', '/api/health/checks/certificate-expiration/x/days')).toMatchObject({ status: 400, body: { reason: 'Invalid expiration value.' } });
      expect((await m.api('GET', '/api/health/checks/certificate-expiration/1/fortnights')).status).toBe(400);
      for (const check of ['node-is-quorum-critical', 'node-is-mirror-sync-critical']) {
        expect(await m.api('GET', `/api/health/checks/${check}`)).toMatchObject({ status: 200, body: { status: 'ok', reason: 'single node cluster' } });
      }
      // The UI's question before its login, answered without credentials as RabbitMQ's.
      const auth = await fetch(`http://127.0.0.1:${m.broker.managementPort}/api/auth`);
      expect([auth.status, await auth.json()]).toEqual([200, { enable_uaa: false, uaa_client_id: '', uaa_location: '' }]);
      // RabbitMQ's deprecated name of the definitions export
      const all = await m.api('GET', '/api/all-configuration');
      expect(all.body.vhosts).toEqual((await m.api('GET', '/api/definitions')).body.vhosts);
    });

    it('/api/auth/attempts counts AMQP logins and API requests by protocol, failures apart; DELETE resets', async () => {
      const node = (await m.api('GET', '/api/overview')).body.node;
      const path = `/api/auth/attempts/${enc(node)}`;
      expect((await m.api('DELETE', path)).status).toBe(204);
      expect((await m.api('GET', path, undefined, { auth: basic('guest', 'wrong') })).status).toBe(401);
      await (await connect(m.broker.url)).close();
      await expect(connect(m.broker.url.replace('guest:guest', 'guest:wrong'))).rejects.toThrow();
      const counts = (await m.api('GET', path)).body;
      expect(counts).toEqual(expect.arrayContaining([
        { protocol: 'http', auth_attempts: 2, auth_attempts_failed: 1, auth_attempts_succeeded: 1 },
        { protocol: 'amqp091', auth_attempts: 2, auth_attempts_failed: 1, auth_attempts_succeeded: 1 },
      ]));
      expect(counts).toHaveLength(2);
      expect((await m.api('GET', `${path}/source`)).body).toEqual([]);
      expect((await m.api('GET', '/api/auth/attempts/rabbit%40elsewhere')).status).toBe(404);
    });

    it('?disable_stats=true (and enable_queue_totals=true) leaves the keys RabbitMQ 3.10.8 leaves; channels and consumers answer 400', async () => {
      const conn = await connect(m.broker.url);
      const ch = await channel(conn);
      const q = uniq('nostats');
      await ch.assertQueue(q, { exclusive: true });
      for (let i = 0; i < 3; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
      await ch.consume(q, () => {}, { noAck: false });
      const keys = (o: object) => Object.keys(o).sort();
      const own = ['arguments', 'auto_delete', 'durable', 'exclusive', 'name', 'node', 'state', 'type', 'vhost'];
      const totals = ['messages', 'messages_ready', 'messages_unacknowledged'];
      const mine = async (p: string) => (await m.api('GET', p)).body.find((x: any) => x.name === q);
      expect(keys((await m.api('GET', `/api/queues/%2F/${enc(q)}?disable_stats=true&enable_queue_totals=true`)).body)).toEqual(own);
      expect(keys(await mine('/api/queues?disable_stats=true'))).toEqual(own);
      const listed = await mine('/api/queues/%2F?disable_stats=true&enable_queue_totals=true');
      expect(keys(listed)).toEqual([...own, ...totals].sort());
      expect(listed.messages).toBe(3);
      // without the flag, the statistics are there
      expect(keys(await mine('/api/queues')).length).toBeGreaterThan(20);
      expect(keys((await m.api('GET', '/api/vhosts/%2F?disable_stats=true')).body)).toEqual(['cluster_state', 'default_queue_type', 'description', 'metadata', 'name', 'tags', 'tracing']);
      expect((await m.api('GET', '/api/nodes?disable_stats=true')).body.map(keys)).toEqual([['name', 'running', 'type']]);
      expect((await m.api('GET', '/api/connections?disable_stats=true')).body.map(keys)).toEqual([['name', 'node', 'user', 'vhost']]);
      const overview = keys((await m.api('GET', '/api/overview?disable_stats=true')).body);
      expect(overview).toEqual(expect.arrayContaining(['cluster_name', 'node', 'object_totals', 'rabbitmq_version']));
      for (const gone of ['message_stats', 'queue_totals', 'listeners', 'churn_rates']) expect(overview).not.toContain(gone);
      for (const p of ['/api/channels', '/api/consumers']) {
        expect(await m.api('GET', `${p}?disable_stats=true`)).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'Stats in management UI are disabled on this node' } });
      }
      await conn.close();
    });

    it('pages, filters by name (substring or regex), sorts and picks columns', async () => {
      const prefix = uniq('page');
      for (let i = 1; i <= 7; i++) await m.api('PUT', `/api/queues/%2F/${prefix}-${i}`, { durable: false, arguments: { 'x-max-length': i } });
      const page = await m.api('GET', `/api/queues/%2F?page=2&page_size=3&name=${prefix}&sort=name&sort_reverse=true&columns=name,arguments.x-max-length`);
      expect(page.status).toBe(200);
      expect(page.body).toEqual({
        filtered_count: 7,
        item_count: 3,
        items: [4, 3, 2].map((i) => ({ name: `${prefix}-${i}`, arguments: { 'x-max-length': i } })),
        page: 2,
        page_count: 3,
        page_size: 3,
        total_count: page.body.total_count,
      });
      expect(page.body.total_count).toBeGreaterThanOrEqual(7);
      // As RabbitMQ: the filter applies to a page only (without one the list comes whole, by vhost and name), a substring case-insensitively.
      const regex = await m.api('GET', `/api/queues/%2F?page=1&name=${enc(`^${prefix}-[15]$`)}&use_regex=true&columns=name`);
      expect(regex.body.items.map((q: any) => q.name)).toEqual([`${prefix}-1`, `${prefix}-5`]);
      const substring = await m.api('GET', `/api/queues/%2F?page=1&name=${enc(prefix.toUpperCase())}&columns=name`);
      expect(substring.body.items.map((q: any) => q.name)).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => `${prefix}-${i}`));
      const whole: string[] = (await m.api('GET', `/api/queues/%2F?name=${prefix}&columns=name`)).body.map((q: any) => q.name);
      expect(whole.length).toBeGreaterThan(7);
      expect(whole).toEqual([...whole].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      expect((await m.api('GET', `/api/queues/%2F/${prefix}-1?columns=name,messages`)).body).toEqual({ name: `${prefix}-1`, messages: 0 });
    });

    it('exports durable definitions; imports RabbitMQ\'s format into a new vhost whose name needs percent-encoding', async () => {
      const durable = uniq('kept');
      await m.api('PUT', `/api/queues/%2F/${durable}`, { durable: true });
      await m.api('PUT', `/api/queues/%2F/${uniq('transient')}`, { durable: false });
      const exported = (await m.api('GET', '/api/definitions')).body;
      expect(exported.queues.filter((q: any) => q.name === durable)).toEqual([{ name: durable, vhost: '/', type: 'classic', durable: true, auto_delete: false, arguments: {} }]);
      expect(exported.queues.every((q: any) => q.durable)).toBe(true);

      const vhost = `load test/ü ${uniq('vh')}`;
      const defs = {
        vhosts: [{ name: vhost }],
        // As in RabbitMQ, a vhost created by an import grants nobody access unless the file says so.
        permissions: [{ user: 'guest', vhost, configure: '.*', write: '.*', read: '.*' }],
        exchanges: [{ name: 'orders', vhost, type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} }],
        queues: [{ name: 'orders.eu/€', vhost, durable: true, auto_delete: false, arguments: {} }],
        bindings: [{ source: 'orders', vhost, destination: 'orders.eu/€', destination_type: 'queue', routing_key: 'eu.#', arguments: {} }],
      };
      expect((await m.api('POST', '/api/definitions', defs)).status).toBe(204);
      expect((await m.api('GET', '/api/vhosts')).body.map((v: any) => v.name)).toContain(vhost);
      expect((await m.api('GET', `/api/exchanges/${enc(vhost)}/orders`)).body).toMatchObject({ vhost, type: 'topic' });

      // Over AMQP, in that vhost: the imported binding routes.
      const conn = await connect(`${m.broker.url}/${enc(vhost)}`);
      try {
        const ch = await conn.createConfirmChannel();
        for (let i = 1; i <= 4; i++) ch.publish('orders', i % 2 === 0 ? 'eu.de' : 'us.ny', Buffer.from(`order-${i}`));
        await ch.waitForConfirms();
        const q = (await m.api('GET', `/api/queues/${enc(vhost)}/${enc('orders.eu/€')}`)).body;
        expect(q).toMatchObject({ name: 'orders.eu/€', vhost, messages_ready: 2 });
        const got = (await m.api('POST', `/api/queues/${enc(vhost)}/${enc('orders.eu/€')}/get`, { count: 5, ackmode: 'ack_requeue_false', encoding: 'auto' })).body;
        expect(got.map((g: any) => g.payload)).toEqual(['order-2', 'order-4']);
        const other = await channel(conn);
        expect(await other.checkQueue('orders.eu/€')).toMatchObject({ messageCount: 0 });
      } finally {
        await conn.close();
      }
      const perVhost = (await m.api('GET', `/api/definitions/${enc(vhost)}`)).body;
      expect(perVhost.queues).toEqual([{ name: 'orders.eu/€', type: 'classic', durable: true, auto_delete: false, arguments: {} }]);

      const bad = await m.api('POST', '/api/definitions', { queues: [{ name: 'x', vhost: '/', durable: 'yes' }] });
      expect(bad).toMatchObject({ status: 400, body: { error: 'bad_request', reason: "durable of queue 'x' must be true or false, got \"yes\"" } });
      expect((await m.api('GET', '/api/queues/%2F/x')).status).toBe(404);
    });

    it('/metrics: Prometheus text with rabbitmq_prometheus names, collected on scrape, without auth; queues summed there, one series each on /metrics/per-object', async () => {
      const q = uniq('metrics');
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createConfirmChannel();
        await ch.assertQueue(q, { durable: false });
        for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from(String(i)));
        await ch.waitForConfirms();
        const held = await channel(conn);
        await held.prefetch(2);
        await held.consume(q, () => {}, { noAck: false });
        await held.checkQueue(q);
        const res = await fetch(`${m.base}/metrics/per-object`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
        const text = await res.text();
        const value = (metric: string) => Number(new RegExp(`^${metric}\\{vhost="/",queue="${q}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
        expect(value('rabbitmq_queue_messages_ready')).toBe(4);
        expect(value('rabbitmq_queue_messages_unacked')).toBe(2);
        expect(value('rabbitmq_queue_messages')).toBe(6);
        expect(value('rabbitmq_queue_consumers')).toBe(1);
        expect(text).toMatch(/^rabbitmq_connections 1$/m);
        expect(text).toMatch(/^rabbitmq_channels 2$/m);
        expect(text).toMatch(/^# TYPE rabbitmq_queue_messages_ready gauge$/m);
        // The default, as rabbitmq_prometheus: each queue metric once, the sum of the per-queue series.
        const summed = await (await fetch(`${m.base}/metrics`)).text();
        expect(summed).not.toMatch(/queue="/);
        for (const metric of ['rabbitmq_queue_messages_ready', 'rabbitmq_queue_messages_unacked', 'rabbitmq_queue_messages', 'rabbitmq_queue_consumers', 'rabbitmq_queue_messages_bytes']) {
          const perQueue = [...text.matchAll(new RegExp(`^${metric}\\{[^}]*\\} (\\S+)$`, 'gm'))].reduce((sum, match) => sum + Number(match[1]), 0);
          expect([metric, Number(new RegExp(`^${metric} (\\S+)$`, 'm').exec(summed)?.[1])]).toEqual([metric, perQueue]);
        }
        expect(summed).toMatch(/^rabbitmq_connections 1$/m);
        // Scrapes at the same time share the gauges: each still gets its own kind.
        const both = await Promise.all(Array.from({ length: 10 }, (_, i) => fetch(`${m.base}/metrics${i % 2 === 0 ? '' : '/per-object'}`).then((r) => r.text())));
        both.forEach((t, i) => expect([i, t.includes(`queue="${q}"`), /^rabbitmq_queue_messages_ready \d+$/m.test(t)]).toEqual([i, i % 2 === 1, i % 2 === 0]));
        expect(summed).toMatch(new RegExp(`^rabbitmq_queues ${text.match(/^rabbitmq_queues (\d+)$/m)![1]}$`, 'm'));
      } finally {
        await conn.close();
      }
      const after = await (await fetch(`${m.base}/metrics/per-object`)).text();
      expect(after).toMatch(/^rabbitmq_connections 0$/m);
      expect(after).toMatch(new RegExp(`^rabbitmq_queue_messages_ready\\{vhost="/",queue="${q}"\\} 6$`, 'm'));
    });
  });
}

for (const mode of MODES) {
  describe(`management API under a memory alarm (${mode.name})`, () => {
    it('the alarm health checks answer 503, /api/nodes and /metrics show it', async () => {
      const { startBroker } = await import('../../dist/src/index.js');
      // A watermark below what the broker holds at start: the first publish finds the alarm on.
      const broker = await startBroker({ port: 0, host: '127.0.0.1', workers: mode.workers, managementPort: 0, memoryHighWatermark: 1024 * 1024 });
      const base = `http://127.0.0.1:${broker.managementPort}`;
      const get = async (path: string) => {
        const res = await fetch(base + path, { headers: { authorization: basic('guest', 'guest') } });
        return { status: res.status, body: (await res.json()) as any };
      };
      try {
        // The health check looks at memory itself, publishes or not (RabbitMQ 3.10.8's answer).
        expect(await get('/api/health/checks/alarms')).toEqual({ status: 503, body: { status: 'failed', reason: 'There are alarms in effect in the cluster', alarms: [{ node: expect.any(String), resource: 'memory' }] } });
        const conn = await connect(broker.url);
        const ch = await channel(conn);
        const blocked = new Promise((resolve) => conn.once('blocked', resolve));
        ch.sendToQueue('nowhere', Buffer.from('x'));
        expect(await blocked).toBe('low on memory');
        expect((await get('/api/nodes')).body[0]).toMatchObject({ mem_alarm: true, mem_limit: 1024 * 1024 });
        expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^rabbitmq_alarms_memory_used_watermark 1$/m);
        // (Not conn.close(): a blocked connection's close is not read, as in RabbitMQ; the broker's close ends it.)
      } finally {
        await broker.close();
      }
    });
  });
}
