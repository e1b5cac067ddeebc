/**
 * Users, vhosts, permissions, topic permissions and vhost limits in the data
 * dir's definitions.json: what the management methods change is written in
 * RabbitMQ's format and comes back after a restart, enforced as before.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker } from '../../dist/src/index.js';
import { MODES, channel, drain, eventually, refused } from '../helpers.js';
import { login } from './login-client.js';

const TEMP = mkdtempSync(path.join(os.tmpdir(), 'warren-access-defs-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

describe.each(MODES)('access definitions in the data dir: $name', ({ workers }) => {
  it('users, vhosts, permissions, topic permissions and limits survive a restart; deleted ones stay deleted', async () => {
    const dataDir = mkdtempSync(path.join(TEMP, 'data-'));
    const first = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    const b = first.broker;
    b.addVHost('shop', { maxQueues: 2, maxConnections: 5 });
    b.addVHost('gone');
    b.putUser('ann', { password: 'änn-pw' }, ['monitoring']);
    b.putUser('temp', { password: 't' });
    b.setUserLimits('ann', { maxChannels: 7 });
    b.setPermissions('ann', 'shop', { configure: '^ann-', write: '^(amq\\.default|ann-.*)$', read: '^ann-' });
    b.setTopicPermissions('ann', 'shop', { exchange: 'amq.topic', write: '^eu\\.', read: '.*' });
    b.setPermissions('temp', 'gone', { configure: '.*', write: '.*', read: '.*' });
    // amqplib reads a URL's percent-decoded password as latin1: credentials go in as text.
    const annLogin = { credentials: amqp.credentials.plain('ann', 'änn-pw') };
    const conn = await amqp.connect(`amqp://127.0.0.1:${first.port}/shop`, annLogin);
    const ch = await channel(conn);
    await ch.assertQueue('ann-box', { durable: true });
    await conn.close();
    b.deleteUser('temp');
    await b.deleteVHost('gone');
    await first.close();

    const stored = JSON.parse(readFileSync(path.join(dataDir, 'definitions.json'), 'utf8'));
    expect(stored.users.map((u: any) => u.name).sort()).toEqual(['ann', 'guest']);
    const ann = stored.users.find((u: any) => u.name === 'ann');
    expect(ann).toEqual({ name: 'ann', password_hash: expect.any(String), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['monitoring'], limits: { 'max-channels': 7 } });
    expect(Buffer.from(ann.password_hash, 'base64').length).toBe(36);
    expect(stored.vhosts.map((v: any) => v.name).sort()).toEqual(['/', 'shop']);
    expect(stored.permissions).toContainEqual({ user: 'ann', vhost: 'shop', configure: '^ann-', write: '^(amq\\.default|ann-.*)$', read: '^ann-' });
    expect(stored.topic_permissions).toEqual([{ user: 'ann', vhost: 'shop', exchange: 'amq.topic', write: '^eu\\.', read: '.*' }]);
    expect(stored.parameters).toEqual([{ vhost: 'shop', component: 'vhost-limits', name: 'limits', value: { 'max-connections': 5, 'max-queues': 2 } }]);

    const second = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    try {
      expect((await login(second.port, 'temp', 't', '/')).opened).toBe(false);
      expect(await login(second.port, 'guest', 'guest', 'gone')).toMatchObject({ opened: false, code: 530 });
      const again = await amqp.connect(`amqp://127.0.0.1:${second.port}/shop`, annLogin);
      again.on('error', () => {});
      const ch2 = await channel(again);
      for (let i = 0; i < 10; i++) ch2.sendToQueue('ann-box', Buffer.from(`m${i}`));
      await eventually(async () => expect((await ch2.checkQueue('ann-box')).messageCount).toBe(10));
      expect(await drain(ch2, 'ann-box')).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
      expect(await refused(ch2.assertQueue('bob-box'))).toEqual({ code: 403, text: "ACCESS_REFUSED - access to queue 'bob-box' in vhost 'shop' refused for user 'ann'" });
      const ch3 = await channel(again);
      await ch3.assertQueue('ann-2');
      expect((await refused(ch3.assertQueue('ann-3'))).code).toBe(406); // max-queues 2
      await again.close();
      expect(second.broker.access.topicPermission('ann', 'shop', 'amq.topic')?.spec.write).toBe('^eu\\.');
      expect(second.broker.access.user('ann')!.limits).toEqual({ maxChannels: 7 });
    } finally {
      await second.close();
    }
  });
});
