/**
 * broker.waitFor: resolves on the broker's own events when a queue's counts
 * or the open connections reach what is asked, rejects on timeout with what
 * it last saw.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, connect, confirmChannel, drain, eventually, start } from '../helpers.js';

describe.each(MODES)('waitFor ($name)', ({ workers }) => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start(workers);
  });
  afterAll(async () => {
    await broker.close();
  });

  it('follows a queue through 5 numbered messages: published, delivered unacked, acked', async () => {
    const conn = await connect(broker.url);
    const ch = await channel(conn);
    await ch.assertQueue('numbered');
    const five = broker.waitFor.queue('numbered', { messages: 5, ready: 5 }, { timeoutMs: 3000 });
    for (let i = 0; i < 5; i++) ch.sendToQueue('numbered', Buffer.from(`m-${i}`));
    await five;

    const got: string[] = [];
    const held: any[] = [];
    const unacked = broker.waitFor.queue('/', 'numbered', { messages: 5, unacked: 5, consumers: 1 }, { timeoutMs: 3000 });
    await ch.prefetch(10);
    await ch.consume('numbered', (msg) => {
      got.push(msg!.content.toString());
      held.push(msg);
    });
    await unacked;
    // The shard counts a delivery unacked when it hands it over: the frames may still be on their way.
    await eventually(() => expect(got).toEqual(['m-0', 'm-1', 'm-2', 'm-3', 'm-4']));

    const drained = broker.waitFor.queue('numbered', { messages: 0 }, { timeoutMs: 3000 });
    for (const msg of held) ch.ack(msg);
    await drained;
    await conn.close();
    await broker.waitFor.queue('numbered', { consumers: 0 }, { timeoutMs: 3000 });
  });

  it('rejects on timeout with what it last saw', async () => {
    const conn = await connect(broker.url);
    const ch = await confirmChannel(conn);
    await ch.assertQueue('short');
    for (let i = 0; i < 4; i++) ch.sendToQueue('short', Buffer.from(`m-${i}`));
    await ch.waitForConfirms();
    const started = Date.now();
    await expect(broker.waitFor.queue('short', { messages: 5 }, { timeoutMs: 300 })).rejects.toThrow(
      /waitFor\.queue\('\/', 'short', \{"messages":5\}\): not reached within 300 ms; last seen \{"messages":4,"ready":4,"unacked":0,"consumers":0\}/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await expect(broker.waitFor.queue('missing', { messages: 0 }, { timeoutMs: 100 })).rejects.toThrow(/the queue did not exist/);
    // A waiter that is already satisfied resolves at once.
    await broker.waitFor.queue('short', { messages: 4 }, { timeoutMs: 1000 });
    await conn.close();
  });

  it('waits for the queue to be declared, and for connections to open and close', async () => {
    const declared = broker.waitFor.queue('later', { messages: 1 }, { timeoutMs: 3000 });
    const two = broker.waitFor.connections(2, { timeoutMs: 3000 });
    const a = await connect(broker.url);
    const b = await connect(broker.url);
    await two;
    const ch = await channel(a);
    await ch.assertQueue('later');
    ch.sendToQueue('later', Buffer.from('one'));
    await declared;
    const one = broker.waitFor.connections(1, { timeoutMs: 3000 });
    await b.close();
    await one;
    await expect(broker.waitFor.connections(3, { timeoutMs: 100 })).rejects.toThrow(/waitFor\.connections\(3\).*last seen 1 open/);
    await a.close();
  });
  it('published: counts what clients publish to one exchange since the call, routed or not', async () => {
    const conn = await connect(broker.url);
    const ch = await channel(conn);
    await ch.assertExchange('logs', 'fanout', { durable: false });
    await ch.assertExchange('other', 'fanout', { durable: false });
    await ch.assertQueue('logs-q');
    await ch.bindQueue('logs-q', 'logs', '');
    ch.publish('logs', '', Buffer.from('before'));
    await broker.waitFor.queue('logs-q', { messages: 1 });

    const six = broker.waitFor.published('logs', 6, { timeoutMs: 3000 });
    const twoDefault = broker.waitFor.published('/', '', 2, { timeoutMs: 3000 });
    for (let i = 0; i < 6; i++) {
      ch.publish('other', '', Buffer.from(`o-${i}`)); // unbound, and not the exchange waited on
      ch.publish('logs', '', Buffer.from(`m-${i}`));
    }
    ch.sendToQueue('logs-q', Buffer.from('d-0'));
    ch.sendToQueue('logs-q', Buffer.from('d-1'));
    await Promise.all([six, twoDefault]);
    expect(broker.waitFor.countingPublishes).toBe(false);
    await broker.waitFor.queue('logs-q', { messages: 9 });

    // Too few, or to another vhost's exchange of that name: rejected with the count seen.
    const short = broker.waitFor.published('logs', 3, { timeoutMs: 300 });
    const elsewhere = broker.waitFor.published('other-vhost', 'logs', 1, { timeoutMs: 300 });
    ch.publish('logs', '', Buffer.from('m-6'));
    ch.publish('logs', '', Buffer.from('m-7'));
    await expect(short).rejects.toThrow("waitFor.published('/', 'logs', 3): not reached within 300 ms; 2 published");
    await expect(elsewhere).rejects.toThrow('0 published');

    // Each numbered message reached the bound queue once, in order.
    const expected = ['before', ...[0, 1, 2, 3, 4, 5].map((i) => `m-${i}`), 'd-0', 'd-1', 'm-6', 'm-7'];
    expect(await drain(ch, 'logs-q')).toEqual(expected);
    await conn.close();
  });
});
