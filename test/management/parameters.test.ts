/**
 * /api/parameters (the vhost-limits component), /api/global-parameters and
 * /api/cluster-name, with RabbitMQ 3.10.8's codes and texts (compared side by
 * side with curl), each change seen where a client sees it: a vhost limit
 * refuses an amqplib login, the cluster name is in connection.start; and
 * global parameters kept in the data dir and brought by a definitions file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, uniq } from '../helpers.js';
import { basic, enc, managedBroker } from './support.js';

const TEMP = mkdtempSync(path.join(os.tmpdir(), 'warren-parameters-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

const ALL = { configure: '.*', write: '.*', read: '.*' };
const LIMITS = '/api/parameters/vhost-limits';

async function serverClusterName(url: string): Promise<unknown> {
  const conn = await amqp.connect(url);
  const name = conn.connection.serverProperties.cluster_name;
  await conn.close();
  return name;
}

for (const mode of MODES) {
  describe(`runtime and global parameters (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('a vhost-limits parameter is the vhost\'s limits: set by a policymaker, it refuses a login; deleted, it lets it in', async () => {
      const vhost = uniq('params/é');
      const pm = uniq('pm');
      await m.api('PUT', `/api/vhosts/${enc(vhost)}`);
      await m.api('PUT', `/api/users/${enc(pm)}`, { password: 'p', tags: 'policymaker' });
      await m.api('PUT', `/api/permissions/${enc(vhost)}/${enc(pm)}`, ALL);
      const asPm = { auth: basic(pm, 'p') };
      const path = `${LIMITS}/${enc(vhost)}/limits`;

      expect((await m.api('PUT', path, { value: { 'max-connections': 0 } }, asPm)).status).toBe(201);
      expect((await m.api('PUT', path, { value: { 'max-connections': 0, 'max-queues': 7 } }, asPm)).status).toBe(204);
      const entry = { value: { 'max-connections': 0, 'max-queues': 7 }, vhost, component: 'vhost-limits', name: 'limits' };
      expect((await m.api('GET', path, undefined, asPm)).body).toEqual(entry);
      expect((await m.api('GET', `${LIMITS}/${enc(vhost)}`, undefined, asPm)).body).toEqual([entry]);
      expect((await m.api('GET', '/api/parameters', undefined, asPm)).body).toEqual([entry]);
      expect((await m.api('GET', `/api/vhost-limits/${enc(vhost)}`)).body).toEqual([{ vhost, value: entry.value }]);
      const login = { protocol: 'amqp', hostname: '127.0.0.1', port: Number(new URL(m.broker.url).port), username: 'guest', password: 'guest', vhost: vhost.replaceAll('%', '%25') };
      await m.api('PUT', `/api/permissions/${enc(vhost)}/guest`, ALL);
      await expect(amqp.connect(login)).rejects.toThrow(/ConnectionClose/);

      // Per-vhost definitions carry it, as RabbitMQ's do.
      expect((await m.api('GET', `/api/definitions/${enc(vhost)}`)).body.parameters).toEqual([entry]);

      expect((await m.api('DELETE', path, undefined, asPm)).status).toBe(204);
      expect((await m.api('DELETE', path, undefined, asPm)).status).toBe(404);
      expect((await m.api('GET', path)).status).toBe(404);
      const conn = await amqp.connect(login);
      await conn.close();
    });

    it('as RabbitMQ 3.10.8: deleting a vhost\'s last limit leaves a limits parameter of no limits ([]) until the parameter is deleted', async () => {
      const vhost = uniq('emptied');
      await m.api('PUT', `/api/vhosts/${enc(vhost)}`);
      const entry = (value: unknown) => ({ value, vhost, component: 'vhost-limits', name: 'limits' });
      const mine = async (p: string) => (await m.api('GET', p)).body.filter((e: any) => e.vhost === vhost);
      expect((await m.api('PUT', `/api/vhost-limits/${enc(vhost)}/max-queues`, { value: 2 })).status).toBe(204);
      expect((await m.api('DELETE', `/api/vhost-limits/${enc(vhost)}/max-queues`)).status).toBe(204);
      expect(await mine('/api/parameters')).toEqual([entry([])]);
      expect(await mine('/api/vhost-limits')).toEqual([{ vhost, value: [] }]);
      expect((await m.api('GET', `/api/vhost-limits/${enc(vhost)}`)).body).toEqual([]);
      expect((await m.api('GET', '/api/definitions')).body.parameters).toContainEqual(entry([]));
      // a parameter of no limits limits nothing
      const conn = await amqp.connect(`${m.broker.url}/${enc(vhost)}`);
      const ch = await conn.createChannel();
      for (let i = 0; i < 3; i++) await ch.assertQueue(`q${i}`, { exclusive: true });
      await conn.close();
      expect((await m.api('DELETE', `${LIMITS}/${enc(vhost)}/limits`)).status).toBe(204);
      expect(await mine('/api/parameters')).toEqual([]);
      expect(await mine('/api/vhost-limits')).toEqual([]);
      // PUT {} makes one again (201: new)
      expect((await m.api('PUT', `${LIMITS}/${enc(vhost)}/limits`, { value: {} })).status).toBe(201);
      expect((await m.api('GET', `${LIMITS}/${enc(vhost)}/limits`)).body).toEqual(entry([]));
      await m.api('DELETE', `/api/vhosts/${enc(vhost)}`);
    });

    it('refusals as RabbitMQ 3.10.8\'s: a missing value, an unknown component or limit, no such vhost; monitoring may not read', async () => {
      const path = `${LIMITS}/%2F/limits`;
      expect(await m.api('PUT', path, {})).toMatchObject({ status: 400, body: { error: 'bad_request', reason: '[{key_missing,value}]' } });
      expect(await m.api('PUT', '/api/parameters/federation-upstream/%2F/up', { value: { uri: 'amqp://' } })).toMatchObject({
        status: 400,
        body: { reason: 'Validation failed\n\ncomponent federation-upstream not found\n' },
      });
      const unknown = await m.api('PUT', path, { value: { 'max-queuesx': 5 } });
      expect(unknown.status).toBe(400);
      expect(unknown.body.reason).toMatch(/^Validation failed\n\n.*max-queuesx/);
      expect((await m.api('PUT', `${LIMITS}/%2F/other`, { value: { 'max-queues': 5 } })).status).toBe(400);
      expect(await m.api('PUT', `${LIMITS}/no-such-vhost/limits`, { value: { 'max-queues': 5 } })).toMatchObject({ status: 404, body: { error: 'not_found', reason: 'vhost_not_found' } });
      expect((await m.api('GET', `${LIMITS}/no-such-vhost`)).status).toBe(404);
      expect((await m.api('GET', '/api/parameters/shovel')).body).toEqual([]);
      // nothing was set by the refusals
      expect((await m.api('GET', '/api/vhost-limits/%2F')).body).toEqual([]);

      const mon = uniq('mon');
      await m.api('PUT', `/api/users/${enc(mon)}`, { password: 'p', tags: 'monitoring' });
      for (const p of ['/api/parameters', '/api/global-parameters']) expect((await m.api('GET', p, undefined, { auth: basic(mon, 'p') })).status).toBe(401);
      expect((await m.api('GET', '/api/cluster-name', undefined, { auth: basic(mon, 'p') })).status).toBe(200);
      expect((await m.api('PUT', '/api/cluster-name', { name: 'x' }, { auth: basic(mon, 'p') })).status).toBe(401);
    });

    it('a policymaker without permissions in a vhost neither sees its limits nor sets them', async () => {
      const vhost = uniq('hidden');
      const pm = uniq('pm');
      await m.api('PUT', `/api/vhosts/${enc(vhost)}`);
      await m.api('PUT', `${LIMITS}/${enc(vhost)}/limits`, { value: { 'max-queues': 1 } });
      await m.api('PUT', `/api/users/${enc(pm)}`, { password: 'p', tags: 'policymaker' });
      const asPm = { auth: basic(pm, 'p') };
      expect((await m.api('GET', '/api/parameters', undefined, asPm)).body.filter((p: any) => p.vhost === vhost)).toEqual([]);
      expect((await m.api('PUT', `${LIMITS}/${enc(vhost)}/limits`, { value: { 'max-queues': 9 } }, asPm)).status).toBe(401);
      expect((await m.api('GET', `${LIMITS}/${enc(vhost)}/limits`)).body.value).toEqual({ 'max-queues': 1 });
      await m.api('DELETE', `/api/vhosts/${enc(vhost)}`);
    });

    it('the cluster name: the node\'s until set; PUT /api/cluster-name shows in connection.start, the overview and the export; clearing brings the node\'s back', async () => {
      const node = (await m.api('GET', '/api/overview')).body.node;
      expect((await m.api('GET', '/api/cluster-name')).body).toEqual({ name: node });
      expect(await serverClusterName(m.broker.url)).toBe(node);

      const name = uniq('ci cluster ✓');
      expect((await m.api('PUT', '/api/cluster-name', { name })).status).toBe(204);
      expect((await m.api('GET', '/api/cluster-name')).body).toEqual({ name });
      expect((await m.api('GET', '/api/overview')).body.cluster_name).toBe(name);
      expect(await serverClusterName(m.broker.url)).toBe(name);
      expect((await m.api('GET', '/api/global-parameters/cluster_name')).body).toEqual({ name: 'cluster_name', value: name });
      expect((await m.api('GET', '/api/definitions')).body.global_parameters).toContainEqual({ name: 'cluster_name', value: name });

      expect(await m.api('PUT', '/api/cluster-name', {})).toMatchObject({ status: 400, body: { reason: '[{key_missing,name}]' } });
      expect((await m.api('PUT', '/api/cluster-name', { name: 5 })).status).toBe(400);
      expect((await m.api('DELETE', '/api/global-parameters/cluster_name')).status).toBe(204);
      expect((await m.api('GET', '/api/cluster-name')).body).toEqual({ name: node });
      expect(await serverClusterName(m.broker.url)).toBe(node);
    });

    it('global parameters of any name and JSON value: 201 then 204, read back equal, listed beside internal_cluster_id, 404 once deleted', async () => {
      const list = (await m.api('GET', '/api/global-parameters')).body;
      expect(list).toContainEqual({ name: 'internal_cluster_id', value: expect.stringMatching(/^rabbitmq-cluster-id-/) });
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), fc.jsonValue({ maxDepth: 3 }), async (raw, value) => {
          const name = uniq(raw);
          const p = `/api/global-parameters/${enc(name)}`;
          // JSON has no -0: the value read back is the one JSON carries
          const sent = JSON.parse(JSON.stringify(value));
          expect((await m.api('PUT', p, { value: sent })).status).toBe(201);
          expect((await m.api('PUT', p, { value: sent })).status).toBe(204);
          expect((await m.api('GET', p)).body).toEqual({ name, value: sent });
          expect((await m.api('GET', '/api/global-parameters')).body).toContainEqual({ name, value: sent });
          expect((await m.api('DELETE', p)).status).toBe(204);
          expect((await m.api('GET', p)).status).toBe(404);
          expect((await m.api('DELETE', p)).status).toBe(404);
        }),
        { numRuns: Number(process.env.WARREN_FUZZ_RUNS ?? 40) },
      );
      expect((await m.api('PUT', '/api/global-parameters/x', {})).body).toEqual({ error: 'bad_request', reason: '[{key_missing,value}]' });
    });
  });
}

describe('global parameters across a restart and from definitions', () => {
  const start = (dataDir: string, definitions?: object) => startBroker({ port: 0, host: '127.0.0.1', workers: 0, managementPort: 0, dataDir, definitions: definitions as any });
  const api = async (broker: RunningBroker, method: string, p: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${broker.managementPort}${p}`, {
      method,
      headers: { authorization: basic('guest', 'guest'), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };

  it('the data dir keeps the cluster name, the others and internal_cluster_id; a definitions file brings its own', async () => {
    const dir = path.join(TEMP, 'kept');
    let broker = await start(dir);
    await api(broker, 'PUT', '/api/cluster-name', { name: 'kept-cluster' });
    await api(broker, 'PUT', '/api/global-parameters/extra', { value: { a: [1, 'two'] } });
    const before = (await api(broker, 'GET', '/api/global-parameters')).body;
    await broker.close();

    broker = await start(dir);
    expect((await api(broker, 'GET', '/api/global-parameters')).body).toEqual(before);
    expect(await serverClusterName(broker.url)).toBe('kept-cluster');
    await broker.close();

    // nothing set, nothing else stored: the node's internal_cluster_id is kept all the same
    const idOf = async (b: RunningBroker) => (await api(b, 'GET', '/api/global-parameters/internal_cluster_id')).body.value;
    broker = await start(path.join(TEMP, 'fresh'));
    const id = await idOf(broker);
    await broker.close();
    broker = await start(path.join(TEMP, 'fresh'));
    expect(await idOf(broker)).toBe(id);
    await broker.close();

    broker = await start(path.join(TEMP, 'from-file'), { global_parameters: [{ name: 'cluster_name', value: 'from-definitions' }] });
    expect((await api(broker, 'GET', '/api/cluster-name')).body).toEqual({ name: 'from-definitions' });
    // a bad entry refuses the import whole
    expect((await api(broker, 'POST', '/api/definitions', { global_parameters: [{ value: 1 }], vhosts: [{ name: 'not-made' }] })).status).toBe(400);
    expect((await api(broker, 'GET', '/api/vhosts/not-made')).status).toBe(404);
    await broker.close();
  });
});
