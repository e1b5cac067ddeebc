/**
 * /api/users, /api/permissions, /api/topic-permissions, PUT/DELETE /api/vhosts
 * and the tag rules, each change seen through amqplib: a user made over HTTP
 * logs in, permissions set over HTTP decide a publish, a deleted vhost closes
 * its connections with 320.
 */
import amqp, { type ChannelModel } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, channel, closedWith, nextEvent, uniq } from '../helpers.js';
import { basic, enc, managedBroker, type ManagedBroker } from './support.js';

const ALL = { configure: '.*', write: '.*', read: '.*' };

/**
 * A login as this user to this vhost of the managed broker: an object, as amqplib's URL
 * parsing mangles UTF-8 names, with '%' escaped, as amqplib unescapes even an object's
 * vhost (and mangles multi-byte characters beside a lone '%').
 */
const amqpUrl = (m: ManagedBroker, username: string, password: string, vhost = '/') =>
  ({ protocol: 'amqp', hostname: '127.0.0.1', port: Number(new URL(m.broker.url).port), username, password, vhost: vhost.replaceAll('%', '%25') });

async function connect(login: ReturnType<typeof amqpUrl>): Promise<ChannelModel> {
  const conn = await amqp.connect(login);
  conn.on('error', () => {});
  return conn;
}

