/**
 * Message TTL (x-message-ttl, the expiration property) and queue TTL
 * (x-expires), as RabbitMQ 3.10's classic queues: expired messages are never
 * delivered, by basic.deliver or basic.get; they expire at the head of their
 * queue; a TTL of 0 reaches only a consumer ready at once; an unused queue is
 * deleted after x-expires. Every message is numbered. The shard wakes for a
 * deadline by itself: nothing is published or consumed when a message expires.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { GetMessage } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startBroker } from '../../dist/src/index.js';
import { MODES, bodies, channel, confirmChannel, connect, drain, eventually, queueExists, queueExistsUnused, refused, sleep, subscribe, uniq, useBroker } from '../helpers.js';

const numbered = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe.each(MODES)('message and queue TTL: $name', ({ workers }) => {
  const server = useBroker(workers);

  /**
   * Publishes 6,000 persistent messages (past the 4,096-message window) into a
   * durable queue of a broker with a data dir, and waits until `left` remain.
   * 4 s of TTL or expiration leaves room for the publishes on a loaded machine.
   */
  async function pastTheWindow(args: Record<string, unknown>, expiration: (i: number) => string | undefined, left: number): Promise<string[]> {
    const dataDir = fs.mkdtempSync(join(os.tmpdir(), 'warren-ttl-'));
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    try {
      const conn = await connect(broker.url);
      const ch = await confirmChannel(conn);
      const queue = uniq('ttl-long');
      await ch.assertQueue(queue, { durable: true, arguments: args });
      const count = 6000;
      for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`), { persistent: true, expiration: expiration(i) });
      await ch.waitForConfirms();
      expect((await ch.checkQueue(queue)).messageCount).toBe(count);
      await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(left), 10_000);
      const rest = await drain(ch, queue);
      await conn.close();
      return rest;
    } finally {
      await broker.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }

  it('a durable queue with a TTL is not paged: past the paging window every persistent message still expires', async () => {
    expect(await pastTheWindow({ 'x-message-ttl': 4000 }, () => undefined, 0)).toEqual([]);
  });

  it('a durable queue recovered from disk keeps each message\'s deadline from its publish, as RabbitMQ 3.10.8: not restarted, dead-lettered once due', async () => {
    const dataDir = fs.mkdtempSync(join(os.tmpdir(), 'warren-ttl-'));
    try {
      const queue = uniq('ttl-durable');
      const dead = uniq('ttl-durable-dead');
      let broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
      let published: number;
      try {
        const conn = await connect(broker.url);
        const ch = await confirmChannel(conn);
        await ch.assertQueue(dead, { durable: true });
        await ch.assertQueue(queue, { durable: true, arguments: { 'x-message-ttl': 3000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
        published = Date.now();
        // due while the broker is down; then the queue's TTL; a longer expiration counts for less than the TTL
        ch.sendToQueue(queue, Buffer.from('m0'), { persistent: true, expiration: '300' });
        for (const body of ['m1', 'm2']) ch.sendToQueue(queue, Buffer.from(body), { persistent: true });
        ch.sendToQueue(queue, Buffer.from('m3'), { persistent: true, expiration: '60000' });
        await ch.waitForConfirms();
        await conn.close();
      } finally {
        await broker.close();
      }
      await sleep(1500); // down long enough that a TTL counted from the restart would show
      broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
      try {
        const conn = await connect(broker.url);
        const ch = await confirmChannel(conn);
        await eventually(async () => expect((await ch.checkQueue(dead)).messageCount).toBe(1), 1000);
        expect(((await ch.get(dead, { noAck: true })) as GetMessage).content.toString()).toBe('m0');
        expect((await ch.checkQueue(queue)).messageCount).toBe(3);
        await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(0), 5000);
        // 3 s from the publish, not 4.5 s and more from the restart
        const expired = Date.now() - published;
        expect(expired).toBeLessThan(4300);
        const letters = await drain(ch, dead);
        expect(letters).toEqual(['m1', 'm2', 'm3']);
        await conn.close();
      } finally {
        await broker.close();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a message past the paging window keeps its expiration: read back from disk, it still expires', async () => {
    // no queue TTL: paged like any durable queue; the last message has no expiration
    expect(await pastTheWindow({}, (i) => (i < 5999 ? '4000' : undefined), 1)).toEqual(['m5999']);
  });

  it('x-message-ttl: messages nobody takes in time are gone, the ones taken before arrive once each', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-message-ttl': 200 } });
    for (const body of numbered(50)) ch.sendToQueue(queue, Buffer.from(body));
    await ch.waitForConfirms();
    // half taken at once, the rest left to expire
    const early: string[] = [];
    for (let i = 0; i < 25; i++) {
      const msg = await ch.get(queue, { noAck: true });
      if (msg !== false) early.push(msg.content.toString());
    }
    expect(early).toEqual(numbered(25));
    // with no record coming, the shard must wake for the deadline itself
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(0), 2000);
    expect(await drain(ch, queue)).toEqual([]);
    // later messages get their own full TTL
    for (const body of numbered(5, 'late')) ch.sendToQueue(queue, Buffer.from(body));
    await ch.waitForConfirms();
    const inbox = await subscribe(ch, queue);
    expect(bodies(await inbox.waitFor(5))).toEqual(numbered(5, 'late'));
  });

  it('the expiration property: per message, the sooner of it and the queue TTL; at the head only, as classic queues do', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('long'), { expiration: '400' });
    ch.sendToQueue(queue, Buffer.from('short'), { expiration: '50' });
    ch.sendToQueue(queue, Buffer.from('forever'));
    await ch.waitForConfirms();
    await sleep(200);
    // 'short' has expired but waits behind 'long' (RabbitMQ counts it until it reaches the head)
    expect((await ch.checkQueue(queue)).messageCount).toBe(3);
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(1), 2000);
    expect(await drain(ch, queue)).toEqual(['forever']);

    const { queue: capped } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-message-ttl': 100 } });
    ch.sendToQueue(capped, Buffer.from('a'), { expiration: '60000' }); // the queue's 100 ms wins
    ch.sendToQueue(capped, Buffer.from('b'), { expiration: '0' }); // expires unless taken at once
    await ch.waitForConfirms();
    await eventually(async () => expect((await ch.checkQueue(capped)).messageCount).toBe(0), 2000);
  });

  it('a TTL of 0 with nobody to take it: not counted by a declare or a delete if-empty right behind the publish', async () => {
    // RabbitMQ drops it on arrival; warren at the head once its instant has passed, and a count includes that instant
    // (the publish and the count may reach the shard in one batch, at one reading of the clock)
    const conn = await server.connect();
    const ch = await channel(conn);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.boolean(), fc.boolean(), async (count, byQueue, deleteFirst) => {
        const { queue } = await ch.assertQueue('', { exclusive: true, arguments: byQueue ? { 'x-message-ttl': 0 } : {} });
        for (const body of numbered(count)) ch.sendToQueue(queue, Buffer.from(body), byQueue ? {} : { expiration: '0' });
        if (!deleteFirst) expect((await ch.checkQueue(queue)).messageCount).toBe(0);
        expect((await ch.deleteQueue(queue, { ifEmpty: true })).messageCount).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it("basic.get-ok's count leaves out an expired message the get brought to the head, as RabbitMQ drops it first", async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), async (expiring) => {
        // m0 never expires; behind it, each message has a TTL of 0 or none
        const { queue } = await ch.assertQueue('', { exclusive: true });
        ch.sendToQueue(queue, Buffer.from('m0'));
        expiring.forEach((dies, i) => ch.sendToQueue(queue, Buffer.from(`m${i + 1}`), dies ? { expiration: '0' } : {}));
        await ch.waitForConfirms();
        // expired ones behind the head still count (as in RabbitMQ) until they reach it
        expect((await ch.checkQueue(queue)).messageCount).toBe(1 + expiring.length);
        const got: string[] = [];
        for (let m = await ch.get(queue, { noAck: true }); m !== false; m = await ch.get(queue, { noAck: true })) {
          got.push(m.content.toString());
          // what is left starts at the next message that lives
          const next = expiring.findIndex((dies, i) => !dies && i + 1 > Number(m.content.toString().slice(1)));
          expect(m.fields.messageCount).toBe(next < 0 ? 0 : expiring.length - next);
        }
        expect(got).toEqual(['m0', ...expiring.flatMap((dies, i) => (dies ? [] : [`m${i + 1}`]))]);
        await ch.deleteQueue(queue);
      }),
      { numRuns: 25 },
    );
  });

  it('x-message-ttl 0: a consumer ready at once gets every message, basic.get none', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-message-ttl': 0 } });
    for (const body of numbered(20)) ch.sendToQueue(queue, Buffer.from(body));
    await ch.waitForConfirms();
    expect(await ch.get(queue, { noAck: true })).toBe(false);
    const inbox = await subscribe(ch, queue);
    for (const body of numbered(100, 'c')) ch.sendToQueue(queue, Buffer.from(body));
    await ch.waitForConfirms();
    expect(bodies(await inbox.waitFor(100))).toEqual(numbered(100, 'c'));
    await sleep(100);
    expect(inbox.messages).toHaveLength(100);
  });

  it('unacked messages do not expire; a requeued one that outlived its TTL is gone', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-message-ttl': 100 } });
    ch.sendToQueue(queue, Buffer.from('held'));
    await ch.waitForConfirms();
    const msg = await ch.get(queue, { noAck: false });
    expect(msg && msg.content.toString()).toBe('held');
    await sleep(250);
    ch.nack(msg as any, false, true);
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(0), 2000);
    expect(await ch.get(queue, { noAck: true })).toBe(false);
  });

  it('a message a waiting consumer took at once keeps its expiration: requeued after it, it is gone (per message, any TTL)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('0', '40', '60000', undefined), { minLength: 1, maxLength: 8 }), async (expirations) => {
        const { queue } = await ch.assertQueue('', { exclusive: true });
        const consumer = await conn.createChannel();
        const inbox = await subscribe(consumer, queue, { noAck: false });
        await sleep(20); // the queue's lease reaches the acceptor: the publishes go straight to the consumer (ARCHITECTURE, Leases)
        const sent = expirations.map((_, i) => `m${i}`);
        for (const [i, body] of sent.entries()) ch.sendToQueue(queue, Buffer.from(body), expirations[i] === undefined ? {} : { expiration: expirations[i] });
        await ch.waitForConfirms();
        expect(bodies(await inbox.waitFor(sent.length))).toEqual(sent);
        await sleep(80);
        await consumer.close(); // all of them back to the queue
        // (Counted, an expired one behind a live one stays until it reaches the head, as in RabbitMQ: so only what a get finds is checked.)
        const kept = sent.filter((_, i) => expirations[i] === '60000' || expirations[i] === undefined);
        expect(await drain(ch, queue)).toEqual(kept);
        await ch.deleteQueue(queue);
      }),
      { numRuns: 15 },
    );
  });

  it('refuses an expiration that is not a count of ms with RabbitMQ 3.10 reply text; the message goes nowhere', async () => {
    const conn = await server.connect();
    const ok = await channel(conn);
    const { queue } = await ok.assertQueue('', { exclusive: true });
    const cases: [string, string][] = [
      ['abc', 'no_integer'],
      ['', 'no_integer'],
      ['-1', '{value_negative,-1}'],
      ['1.5', '{leftover_string,".5"}'],
      ['10 ', '{leftover_string," "}'],
    ];
    for (const [expiration, term] of cases) {
      const ch = await channel(conn);
      ch.sendToQueue(queue, Buffer.from('x'), { expiration });
      expect(await refused(new Promise((_, reject) => ch.once('error', reject)))).toEqual({
        code: 406,
        text: `PRECONDITION_FAILED - invalid expiration '${expiration}': ${term}`,
      });
    }
    expect((await ok.checkQueue(queue)).messageCount).toBe(0);
    // large and signed values are fine, as in RabbitMQ
    ok.sendToQueue(queue, Buffer.from('big'), { expiration: '4294967296' });
    ok.sendToQueue(queue, Buffer.from('plus'), { expiration: '+60000' });
    expect(await drain(ok, queue)).toEqual(['big', 'plus']);
  });

  it('the shard wakes for a deadline by itself: an idle queue is gone at its x-expires with nothing sent to its shard', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const name = uniq('expires-alone');
    await ch.assertQueue(name, { durable: false, arguments: { 'x-expires': 150 } });
    await sleep(600);
    // one look: a look itself runs the shard, so it must have deleted the queue already
    expect(await queueExists(conn, name)).toBe(false);
  });

  it('x-expires: a queue unused that long is deleted; consumers, basic.get and declares (passive too, as RabbitMQ 3.10.8) keep it', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const idle = uniq('expires-idle');
    const consumed = uniq('expires-consumed');
    const polled = uniq('expires-polled');
    const checked = uniq('expires-checked');
    const args = { durable: false, arguments: { 'x-expires': 300 } };
    for (const q of [idle, consumed, polled, checked]) await ch.assertQueue(q, args);
    ch.sendToQueue(idle, Buffer.from('lost with its queue'));
    const inbox = await subscribe(ch, consumed);
    const started = Date.now();
    while (Date.now() - started < 600) {
      await ch.get(polled, { noAck: true });
      await ch.checkQueue(checked);
      await sleep(100);
    }
    await eventually(async () => expect(await queueExistsUnused(conn, idle)).toBe(false), 2000);
    for (const kept of [consumed, polled, checked]) expect(await queueExistsUnused(conn, kept)).toBe(true);
    // once its consumer is gone the clock starts again
    await ch.cancel(inbox.consumerTag);
    await sleep(150);
    expect(await queueExistsUnused(conn, consumed)).toBe(true);
    await eventually(async () => expect(await queueExistsUnused(conn, consumed)).toBe(false), 2000);
    // a redeclare restarts it
    const redeclared = uniq('expires-redeclared');
    await ch.assertQueue(redeclared, args);
    for (let i = 0; i < 5; i++) {
      await sleep(120);
      await ch.assertQueue(redeclared, args);
    }
    expect(await queueExistsUnused(conn, redeclared)).toBe(true);
    await eventually(async () => expect(await queueExistsUnused(conn, redeclared)).toBe(false), 2000);
  });
});
