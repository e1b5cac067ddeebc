/**
 * Virtual hosts: each has its own exchanges and queues (same names in two
 * vhosts are two queues, on whatever shards), connection.open is refused with
 * RabbitMQ's 530s, deleting a vhost closes its connections and deletes its
 * queues with their messages (on disk too), and the per-vhost limits
 * max-connections and max-queues refuse as RabbitMQ does.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { queueDir } from '../../dist/src/store/queue-dir.js';
import { MODES, channel, connect, drain, eventually, reason, refused } from '../helpers.js';
import { login } from './login-client.js';

const FULL = { configure: '.*', write: '.*', read: '.*' };
const TEMP = mkdtempSync(path.join(os.tmpdir(), 'warren-vhosts-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

describe.each(MODES)('virtual hosts: $name', ({ workers }) => {
  let running: RunningBroker;
  let run = 0;
  const url = (vhost: string, user = 'guest:guest') => `amqp://${user}@127.0.0.1:${running.port}/${encodeURIComponent(vhost)}`;
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir: path.join(TEMP, `w${workers}`) });
  });
  afterAll(() => running.close());

  /** A new vhost where guest has full access. */
  function vhost(prefix: string): string {
    const name = `${prefix}-${++run}`;
    running.broker.addVHost(name);
    running.broker.setPermissions('guest', name, FULL);
    return name;
  }

  it('same-named queues in many vhosts are separate queues, with their own amq.* exchanges; every message reaches its own vhost once', async () => {
    const names = Array.from({ length: 8 }, () => vhost('tenant'));
    const conns = await Promise.all(names.map((v) => connect(url(v))));
    const chans = await Promise.all(conns.map((c) => channel(c)));
    // The queue lands on different shards per vhost: placement hashes (vhost, name).
    for (const [i, ch] of chans.entries()) {
      await ch.assertQueue('jobs');
      await ch.bindQueue('jobs', 'amq.fanout', '');
      for (let m = 0; m < 20; m++) ch.publish('amq.fanout', '', Buffer.from(`${names[i]}:${m}`));
    }
    for (const [i, ch] of chans.entries()) {
      await eventually(async () => expect((await ch.checkQueue('jobs')).messageCount).toBe(20));
      expect(await drain(ch, 'jobs')).toEqual(Array.from({ length: 20 }, (_, m) => `${names[i]}:${m}`));
    }
    const shards = new Set(names.map((v) => running.broker.vhosts.get(v)!.topology.queues.get('jobs')!.shard));
    if (workers === 2) expect(shards.size).toBe(2);
    await Promise.all(conns.map((c) => c.close()));
  });

  it("connection.open to an unknown vhost, or one the user has no permission in, gets RabbitMQ's 530", async () => {
    expect(await login(running.port, 'guest', 'guest', 'nowhere')).toMatchObject({ opened: false, code: 530, text: 'NOT_ALLOWED - vhost nowhere not found' });
    running.broker.addVHost('locked');
    expect(await login(running.port, 'guest', 'guest', 'locked')).toMatchObject({
      opened: false,
      code: 530,
      text: "NOT_ALLOWED - access to vhost 'locked' refused for user 'guest'",
    });
    // Permission in it opens it; clearing the permission closes it again for new connections.
    running.broker.setPermissions('guest', 'locked', FULL);
    const ok = await login(running.port, 'guest', 'guest', 'locked');
    expect(ok.opened).toBe(true);
    ok.client.destroy();
    running.broker.clearPermissions('guest', 'locked');
    expect(await login(running.port, 'guest', 'guest', 'locked')).toMatchObject({ opened: false, code: 530 });
  });

  it('deleting a vhost closes its connections (320), deletes its queues and their messages in the shards and on disk; other vhosts keep theirs', async () => {
    const doomed = vhost('doomed');
    const kept = vhost('kept');
    const conn = await connect(url(doomed));
    const ch = await channel(conn);
    const other = await connect(url(kept));
    const otherCh = await channel(other);
    const queues = Array.from({ length: 6 }, (_, i) => `q${i}`);
    for (const q of queues) {
      await ch.assertQueue(q, { durable: true });
      await otherCh.assertQueue(q, { durable: true });
      for (let m = 0; m < 10; m++) {
        ch.sendToQueue(q, Buffer.from(`${q}:${m}`), { persistent: true });
        otherCh.sendToQueue(q, Buffer.from(`${q}:${m}`), { persistent: true });
      }
    }
    for (const q of queues) await eventually(async () => expect((await ch.checkQueue(q)).messageCount).toBe(10));
    const shards = new Set(queues.map((q) => running.broker.vhosts.get(doomed)!.topology.queues.get(q)!.shard));
    if (workers === 2) expect(shards.size).toBe(2);
    const dataDir = running.broker.options.dataDir!;
    for (const q of queues) expect(existsSync(queueDir(dataDir, doomed, q))).toBe(true);

    const closed = new Promise<any>((resolve) => conn.once('close', resolve));
    await running.broker.deleteVHost(doomed);
    expect(reason(await closed)).toEqual({ code: 320, text: `CONNECTION_FORCED - vhost '${doomed}' is deleted` });
    expect(running.broker.vhosts.has(doomed)).toBe(false);
    await eventually(() => {
      for (const q of queues) expect(existsSync(queueDir(dataDir, doomed, q))).toBe(false);
    }, 5000);
    expect(await login(running.port, 'guest', 'guest', doomed)).toMatchObject({ opened: false, code: 530, text: `NOT_ALLOWED - vhost ${doomed} not found` });

    // The same name again is a new, empty vhost: no queue and no message came back.
    running.broker.addVHost(doomed);
    running.broker.setPermissions('guest', doomed, FULL);
    const again = await connect(url(doomed));
    const againCh = await channel(again);
    for (const q of queues) expect((await againCh.assertQueue(q, { durable: true })).messageCount).toBe(0);
    await again.close();
    for (const q of queues) expect(await drain(otherCh, q)).toEqual(Array.from({ length: 10 }, (_, m) => `${q}:${m}`));
    await other.close();
  });

  it('max-connections: the connection over the limit gets 530 with RabbitMQ text; 0 refuses all; a closed one frees a place', async () => {
    const limited = vhost('limited');
    running.broker.setVHostLimits(limited, { maxConnections: 2 });
    const a = await login(running.port, 'guest', 'guest', limited);
    const b = await login(running.port, 'guest', 'guest', limited);
    expect([a.opened, b.opened]).toEqual([true, true]);
    expect(await login(running.port, 'guest', 'guest', limited)).toMatchObject({
      opened: false,
      code: 530,
      text: `NOT_ALLOWED - access to vhost '${limited}' refused for user 'guest': connection limit (2) is reached`,
    });
    a.client.destroy();
    await eventually(() => expect(running.broker.vhosts.get(limited)!.connections.size).toBe(1));
    const c = await login(running.port, 'guest', 'guest', limited);
    expect(c.opened).toBe(true);
    b.client.destroy();
    c.client.destroy();
    running.broker.setVHostLimits(limited, { maxConnections: 0 });
    expect(await login(running.port, 'guest', 'guest', limited)).toMatchObject({ opened: false, code: 530 });
  });

  it('max-queues: the declare of one queue too many gets 406 with RabbitMQ text; redeclaring an existing one still works', async () => {
    const limited = vhost('few');
    running.broker.setVHostLimits(limited, { maxQueues: 3 });
    const conn = await connect(url(limited));
    const ch = await channel(conn);
    for (const q of ['a', 'b', 'c']) await ch.assertQueue(q);
    await ch.assertQueue('a');
    expect(await refused(ch.assertQueue('d'))).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - cannot declare queue 'd': queue limit in vhost '${limited}' (3) is reached`,
    });
    const ch2 = await channel(conn);
    await ch2.deleteQueue('c');
    await ch2.assertQueue('d');
    await conn.close();
  });
});

describe('the node connection limit (maxConnections, --max-connections)', () => {
  it('counts open connections in every vhost; the one over it gets 530 with RabbitMQ text; a closed one frees a place', async () => {
    const running = await startBroker({ port: 0, host: '127.0.0.1', workers: 0, maxConnections: 2 });
    try {
      running.broker.addVHost('other');
      running.broker.setPermissions('guest', 'other', FULL);
      const a = await login(running.port, 'guest', 'guest', '/');
      const b = await login(running.port, 'guest', 'guest', 'other');
      expect([a.opened, b.opened]).toEqual([true, true]);
      expect(await login(running.port, 'guest', 'guest', '/')).toMatchObject({ opened: false, code: 530, text: 'NOT_ALLOWED - connection refused: node connection limit (2) is reached' });
      b.client.destroy();
      await eventually(() => expect(running.broker.vhosts.get('other')!.connections.size).toBe(0));
      const c = await login(running.port, 'guest', 'guest', '/');
      expect(c.opened).toBe(true);
      a.client.destroy();
      c.client.destroy();
    } finally {
      await running.close();
    }
  });
});
