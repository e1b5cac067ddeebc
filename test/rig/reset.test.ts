/**
 * broker.reset(): every queue, message, non-default exchange and binding goes
 * (in the shards and on disk), clients are closed with 320 unless kept,
 * users, vhosts and permissions stay; one vhost's reset leaves the others.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, connect, drain, eventually, nextEvent, reason } from '../helpers.js';

const QUEUES = 2000;

describe.each(MODES)('reset ($name)', ({ workers }) => {
  let broker: RunningBroker;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(join(os.tmpdir(), 'warren-reset-'));
    broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    broker.broker.addVHost('other');
    broker.broker.setPermissions('guest', 'other', { configure: '.*', write: '.*', read: '.*' });
  });
  afterAll(async () => {
    await broker.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it(`deletes ${QUEUES} queues with their messages, exchanges and bindings; clients see 320; names declare fresh`, async () => {
    const conn = await connect(broker.url);
    const ch = await channel(conn);
    const names = Array.from({ length: QUEUES }, (_, i) => `q-${i}`);
    // Half durable with persistent messages: those are in the store too.
    await Promise.all(names.map((name, i) => ch.assertQueue(name, { durable: i % 2 === 0 })));
    await ch.assertExchange('fan', 'fanout');
    await ch.bindQueue('q-0', 'fan', '');
    await ch.bindQueue('q-1', 'amq.direct', 'k');
    for (let i = 0; i < QUEUES; i++) ch.sendToQueue(names[i], Buffer.from(`m-${i}`), { persistent: true });
    ch.publish('fan', '', Buffer.from('fanned'));
    const last = await ch.checkQueue(names[QUEUES - 1]);
    expect(last.messageCount).toBe(1);
    expect((await ch.checkQueue('q-0')).messageCount).toBe(2);
    await eventually(() => expect(fs.readdirSync(join(dataDir, 'queues'))).toHaveLength(QUEUES / 2), 20_000);

    const closed = nextEvent(conn, 'close');
    const started = performance.now();
    await broker.reset();
    const ms = performance.now() - started;
    console.log(`reset of ${QUEUES} queues (${QUEUES + 1} messages), workers ${workers}: ${ms.toFixed(1)} ms`);
    expect(reason(await closed).code).toBe(320);
    // The store removes the queues' directories behind the shard, at its own pace.
    await eventually(() => expect(fs.readdirSync(join(dataDir, 'queues'))).toEqual([]), 20_000);

    const again = await connect(broker.url);
    const ch2 = await channel(again);
    // Same names declare fresh, with no messages.
    const declared = await Promise.all(names.map((name, i) => ch2.assertQueue(name, { durable: i % 2 === 0 })));
    expect(declared.every((d) => d.messageCount === 0)).toBe(true);
    // The exchange and the bindings went; the default exchanges still route.
    await expect(channel(again).then((c) => c.checkExchange('fan'))).rejects.toThrow(/404/);
    const ch3 = await channel(again);
    ch3.publish('amq.direct', 'k', Buffer.from('not bound any more'));
    ch3.sendToQueue('q-1', Buffer.from('default'));
    await ch3.bindQueue('q-2', 'amq.direct', 'k2');
    ch3.publish('amq.direct', 'k2', Buffer.from('direct'));
    expect(await drain(ch3, 'q-1')).toEqual(['default']);
    expect(await drain(ch3, 'q-2')).toEqual(['direct']);
    // Users and permissions stay: guest still opens 'other'.
    const other = await connect(`${broker.url}/other`);
    await other.close();
    await again.close();
  }, 60_000);

  it("reset of one vhost leaves another's queues and connections", async () => {
    const home = await connect(broker.url);
    const away = await connect(`${broker.url}/other`);
    const chHome = await channel(home);
    const chAway = await channel(away);
    await chHome.assertQueue('home-q');
    await chAway.assertQueue('away-q');
    for (let i = 0; i < 5; i++) {
      chHome.sendToQueue('home-q', Buffer.from(`h-${i}`));
      chAway.sendToQueue('away-q', Buffer.from(`a-${i}`));
    }
    await chHome.checkQueue('home-q');
    const awayClosed = nextEvent(away, 'close');
    await broker.reset({ vhost: 'other' });
    // The home connection was not closed: it still reads its queue, whole.
    expect(await drain(chHome, 'home-q')).toEqual(['h-0', 'h-1', 'h-2', 'h-3', 'h-4']);
    expect(reason(await awayClosed).code).toBe(320);
    const away2 = await connect(`${broker.url}/other`);
    const ch = await channel(away2);
    await expect(ch.checkQueue('away-q')).rejects.toThrow(/404/);
    await away2.close();
    await home.close();
  });

  it('keepConnections: the client stays, its consumer of a deleted queue is cancelled', async () => {
    const conn = await connect(broker.url);
    const ch = await channel(conn);
    await ch.assertQueue('kept');
    let resolveCancel: (msg: null) => void = () => {};
    const cancelled = new Promise<null>((resolve) => (resolveCancel = resolve));
    await ch.consume('kept', (msg) => msg === null && resolveCancel(msg));
    await broker.reset({ keepConnections: true });
    await expect(cancelled).resolves.toBeNull();
    expect((await ch.assertQueue('kept')).messageCount).toBe(0);
    await conn.close();
  });

  it('keepConnections: a delivery unacked across the reset is acked without harm; the queue starts empty', async () => {
    const conn = await connect(broker.url);
    const ch = await channel(conn);
    await ch.assertQueue('held');
    ch.sendToQueue('held', Buffer.from('m-0'));
    ch.sendToQueue('held', Buffer.from('m-1'));
    const msg = await broker.waitFor.queue('held', { messages: 2 }).then(() => ch.get('held'));
    expect(msg && msg.content.toString()).toBe('m-0');
    await broker.reset({ keepConnections: true });
    if (msg) ch.ack(msg);
    await ch.assertQueue('held');
    ch.sendToQueue('held', Buffer.from('m-2'));
    expect(await drain(ch, 'held')).toEqual(['m-2']);
    await conn.close();
  });
});
