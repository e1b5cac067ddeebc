/**
 * broker.faults: each fault seen by real amqplib clients, scoped by the
 * filter (connection_name, user, vhost), with bystanders going on.
 */
import amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { MODES, bodies, namedConnections, channel, confirmChannel, drain, eventually, nextEvent, reason, sleep, start, subscribe } from '../helpers.js';
import { RawClient } from '../wire/raw-client.js';

describe.each(MODES)('faults ($name)', ({ workers }) => {
  let broker: RunningBroker;
  const connections = namedConnections(() => broker.url);
  const named = connections.open;
  beforeAll(async () => {
    broker = await start(workers);
  });
  afterEach(async () => {
    broker.faults.acceptConnections();
    await connections.closeAll();
    await broker.reset();
  });
  afterAll(async () => {
    await broker.close();
  });

  it('closeConnections closes only the matching connections, with the code and text asked for', async () => {
    const victim = await named('victim');
    const bystander = await named('bystander');
    const closed = nextEvent(victim, 'close');
    expect(broker.faults.closeConnections({ name: 'victim' }, { code: 320, text: 'go away' })).toBe(1);
    const err = reason(await closed);
    expect(err.code).toBe(320);
    expect(err.text).toBe('CONNECTION_FORCED - go away');
    // The other connection goes on.
    const ch = await channel(bystander);
    await ch.assertQueue('still-here');
    ch.sendToQueue('still-here', Buffer.from('m-0'));
    expect(await drain(ch, 'still-here')).toEqual(['m-0']);
    // Another code; a filter that matches nobody closes nothing.
    expect(broker.faults.closeConnections({ user: 'nobody' })).toBe(0);
    const closed2 = nextEvent(bystander, 'close');
    expect(broker.faults.closeConnections({ user: 'guest', vhost: '/' }, { code: 541, text: 'simulated crash' })).toBe(1);
    expect(reason(await closed2)).toEqual({ code: 541, text: 'INTERNAL_ERROR - simulated crash' });
  });

  it('blockPublishers: amqplib hears blocked, publishes wait until unblocked, then every numbered message arrives once', async () => {
    const publisher = await named('publisher');
    const observer = await named('observer');
    const pub = await confirmChannel(publisher);
    await pub.assertQueue('held');
    for (let i = 0; i < 2; i++) pub.sendToQueue('held', Buffer.from(`m-${i}`));
    await pub.waitForConfirms();

    const blocked = nextEvent<string>(publisher, 'blocked');
    expect(broker.faults.blockPublishers({ name: 'publisher' })).toBe(1);
    expect(await blocked).toBe('blocked by a test fault');
    for (let i = 2; i < 5; i++) pub.sendToQueue('held', Buffer.from(`m-${i}`));
    // Not routed while blocked: the queue stays at 2.
    await expect(broker.waitFor.queue('held', { messages: 5 }, { timeoutMs: 300 })).rejects.toThrow(/last seen \{"messages":2,/);
    // The observer is not blocked.
    const obs = await channel(observer);
    expect((await obs.checkQueue('held')).messageCount).toBe(2);

    const unblocked = nextEvent(publisher, 'unblocked');
    expect(broker.faults.unblockPublishers({ name: 'publisher' })).toBe(1);
    await unblocked;
    await broker.waitFor.queue('held', { messages: 5 }, { timeoutMs: 3000 });
    expect(await drain(obs, 'held')).toEqual(['m-0', 'm-1', 'm-2', 'm-3', 'm-4']);
  });

  it('blockPublishers on a connection that never published: its first publishes, each in one write, wait for the unblock, then arrive once, in order', async () => {
    const publisher = await named('fresh-publisher');
    const observer = await named('observer');
    const pub = await channel(publisher);
    await pub.assertQueue('held-first');
    const blocked = nextEvent<string>(publisher, 'blocked');
    expect(broker.faults.blockPublishers({ name: 'fresh-publisher' })).toBe(1);
    expect(await blocked).toBe('blocked by a test fault');
    for (let i = 0; i < 3; i++) pub.sendToQueue('held-first', Buffer.from(`f-${i}`));
    await expect(broker.waitFor.queue('held-first', { messages: 1 }, { timeoutMs: 300 })).rejects.toThrow(/last seen \{"messages":0,/);
    const obs = await channel(observer);
    expect((await obs.checkQueue('held-first')).messageCount).toBe(0);
    expect(broker.faults.unblockPublishers({ name: 'fresh-publisher' })).toBe(1);
    await broker.waitFor.queue('held-first', { messages: 3 }, { timeoutMs: 3000 });
    expect(await drain(obs, 'held-first')).toEqual(['f-0', 'f-1', 'f-2']);
  });

  it('refuseConnections: connect fails (reset, then 530) until acceptConnections', async () => {
    broker.faults.refuseConnections({ mode: 'reset' });
    await expect(amqp.connect(broker.url)).rejects.toThrow();
    broker.faults.refuseConnections({ mode: 'not-allowed' });
    // amqplib reports the 530 only as connection.close where it expected open-ok (a reset is a closed socket).
    await expect(amqp.connect(broker.url)).rejects.toThrow('Expected ConnectionOpenOk; got <ConnectionClose channel:0>');
    broker.faults.acceptConnections();
    const conn = await named('back');
    const ch = await channel(conn);
    await ch.assertQueue('after');
  });

  it('refuseConnections forMs: accepted again after the duration', async () => {
    broker.faults.refuseConnections({ mode: 'reset', forMs: 200 });
    await expect(amqp.connect(broker.url)).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 250));
    await named('later');
  });

  it("stallConnections: the stalled client's heartbeat times out, the others go on", async () => {
    const stalled = await named('stalled', '?heartbeat=1');
    const other = await named('other', '?heartbeat=1');
    const dropped = nextEvent<Error>(stalled, 'error', 5000);
    expect(broker.faults.stallConnections({ name: 'stalled' })).toBe(1);
    expect(String(await dropped)).toMatch(/[Hh]eartbeat/);
    const ch = await channel(other);
    await ch.assertQueue('alive');
  }, 10_000);

  it("stallConnections is a partition: two silent heartbeat intervals later the broker drops the connection, its unacked go to another consumer, its socket closes when the stall ends", async () => {
    const publisher = await named('publisher');
    const pub = await confirmChannel(publisher);
    await pub.assertQueue('partitioned-work');
    for (let i = 0; i < 30; i++) pub.sendToQueue('partitioned-work', Buffer.from(`m-${i}`));
    await pub.waitForConfirms();
    // Its own heartbeat of 1 s: the broker's is the same, so it drops the connection 2 s after it last heard from it.
    const cut = await named('partitioned', '?heartbeat=1');
    const cutCh = await channel(cut);
    await cutCh.prefetch(10);
    const held = await subscribe(cutCh, 'partitioned-work', { noAck: false });
    const heldBodies = bodies(await held.waitFor(10));
    const survivor = await named('survivor', '?heartbeat=0');
    const ch = await channel(survivor);
    const got = await subscribe(ch, 'partitioned-work', { noAck: false });
    await got.waitFor(20);
    expect(broker.faults.stallConnections({ name: 'partitioned' })).toBe(1);
    const stalledAt = Date.now();
    const all = await got.waitFor(30, 6000);
    const requeuedAfter = Date.now() - stalledAt;
    // Not at once: the broker waited for two heartbeat intervals of silence (the last heard at most 1 s before the stall).
    expect(requeuedAfter).toBeGreaterThanOrEqual(900);
    const again = all.slice(20);
    expect(again.every((m) => m.fields.redelivered)).toBe(true);
    expect(bodies(again).sort()).toEqual([...heldBodies].sort());
    expect(all.slice(0, 20).some((m) => m.fields.redelivered)).toBe(false);
    expect(bodies(all).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `m-${i}`).sort());
    for (const m of all) ch.ack(m);
    // Dropped on the broker's side only: unstalling finds it and closes its socket.
    expect(broker.faults.unstallConnections({ name: 'partitioned' })).toBe(1);
    expect(broker.faults.unstallConnections({ name: 'partitioned' })).toBe(0);
    expect((await ch.checkQueue('partitioned-work')).messageCount).toBe(0);
    await eventually(async () => expect((await pub.checkQueue('partitioned-work')).consumerCount).toBe(1));
  }, 15_000);

  it('a connection dropped in a stall: its client hears nothing until the stall ends, then its socket closes', async () => {
    // A raw client sends no heartbeats and never gives up on its own.
    const raw = await RawClient.open(Number(new URL(broker.url).port));
    await raw.handshake(1);
    await broker.waitFor.connections(1);
    expect(broker.faults.stallConnections({})).toBe(1);
    const stalledAt = Date.now();
    await broker.waitFor.connections(0, { timeoutMs: 5000 });
    expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(1500);
    await sleep(300);
    expect(raw.ended).toBe(false);
    expect(broker.faults.unstallConnections({})).toBe(1);
    await raw.waitClosed(2000);
  }, 10_000);

  it('stallConnections forMs: a declare sent during the stall is answered once it ends', async () => {
    const conn = await named('paused');
    const ch = await channel(conn);
    const started = Date.now();
    expect(broker.faults.stallConnections({ name: 'paused' }, { forMs: 300 })).toBe(1);
    const ok = await ch.assertQueue('after-stall');
    expect(ok.queue).toBe('after-stall');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });
  it('cancelConsumers: each consumer hears basic.cancel, its unacked stay, later messages wait for a new consumer', async () => {
    const conn = await named('consumers');
    const ch = await channel(conn);
    const other = await channel(conn);
    await ch.assertQueue('victims');
    await ch.assertQueue('bystanders');
    const got: string[] = [];
    const cancels: unknown[] = [];
    const cancelled = new Promise<void>((resolve) => {
      const onMessage = (msg: amqp.ConsumeMessage | null) => {
        if (msg === null) {
          cancels.push(msg);
          if (cancels.length === 2) resolve();
        } else got.push(msg.content.toString());
      };
      void ch.consume('victims', onMessage).then(() => other.consume('victims', onMessage));
    });
    const spared: string[] = [];
    await other.consume('bystanders', (msg) => msg && spared.push(msg.content.toString()), { noAck: true });
    await broker.waitFor.queue('victims', { consumers: 2 });
    for (let i = 0; i < 3; i++) ch.sendToQueue('victims', Buffer.from(`m-${i}`));
    await broker.waitFor.queue('victims', { unacked: 3 });
    // Counted unacked when the shard hands them over; cancelled before they reach the
    // channel, they would go back to the queue instead (no delivery after a cancel).
    await eventually(() => expect(got).toHaveLength(3));

    expect(broker.faults.cancelConsumers('victims')).toBe(2);
    await cancelled;
    expect(cancels).toEqual([null, null]);
    for (let i = 3; i < 8; i++) ch.sendToQueue('victims', Buffer.from(`m-${i}`));
    ch.sendToQueue('bystanders', Buffer.from('b-0'));
    // Nobody consumes: the five wait, the three delivered stay unacked on their channels.
    await broker.waitFor.queue('victims', { ready: 5, unacked: 3, consumers: 0 });
    expect(got.sort()).toEqual(['m-0', 'm-1', 'm-2']);
    await broker.waitFor.queue('bystanders', { messages: 0, consumers: 1 });
    await eventually(() => expect(spared).toEqual(['b-0']));
    expect(broker.faults.cancelConsumers('/', 'victims')).toBe(0);
    expect(() => broker.faults.cancelConsumers('nope')).toThrow("no queue 'nope' in vhost '/'");

    // A new consumer gets each later message once; the unacked come back (redelivered) when their channels close.
    const fresh = await channel(await named('fresh'));
    const again: string[] = [];
    await fresh.consume('victims', (msg) => msg && again.push(`${msg.content}${msg.fields.redelivered ? '*' : ''}`), { noAck: true });
    // The queue empties as it sends (no-ack): the client's count settles just after.
    await broker.waitFor.queue('victims', { messages: 3 });
    await eventually(() => expect(again).toEqual(['m-3', 'm-4', 'm-5', 'm-6', 'm-7']));
    await ch.close();
    await other.close();
    await broker.waitFor.queue('victims', { messages: 0 });
    await eventually(() => expect(again.slice(5).sort()).toEqual(['m-0*', 'm-1*', 'm-2*']));
    expect(again).toHaveLength(8);
  });
  it('delayDeliveries: the matching consumer gets every numbered message once, in order, late; others on time', async () => {
    const slow = await channel(await named('slow'));
    const fast = await channel(await named('fast'));
    const pub = await confirmChannel(await named('publisher'));
    await pub.assertQueue('slow-q');
    await pub.assertQueue('fast-q');
    const arrivals: { body: string; at: number }[] = [];
    await slow.consume('slow-q', (msg) => msg && arrivals.push({ body: msg.content.toString(), at: Date.now() }), { noAck: true });
    let fastAt = 0;
    await fast.consume('fast-q', () => (fastAt = Date.now()), { noAck: true });

    expect(broker.faults.delayDeliveries({ name: 'slow' }, { ms: 300 })).toBe(1);
    const sent = Date.now();
    for (let i = 0; i < 5; i++) pub.sendToQueue('slow-q', Buffer.from(`m-${i}`));
    pub.sendToQueue('fast-q', Buffer.from('f-0'));
    await pub.waitForConfirms();
    await eventually(() => expect(arrivals.map((a) => a.body)).toEqual(['m-0', 'm-1', 'm-2', 'm-3', 'm-4']));
    expect(arrivals[0].at - sent).toBeGreaterThanOrEqual(290);
    expect(fastAt - sent).toBeLessThan(250);

    // On time again: the next message is not held.
    expect(broker.faults.undelayDeliveries({ name: 'slow' })).toBe(1);
    const resent = Date.now();
    pub.sendToQueue('slow-q', Buffer.from('m-5'));
    await eventually(() => expect(arrivals).toHaveLength(6));
    expect(arrivals[5].body).toBe('m-5');
    expect(arrivals[5].at - resent).toBeLessThan(250);

    // forMs: on time again by itself.
    expect(broker.faults.delayDeliveries({ name: 'slow' }, { ms: 1000, forMs: 100 })).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const later = Date.now();
    await slow.assertQueue('slow-q');
    expect(Date.now() - later).toBeLessThan(250);
  });
});
