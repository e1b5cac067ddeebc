/**
 * A vhost's description and tags, as RabbitMQ 3.10.8 answered them (checked
 * beside a real one): PUT /api/vhosts/{name} sets both, also on an existing
 * vhost, and clears what it leaves out; GET shows them at the top and under
 * `metadata`; definitions carry them both ways; a data dir keeps them across a
 * restart. Nothing here touches a shard, so one mode (inline) covers it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { uniq } from '../helpers.js';
import { basic, enc } from './support.js';

const TEMP = mkdtempSync(path.join(os.tmpdir(), 'warren-vhost-meta-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

async function api(broker: RunningBroker, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: basic('guest', 'guest') };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${broker.managementPort}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

const start = (dataDir?: string) => startBroker({ port: 0, host: '127.0.0.1', workers: 0, managementPort: 0, dataDir });

/** What GET /api/vhosts/{name} says of its metadata, in both places. */
async function metadataOf(broker: RunningBroker, vhost: string) {
  const { status, body } = await api(broker, 'GET', `/api/vhosts/${enc(vhost)}`);
  expect(status).toBe(200);
  expect(body.metadata).toEqual({ description: body.description, tags: body.tags });
  return { description: body.description, tags: body.tags };
}

describe('vhost description and tags', () => {
  it('PUT sets them, a second PUT replaces them and clears what it leaves out, as RabbitMQ 3.10 does', async () => {
    const broker = await start();
    try {
      expect(await metadataOf(broker, '/')).toEqual({ description: 'Default virtual host', tags: [] });
      const v = uniq('meta');
      expect((await api(broker, 'PUT', `/api/vhosts/${enc(v)}`, { description: 'first one', tags: 'a,b' })).status).toBe(201);
      expect(await metadataOf(broker, v)).toEqual({ description: 'first one', tags: ['a', 'b'] });
      expect((await api(broker, 'PUT', `/api/vhosts/${enc(v)}`, { description: 'changed', tags: ['c'] })).status).toBe(204);
      expect(await metadataOf(broker, v)).toEqual({ description: 'changed', tags: ['c'] });
      expect((await api(broker, 'PUT', `/api/vhosts/${enc(v)}`, { description: 'only' })).status).toBe(204);
      expect(await metadataOf(broker, v)).toEqual({ description: 'only', tags: [] });
      expect((await api(broker, 'PUT', `/api/vhosts/${enc(v)}`, { tags: ' x , y,,z ' })).status).toBe(204);
      expect(await metadataOf(broker, v)).toEqual({ description: '', tags: ['x', 'y', '', 'z'] });
      expect((await api(broker, 'PUT', `/api/vhosts/${enc(v)}`, { metadata: { description: 'nested', tags: ['n'] } })).status).toBe(204);
      expect(await metadataOf(broker, v)).toEqual({ description: 'nested', tags: ['n'] });
      expect((await api(broker, 'PUT', `/api/vhosts/${enc(v)}`, {})).status).toBe(204);
      expect(await metadataOf(broker, v)).toEqual({ description: '', tags: [] });
      // The list shows them too.
      const listed = (await api(broker, 'GET', '/api/vhosts')).body.find((x: any) => x.name === '/');
      expect(listed).toMatchObject({ description: 'Default virtual host', tags: [], metadata: { description: 'Default virtual host', tags: [] } });
    } finally {
      await broker.close();
    }
  });

  it('refuses a description that is not a string and tags that are not strings with 400, and changes nothing', async () => {
    const broker = await start();
    try {
      const v = uniq('bad');
      await api(broker, 'PUT', `/api/vhosts/${enc(v)}`, { description: 'kept', tags: ['k'] });
      for (const body of [{ description: 5 }, { tags: 7 }, { tags: ['a', 5] }, { metadata: 'x' }, { metadata: { description: [] } }]) {
        const reply = await api(broker, 'PUT', `/api/vhosts/${enc(v)}`, body);
        expect(reply.status, JSON.stringify(body)).toBe(400);
        expect(reply.body.error).toBe('bad_request');
      }
      expect(await metadataOf(broker, v)).toEqual({ description: 'kept', tags: ['k'] });
      // A refused PUT of a new vhost creates nothing.
      const none = uniq('none');
      expect((await api(broker, 'PUT', `/api/vhosts/${enc(none)}`, { description: false })).status).toBe(400);
      expect((await api(broker, 'GET', `/api/vhosts/${enc(none)}`)).status).toBe(404);
    } finally {
      await broker.close();
    }
  });

  it('any description and tags go through PUT, GET, an export and an import into another broker unchanged', async () => {
    const [a, b] = [await start(), await start()];
    try {
      const text = fc.string({ unit: 'binary', maxLength: 200 });
      const tag = fc.string({ unit: 'binary', maxLength: 40 }).filter((t) => !t.includes(',') && t === t.trim());
      await fc.assert(
        fc.asyncProperty(text, fc.array(tag, { maxLength: 6 }), async (description, tags) => {
          const v = uniq('prop');
          expect((await api(a, 'PUT', `/api/vhosts/${enc(v)}`, { description, tags })).status).toBe(201);
          expect(await metadataOf(a, v)).toEqual({ description, tags });
          // The comma-separated form of the same tags, where it can say them.
          if (tags.every((t) => t !== '')) {
            expect((await api(a, 'PUT', `/api/vhosts/${enc(v)}`, { description, tags: tags.join(',') })).status).toBe(204);
            expect(await metadataOf(a, v)).toEqual({ description, tags });
          }
          const exported = (await api(a, 'GET', '/api/definitions')).body;
          const entry = exported.vhosts.find((x: any) => x.name === v);
          expect(entry).toEqual(description === '' && tags.length === 0 ? { name: v } : { name: v, description, tags });
          expect((await api(b, 'POST', '/api/definitions', { vhosts: [entry] })).status).toBe(204);
          expect(await metadataOf(b, v)).toEqual({ description, tags });
        }),
        { numRuns: 25 },
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('definitions: RabbitMQ\'s metadata form and the top-level form import; an entry with neither leaves them as they are', async () => {
    const broker = await start();
    try {
      const [v1, v2] = [uniq('imp'), uniq('imp')];
      const defs = { vhosts: [{ name: v1, metadata: { description: 'd1', tags: ['t1'] } }, { name: v2, description: 'd2', tags: 'x,y' }] };
      expect((await api(broker, 'POST', '/api/definitions', defs)).status).toBe(204);
      expect(await metadataOf(broker, v1)).toEqual({ description: 'd1', tags: ['t1'] });
      expect(await metadataOf(broker, v2)).toEqual({ description: 'd2', tags: ['x', 'y'] });
      // Top-level fields win over metadata's, as in RabbitMQ 3.10.
      expect((await api(broker, 'POST', '/api/definitions', { vhosts: [{ name: v1, description: 'top', metadata: { description: 'm', tags: ['q'] } }] })).status).toBe(204);
      expect(await metadataOf(broker, v1)).toEqual({ description: 'top', tags: ['q'] });
      // A file written by RabbitMQ 3.10 (names only) changes nothing, the default vhost's description included.
      expect((await api(broker, 'POST', '/api/definitions', { vhosts: [{ name: '/' }, { name: v1 }] })).status).toBe(204);
      expect(await metadataOf(broker, v1)).toEqual({ description: 'top', tags: ['q'] });
      expect(await metadataOf(broker, '/')).toEqual({ description: 'Default virtual host', tags: [] });
      // A bad entry is refused with a line that names it, and nothing of the file is applied.
      const bad = await api(broker, 'POST', '/api/definitions', { vhosts: [{ name: v2, description: 'new' }, { name: uniq('imp'), tags: 3 }] });
      expect(bad.status).toBe(400);
      expect(bad.body.reason).toMatch(/tags of vhost 'imp-.*' must be/);
      expect(await metadataOf(broker, v2)).toEqual({ description: 'd2', tags: ['x', 'y'] });
    } finally {
      await broker.close();
    }
  });

  it('a data dir keeps them across a restart, the default vhost\'s change included', async () => {
    const dir = mkdtempSync(path.join(TEMP, 'data-'));
    const v = uniq('kept');
    let broker = await start(dir);
    try {
      await api(broker, 'PUT', `/api/vhosts/${enc(v)}`, { description: 'ünïcode ✓', tags: ['a', 'b'] });
      await api(broker, 'PUT', '/api/vhosts/%2F', { description: '' });
    } finally {
      await broker.close();
    }
    const file = JSON.parse(readFileSync(path.join(dir, 'definitions.json'), 'utf8'));
    expect(file.vhosts).toEqual(expect.arrayContaining([{ name: '/', description: '', tags: [] }, { name: v, description: 'ünïcode ✓', tags: ['a', 'b'] }]));
    broker = await start(dir);
    try {
      expect(await metadataOf(broker, v)).toEqual({ description: 'ünïcode ✓', tags: ['a', 'b'] });
      expect(await metadataOf(broker, '/')).toEqual({ description: '', tags: [] });
    } finally {
      await broker.close();
    }
  });
});