for (const mode of MODES) {
  describe(`management users, vhosts and permissions (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('a user PUT over HTTP logs in over AMQP once it has permissions; 201 then 204; its JSON as RabbitMQ 3.10', async () => {
      const user = uniq('u ser/é✓');
      const path = `/api/users/${enc(user)}`;
      expect((await m.api('PUT', path, { password: 'pw 1', tags: 'monitoring, management' })).status).toBe(201);
      const shown = await m.api('GET', path);
      expect(shown.status).toBe(200);
      expect(shown.body).toEqual({ name: user, password_hash: expect.any(String), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['monitoring', 'management'], limits: {} });
      expect((await m.api('GET', '/api/users')).body.map((u: any) => u.name)).toContain(user);
      // No permissions on '/': the login is refused (530 on connection.open).
      await expect(connect(amqpUrl(m, user, 'pw 1'))).rejects.toThrow();
      expect((await m.api('PUT', `/api/permissions/%2F/${enc(user)}`, ALL)).status).toBe(201);
      expect((await m.api('PUT', `/api/permissions/%2F/${enc(user)}`, ALL)).status).toBe(204);
      const conn = await connect(amqpUrl(m, user, 'pw 1'));
      await conn.close();
      // A PUT with a new password and tags as a list replaces both: 204.
      expect((await m.api('PUT', path, { password: 'pw 2', tags: ['administrator'] })).status).toBe(204);
      expect((await m.api('GET', path)).body.tags).toEqual(['administrator']);
      await expect(connect(amqpUrl(m, user, 'pw 1'))).rejects.toThrow();
      await (await connect(amqpUrl(m, user, 'pw 2'))).close();
      // A password_hash taken from one user logs another in with the same password.
      const twin = uniq('twin');
      const { password_hash, hashing_algorithm } = (await m.api('GET', path)).body;
      expect((await m.api('PUT', `/api/users/${enc(twin)}`, { password_hash, hashing_algorithm, tags: '' })).status).toBe(201);
      await m.api('PUT', `/api/permissions/%2F/${enc(twin)}`, ALL);
      await (await connect(amqpUrl(m, twin, 'pw 2'))).close();
    });

    it('DELETE /api/users closes the user\'s connections with 320 and its login stops working; 404 after', async () => {
      const user = uniq('gone');
      await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags: '' });
      await m.api('PUT', `/api/permissions/%2F/${enc(user)}`, ALL);
      const conn = await connect(amqpUrl(m, user, 'p'));
      const closed = nextEvent<any>(conn, 'close');
      expect((await m.api('DELETE', `/api/users/${enc(user)}`)).status).toBe(204);
      expect((await closed).code).toBe(320);
      await expect(connect(amqpUrl(m, user, 'p'))).rejects.toThrow();
      expect((await m.api('DELETE', `/api/users/${enc(user)}`)).status).toBe(404);
      expect((await m.api('GET', `/api/users/${enc(user)}`)).status).toBe(404);
      expect((await m.api('GET', '/api/permissions')).body.filter((p: any) => p.user === user)).toEqual([]);
    });

    it('permissions set over HTTP decide what the user may publish (403 or delivered), and clearing them ends its logins', async () => {
      const user = uniq('writer');
      const q = uniq('perm-q');
      await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags: '' });
      await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: false });
      // write on nothing: publishing to the default exchange is refused
      await m.api('PUT', `/api/permissions/%2F/${enc(user)}`, { configure: '', write: '', read: '' });
      expect((await m.api('GET', `/api/permissions/%2F/${enc(user)}`)).body).toEqual({ user, vhost: '/', configure: '', write: '', read: '' });
      const conn = await connect(amqpUrl(m, user, 'p'));
      try {
        const ch = await channel(conn);
        const close = closedWith(ch);
        ch.publish('', q, Buffer.from('refused-1'));
        expect((await close).code).toBe(403);
        // write on amq.default: published, and the message arrives (numbered bodies)
        expect((await m.api('PUT', `/api/permissions/%2F/${enc(user)}`, { configure: '', write: '^amq\\.default$', read: '' })).status).toBe(204);
        const ok = await conn.createConfirmChannel();
        for (let i = 1; i <= 3; i++) ok.publish('', q, Buffer.from(`m-${i}`));
        await ok.waitForConfirms();
        const got = await m.api('POST', `/api/queues/%2F/${enc(q)}/get`, { count: 10, ackmode: 'ack_requeue_false', encoding: 'auto' });
        expect(got.body.map((x: any) => x.payload)).toEqual(['m-1', 'm-2', 'm-3']);
        const listed = (await m.api('GET', `/api/users/${enc(user)}/permissions`)).body;
        expect(listed).toEqual([{ user, vhost: '/', configure: '', write: '^amq\\.default$', read: '' }]);
        expect((await m.api('GET', '/api/vhosts/%2F/permissions')).body).toContainEqual(listed[0]);
      } finally {
        await conn.close().catch(() => {});
      }
      expect((await m.api('DELETE', `/api/permissions/%2F/${enc(user)}`)).status).toBe(204);
      expect((await m.api('GET', `/api/permissions/%2F/${enc(user)}`)).status).toBe(404);
      expect((await m.api('DELETE', `/api/permissions/%2F/${enc(user)}`)).status).toBe(404);
      await expect(connect(amqpUrl(m, user, 'p'))).rejects.toThrow();
    });

    it('PUT permissions answers 400 for a missing key, a bad regex, or an unknown user or vhost', async () => {
      const user = uniq('bad');
      await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags: '' });
      const put = (vhost: string, who: string, body: unknown) => m.api('PUT', `/api/permissions/${enc(vhost)}/${enc(who)}`, body);
      expect(await put('/', user, { configure: '.*', write: '.*' })).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'key_missing: read' } });
      expect(await put('/', user, { configure: '(', write: '.*', read: '.*' })).toMatchObject({ status: 400, body: { error: 'bad_request' } });
      expect(await put('/', 'nobody-' + user, ALL)).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'vhost_or_user_not_found' } });
      expect(await put('no-vhost-' + user, user, ALL)).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'vhost_or_user_not_found' } });
      expect(await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', password_hash: 'x', hashing_algorithm: 'rot13', tags: '' })).toMatchObject({ status: 204 });
      expect(await m.api('PUT', `/api/users/${enc(user)}`, { password_hash: 'AAAA', hashing_algorithm: 'rot13', tags: '' })).toMatchObject({ status: 400, body: { error: 'bad_request' } });
      // RabbitMQ requires tags, to create or to update
      expect(await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p' })).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'tags_not_present' } });
      expect(await m.api('PUT', `/api/users/${enc('new-' + user)}`, {})).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'tags_not_present' } });
      expect((await m.api('GET', `/api/users/${enc('new-' + user)}`)).status).toBe(404);
      expect(await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags: 7 })).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    });

    it('topic permissions set over HTTP refuse a publish whose routing key does not match (403)', async () => {
      const user = uniq('topic');
      const x = uniq('tx');
      await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags: 'management' });
      await m.api('PUT', `/api/permissions/%2F/${enc(user)}`, ALL);
      await m.api('PUT', `/api/exchanges/%2F/${enc(x)}`, { type: 'topic', durable: false });
      const path = `/api/topic-permissions/%2F/${enc(user)}`;
      expect((await m.api('PUT', path, { exchange: x, write: '^allowed\\.', read: '.*' })).status).toBe(201);
      expect((await m.api('GET', path)).body).toEqual([{ user, vhost: '/', exchange: x, write: '^allowed\\.', read: '.*' }]);
      expect((await m.api('GET', '/api/topic-permissions')).body).toContainEqual({ user, vhost: '/', exchange: x, write: '^allowed\\.', read: '.*' });
      const conn = await connect(amqpUrl(m, user, 'p'));
      try {
        const ok = await conn.createConfirmChannel();
        ok.publish(x, 'allowed.1', Buffer.from('1'));
        await ok.waitForConfirms();
        const ch = await channel(conn);
        const close = closedWith(ch);
        ch.publish(x, 'other.1', Buffer.from('2'));
        expect((await close).code).toBe(403);
        // the same rule over HTTP: 401 "Access refused." for the key it does not allow
        const httpPublish = (key: string) => m.api('POST', `/api/exchanges/%2F/${enc(x)}/publish`, { routing_key: key, payload: 'p', properties: {} }, { auth: basic(user, 'p') });
        expect((await httpPublish('allowed.2')).body).toEqual({ routed: false });
        expect(await httpPublish('other.3')).toMatchObject({ status: 401, body: { error: 'not_authorised', reason: 'Access refused.' } });
        expect((await m.api('DELETE', path)).status).toBe(204);
        expect((await m.api('GET', path)).status).toBe(404);
        const again = await conn.createConfirmChannel();
        again.publish(x, 'other.2', Buffer.from('3'));
        await again.waitForConfirms();
      } finally {
        await conn.close();
      }
    });

    it('PUT /api/vhosts creates a vhost (creator gets full permissions), 204 when it exists; DELETE closes its connections with 320', async () => {
      const vhost = uniq('v h/ö✓');
      const path = `/api/vhosts/${enc(vhost)}`;
      expect((await m.api('PUT', path, { description: 'test' })).status).toBe(201);
      expect((await m.api('PUT', path)).status).toBe(204);
      expect((await m.api('GET', `${path}/permissions`)).body).toEqual([{ user: 'guest', vhost, ...ALL }]);
      const conn = await connect(amqpUrl(m, 'guest', 'guest', vhost));
      const ch = await channel(conn);
      const q = uniq('in-vhost');
      await ch.assertQueue(q);
      expect((await m.api('GET', `/api/queues/${enc(vhost)}/${enc(q)}`)).status).toBe(200);
      const closed = nextEvent<any>(conn, 'close');
      expect((await m.api('DELETE', path)).status).toBe(204);
      expect((await closed).code).toBe(320);
      expect((await m.api('GET', path)).status).toBe(404);
      expect((await m.api('DELETE', path)).status).toBe(404);
      expect((await m.api('GET', `/api/queues/${enc(vhost)}/${enc(q)}`)).status).toBe(404);
      await expect(connect(amqpUrl(m, 'guest', 'guest', vhost))).rejects.toThrow();
    });

    it('vhost limits over HTTP: max-connections 0 refuses logins to the vhost; DELETE lifts it', async () => {
      const vhost = uniq('limited');
      await m.api('PUT', `/api/vhosts/${enc(vhost)}`);
      expect((await m.api('PUT', `/api/vhost-limits/${enc(vhost)}/max-connections`, { value: 0 })).status).toBe(204);
      expect((await m.api('GET', `/api/vhost-limits/${enc(vhost)}`)).body).toEqual([{ vhost, value: { 'max-connections': 0 } }]);
      await expect(connect(amqpUrl(m, 'guest', 'guest', vhost))).rejects.toThrow();
      expect((await m.api('DELETE', `/api/vhost-limits/${enc(vhost)}/max-connections`)).status).toBe(204);
      await (await connect(amqpUrl(m, 'guest', 'guest', vhost))).close();
      expect((await m.api('PUT', `/api/vhost-limits/${enc(vhost)}/max-bananas`, { value: 1 })).status).toBe(400);
    });

    it('user limits over HTTP, as RabbitMQ 3.10.8 answers them: max-channels refuses the channel past it, DELETE lifts it', async () => {
      const user = uniq('limited user');
      await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags: '' });
      await m.api('PUT', `/api/permissions/%2F/${enc(user)}`, ALL);
      const path = `/api/user-limits/${enc(user)}`;
      expect((await m.api('GET', path)).body).toEqual([]);
      expect((await m.api('PUT', `${path}/max-channels`, { value: 1 })).status).toBe(204);
      expect((await m.api('PUT', `${path}/max-connections`, { value: 7 })).status).toBe(204);
      expect((await m.api('GET', path)).body).toEqual([{ user, value: { 'max-channels': 1, 'max-connections': 7 } }]);
      expect((await m.api('GET', '/api/user-limits')).body).toContainEqual({ user, value: { 'max-channels': 1, 'max-connections': 7 } });
      expect((await m.api('GET', `/api/users/${enc(user)}`)).body.limits).toEqual({ 'max-channels': 1, 'max-connections': 7 });
      const conn = await connect(amqpUrl(m, user, 'p'));
      await conn.createChannel();
      const closed = nextEvent<any>(conn, 'close');
      await expect(conn.createChannel()).rejects.toThrow();
      expect((await closed).code).toBe(530);
      expect((await m.api('DELETE', `${path}/max-channels`)).status).toBe(204);
      expect((await m.api('GET', path)).body).toEqual([{ user, value: { 'max-connections': 7 } }]);
      const again = await connect(amqpUrl(m, user, 'p'));
      await again.createChannel();
      await again.createChannel();
      await again.close();
      // RabbitMQ's refusals: a bad value or limit 400, an unknown user 400 on PUT and 404 on GET; an unknown limit's DELETE is 204.
      expect((await m.api('PUT', `${path}/max-channels`, { value: 'x' })).status).toBe(400);
      expect((await m.api('PUT', `${path}/max-channels`, { value: 1.5 })).status).toBe(400);
      expect((await m.api('PUT', `${path}/max-channels`, { valu: 1 })).status).toBe(400);
      expect((await m.api('PUT', `${path}/max-bananas`, { value: 1 })).status).toBe(400);
      expect((await m.api('PUT', `/api/user-limits/${enc(uniq('nobody'))}/max-channels`, { value: 1 })).status).toBe(400);
      expect((await m.api('GET', `/api/user-limits/${enc(uniq('nobody'))}`)).status).toBe(404);
      expect((await m.api('DELETE', `${path}/max-bananas`)).status).toBe(204);
      expect((await m.api('GET', path)).body).toEqual([{ user, value: { 'max-connections': 7 } }]);
    });

    it('/api/connections/username/USER lists and closes (320) that user\'s connections only', async () => {
      const user = uniq('closed user');
      await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags: '' });
      await m.api('PUT', `/api/permissions/%2F/${enc(user)}`, ALL);
      const mine = [await connect(amqpUrl(m, user, 'p')), await connect(amqpUrl(m, user, 'p'))];
      const other = await connect(amqpUrl(m, 'guest', 'guest'));
      const path = `/api/connections/username/${enc(user)}`;
      // Connections are listed once past their handshake (amqplib's connect resolves after open-ok).
      expect((await m.api('GET', path)).body.map((c: any) => c.user)).toEqual([user, user]);
      const closed = mine.map((c) => nextEvent<any>(c, 'close'));
      expect((await m.api('DELETE', path)).status).toBe(204);
      expect((await Promise.all(closed)).map((e) => e.code)).toEqual([320, 320]);
      expect((await m.api('GET', path)).body).toEqual([]);
      await (await other.createChannel()).close(); // another user's connection goes on
      await other.close();
    });

    it('POST /api/vhosts/VHOST/start/NODE: 204 for this node and a vhost that exists, 400 otherwise', async () => {
      const node = (await m.api('GET', '/api/overview')).body.node;
      expect((await m.api('POST', `/api/vhosts/%2F/start/${enc(node)}`)).status).toBe(204);
      expect((await m.api('POST', `/api/vhosts/${enc(uniq('none'))}/start/${enc(node)}`)).status).toBe(400);
      expect((await m.api('POST', '/api/vhosts/%2F/start/other%40node')).status).toBe(400);
    });

    it('names of any UTF-8 (up to 255 bytes with the unique suffix), percent-encoded, round-trip through users, vhosts and permissions', async () => {
      const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).filter((s) => Buffer.byteLength(s) <= 240);
      await fc.assert(
        fc.asyncProperty(name, name, async (user, vhost) => {
          const u = `${user}-${uniq('')}`;
          const v = `${vhost}-${uniq('')}`;
          expect((await m.api('PUT', `/api/users/${enc(u)}`, { password: 'p', tags: '' })).status).toBe(201);
          expect((await m.api('PUT', `/api/vhosts/${enc(v)}`)).status).toBe(201);
          expect((await m.api('PUT', `/api/permissions/${enc(v)}/${enc(u)}`, ALL)).status).toBe(201);
          expect((await m.api('GET', `/api/permissions/${enc(v)}/${enc(u)}`)).body).toEqual({ user: u, vhost: v, ...ALL });
          expect((await m.api('GET', `/api/users/${enc(u)}`)).body.name).toBe(u);
          await (await connect(amqpUrl(m, u, 'p', v))).close();
          expect((await m.api('DELETE', `/api/vhosts/${enc(v)}`)).status).toBe(204);
          expect((await m.api('DELETE', `/api/users/${enc(u)}`)).status).toBe(204);
        }),
        { numRuns: 40 },
      );
    });

    describe('tag rules', () => {
      const mk = async (tags: string, vhosts: string[]) => {
        const user = uniq(`tag-${tags || 'none'}`);
        await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags });
        for (const v of vhosts) await m.api('PUT', `/api/permissions/${enc(v)}/${enc(user)}`, ALL);
        return basic(user, 'p');
      };
      const refusedWith = (reason: string) => ({ status: 401, body: { error: 'not_authorised', reason } });

      it('a user without a management tag is refused everywhere with "Not management user"; a wrong password with "Login failed"', async () => {
        const auth = await mk('', ['/']);
        expect(await m.api('GET', '/api/overview', undefined, { auth })).toMatchObject(refusedWith('Not management user'));
        expect(await m.api('GET', '/api/whoami', undefined, { auth })).toMatchObject(refusedWith('Not management user'));
        expect(await m.api('GET', '/api/overview', undefined, { auth: basic('guest', 'wrong') })).toMatchObject(refusedWith('Login failed'));
      });

      it('monitoring reads everything but may not change users, permissions or vhosts ("Not administrator user")', async () => {
        const auth = await mk('monitoring', []);
        expect((await m.api('GET', '/api/whoami', undefined, { auth })).body.tags).toEqual(['monitoring']);
        expect((await m.api('GET', '/api/nodes', undefined, { auth })).status).toBe(200);
        expect((await m.api('GET', '/api/vhosts', undefined, { auth })).body.map((v: any) => v.name)).toContain('/');
        expect((await m.api('GET', '/api/queues/%2F', undefined, { auth })).status).toBe(200);
        const target = uniq('victim');
        expect(await m.api('PUT', `/api/users/${enc(target)}`, { password: 'x' }, { auth })).toMatchObject(refusedWith('Not administrator user'));
        expect(await m.api('GET', '/api/users', undefined, { auth })).toMatchObject(refusedWith('Not administrator user'));
        expect(await m.api('PUT', '/api/permissions/%2F/guest', ALL, { auth })).toMatchObject(refusedWith('Not administrator user'));
        expect(await m.api('PUT', `/api/vhosts/${enc(target)}`, undefined, { auth })).toMatchObject(refusedWith('Not administrator user'));
        expect(await m.api('GET', '/api/definitions', undefined, { auth })).toMatchObject(refusedWith('Not administrator user'));
        // without permissions on '/' it cannot declare there either
        expect(await m.api('PUT', `/api/queues/%2F/${enc(target)}`, {}, { auth })).toMatchObject(refusedWith('User not authorised to access virtual host'));
        expect((await m.api('GET', `/api/users/${enc(target)}`)).status).toBe(404);
      });

      it('management sees only the vhosts it has permissions in, and may not read nodes or users', async () => {
        const mine = uniq('mine');
        const theirs = uniq('theirs');
        await m.api('PUT', `/api/vhosts/${enc(mine)}`);
        await m.api('PUT', `/api/vhosts/${enc(theirs)}`);
        const qMine = uniq('q-mine');
        const qTheirs = uniq('q-theirs');
        await m.api('PUT', `/api/queues/${enc(mine)}/${enc(qMine)}`, {});
        await m.api('PUT', `/api/queues/${enc(theirs)}/${enc(qTheirs)}`, {});
        const auth = await mk('management', [mine]);
        expect((await m.api('GET', '/api/vhosts', undefined, { auth })).body.map((v: any) => v.name)).toEqual([mine]);
        const queues = (await m.api('GET', '/api/queues', undefined, { auth })).body.map((q: any) => q.name);
        expect(queues).toEqual([qMine]);
        expect((await m.api('GET', `/api/queues/${enc(mine)}/${enc(qMine)}`, undefined, { auth })).status).toBe(200);
        expect(await m.api('GET', `/api/queues/${enc(theirs)}/${enc(qTheirs)}`, undefined, { auth })).toMatchObject(refusedWith('User not authorised to access virtual host'));
        expect(await m.api('DELETE', `/api/queues/${enc(theirs)}/${enc(qTheirs)}`, undefined, { auth })).toMatchObject(refusedWith('User not authorised to access virtual host'));
        expect((await m.api('DELETE', `/api/queues/${enc(mine)}/${enc(qMine)}`, undefined, { auth })).status).toBe(204);
        expect(await m.api('GET', '/api/nodes', undefined, { auth })).toMatchObject(refusedWith('Not monitor user'));
        expect(await m.api('GET', '/api/users', undefined, { auth })).toMatchObject(refusedWith('Not administrator user'));
        expect(await m.api('DELETE', `/api/vhosts/${enc(theirs)}`, undefined, { auth })).toMatchObject(refusedWith('Not administrator user'));
        expect((await m.api('GET', `/api/queues/${enc(theirs)}/${enc(qTheirs)}`)).status).toBe(200);
      });

      it('declares, deletes, bindings, publish and get over HTTP obey the user\'s regexes, administrators\' too (401 "Access refused.")', async () => {
        const vhost = uniq('regex');
        await m.api('PUT', `/api/vhosts/${enc(vhost)}`);
        const user = uniq('limited');
        await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags: 'management' });
        await m.api('PUT', `/api/permissions/${enc(vhost)}/${enc(user)}`, { configure: '^mine-', write: '.*', read: '^nothing$' });
        const auth = { auth: basic(user, 'p') };
        const accessRefused = { status: 401, body: { error: 'not_authorised', reason: 'Access refused.' } };
        expect((await m.api('PUT', `/api/queues/${enc(vhost)}/mine-q`, {}, auth)).status).toBe(201);
        expect(await m.api('PUT', `/api/queues/${enc(vhost)}/other-q`, {}, auth)).toMatchObject(accessRefused);
        expect((await m.api('PUT', `/api/exchanges/${enc(vhost)}/mine-x`, { type: 'fanout' }, auth)).status).toBe(201);
        expect(await m.api('PUT', `/api/exchanges/${enc(vhost)}/other-x`, { type: 'fanout' }, auth)).toMatchObject(accessRefused);
        expect(await m.api('DELETE', `/api/queues/${enc(vhost)}/mine-q/contents`, undefined, auth)).toMatchObject(accessRefused);
        // publish needs write on the exchange (granted), get and bind read on the queue / source (refused)
        expect((await m.api('POST', `/api/exchanges/${enc(vhost)}/amq.default/publish`, { routing_key: 'mine-q', payload: 'm-1', properties: {} }, auth)).body).toEqual({ routed: true });
        expect(await m.api('POST', `/api/queues/${enc(vhost)}/mine-q/get`, { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' }, auth)).toMatchObject(accessRefused);
        expect(await m.api('POST', `/api/bindings/${enc(vhost)}/e/mine-x/q/mine-q`, { routing_key: 'k' }, auth)).toMatchObject(accessRefused);
        const got = await m.api('POST', `/api/queues/${enc(vhost)}/mine-q/get`, { count: 5, ackmode: 'ack_requeue_false', encoding: 'auto' });
        expect(got.body.map((x: any) => x.payload)).toEqual(['m-1']);
        expect((await m.api('POST', `/api/bindings/${enc(vhost)}/e/mine-x/q/mine-q`, { routing_key: 'k' })).status).toBe(201);
        expect((await m.api('DELETE', `/api/queues/${enc(vhost)}/mine-q`, undefined, auth)).status).toBe(204);
        expect((await m.api('GET', `/api/queues/${enc(vhost)}`)).body.map((q: any) => q.name)).toEqual([]);
        // An administrator without permissions in a vhost cannot declare there either.
        await m.api('DELETE', `/api/permissions/${enc(vhost)}/guest`);
        expect(await m.api('PUT', `/api/queues/${enc(vhost)}/mine-q`, {})).toMatchObject(accessRefused);
        expect((await m.api('DELETE', `/api/vhosts/${enc(vhost)}`)).status).toBe(204);
      });

      it('management sees and closes only its own connections; monitoring sees all but closes only its own', async () => {
        const manager = uniq('mgr');
        const watcher = uniq('mon');
        for (const [user, tags] of [[manager, 'management'], [watcher, 'monitoring']]) {
          await m.api('PUT', `/api/users/${enc(user)}`, { password: 'p', tags });
          await m.api('PUT', `/api/permissions/%2F/${enc(user)}`, ALL);
        }
        const own = await connect(amqpUrl(m, manager, 'p'));
        const guests = await connect(amqpUrl(m, 'guest', 'guest'));
        try {
          const all = (await m.api('GET', '/api/connections')).body;
          const mine = all.find((c: any) => c.user === manager);
          const guest = all.find((c: any) => c.user === 'guest');
          const asManager = { auth: basic(manager, 'p') };
          const asWatcher = { auth: basic(watcher, 'p') };
          expect((await m.api('GET', '/api/connections', undefined, asManager)).body.map((c: any) => c.name)).toEqual([mine.name]);
          expect((await m.api('GET', `/api/connections/${enc(guest.name)}`, undefined, asManager)).status).toBe(404);
          expect((await m.api('DELETE', `/api/connections/${enc(guest.name)}`, undefined, asManager)).status).toBe(404);
          const seen = (await m.api('GET', '/api/connections', undefined, asWatcher)).body.map((c: any) => c.name);
          expect(seen).toEqual(expect.arrayContaining([mine.name, guest.name]));
          expect(await m.api('DELETE', `/api/connections/${enc(guest.name)}`, undefined, asWatcher)).toMatchObject(refusedWith('User not authorised to access object'));
          const closed = nextEvent<any>(own, 'close');
          expect((await m.api('DELETE', `/api/connections/${enc(mine.name)}`, undefined, asManager)).status).toBe(204);
          expect((await closed).code).toBe(320);
          // guest's connection went on
          await (await guests.createChannel()).close();
        } finally {
          await guests.close();
        }
      });
    });
  });
}
