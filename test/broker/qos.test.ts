/** basic.qos: per-consumer prefetch (global=false), per-channel prefetch (global=true), no-ack and get. */
import type { ChannelModel } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, bodies, channel, eventually, sleep, subscribe, uniq, useBroker } from '../helpers.js';

/** How long to wait to be sure no further delivery is on its way. */
const QUIET_MS = 150;

describe.each(MODES)('qos: $name', ({ workers }) => {
  const server = useBroker(workers);

  async function queueWith(conn: ChannelModel, count: number, prefix = 'm'): Promise<string> {
    const ch = await channel(conn);
    const queue = uniq('qos');
    await ch.assertQueue(queue, { autoDelete: false });
    for (let i = 1; i <= count; i++) ch.sendToQueue(queue, Buffer.from(`${prefix}${i}`));
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(count));
    await ch.close();
    return queue;
  }

  it('prefetch(2): only two unacked deliveries until an ack', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, 5);
    const ch = await channel(conn);
    await ch.prefetch(2);
    const inbox = await subscribe(ch, queue, { noAck: false });
    await inbox.waitFor(2);
    await sleep(QUIET_MS);
    expect(bodies(inbox.messages)).toEqual(['m1', 'm2']);

    ch.ack(inbox.messages[0]);
    await inbox.waitFor(3);
    await sleep(QUIET_MS);
    expect(bodies(inbox.messages)).toEqual(['m1', 'm2', 'm3']);

    // Acking two at once lets two more through.
    ch.ack(inbox.messages[2], true);
    await inbox.waitFor(5);
    expect(bodies(inbox.messages)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    ch.ackAll();
  });

  it('prefetch (global=false) limits each consumer of the channel separately', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, 10);
    const ch = await channel(conn);
    await ch.prefetch(2);
    const a = await subscribe(ch, queue, { noAck: false });
    const b = await subscribe(ch, queue, { noAck: false });
    await a.waitFor(2);
    await b.waitFor(2);
    await sleep(QUIET_MS);
    expect([a.messages.length, b.messages.length]).toEqual([2, 2]);
    const check = await channel(conn);
    expect((await check.checkQueue(queue)).messageCount).toBe(6);
    ch.ackAll();
  });

  it('prefetch (global=true) is shared by all consumers of the channel', async () => {
    const conn = await server.connect();
    const q1 = await queueWith(conn, 5, 'a');
    const q2 = await queueWith(conn, 5, 'b');
    const ch = await channel(conn);
    await ch.prefetch(3, true);
    const a = await subscribe(ch, q1, { noAck: false });
    const b = await subscribe(ch, q2, { noAck: false });
    await eventually(() => expect(a.messages.length + b.messages.length).toBe(3));
    await sleep(QUIET_MS);
    expect(a.messages.length + b.messages.length).toBe(3);

    // One ack, one more delivery (from either queue).
    ch.ack((a.messages[0] ?? b.messages[0])!);
    await eventually(() => expect(a.messages.length + b.messages.length).toBe(4));
    await sleep(QUIET_MS);
    expect(a.messages.length + b.messages.length).toBe(4);

    // Ack everything outstanding: the rest comes, three at a time.
    ch.ackAll();
    await eventually(() => expect(a.messages.length + b.messages.length).toBe(7));
    ch.ackAll();
    await eventually(() => expect(a.messages.length + b.messages.length).toBe(10));
    expect(bodies(a.messages)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(bodies(b.messages)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
    ch.ackAll();
  });

  it('prefetch (global=true): what the channel never sent goes back not redelivered, on cancel and on close', async () => {
    // Checked against RabbitMQ 3.10 (test/wire/rabbitmq-lifecycle-differential.fuzz.test.ts): its queues ask the
    // channel's limiter before they send, so a message the limit held back was never delivered.
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom('cancel', 'close'), async (prefetch, count, end) => {
        const conn = await server.connect();
        const queues = [await queueWith(conn, count, 'a'), await queueWith(conn, count, 'b')];
        const ch = await channel(conn);
        await ch.prefetch(prefetch, true);
        const a = await subscribe(ch, queues[0]!, { noAck: false });
        const b = await subscribe(ch, queues[1]!, { noAck: false });
        await eventually(() => expect(a.messages.length + b.messages.length).toBe(Math.min(prefetch, 2 * count)));
        await sleep(20);
        const sent = bodies([...a.messages, ...b.messages]);
        if (end === 'cancel') {
          await ch.cancel(a.consumerTag);
          await ch.cancel(b.consumerTag);
          await sleep(20);
          expect(bodies([...a.messages, ...b.messages])).toEqual(sent);
        }
        await ch.close();
        const check = await channel(conn);
        const back: string[] = [];
        for (const queue of queues) {
          for (let m = await check.get(queue, { noAck: true }); m !== false; m = await check.get(queue, { noAck: true })) {
            back.push(`${m.content.toString()}${m.fields.redelivered ? ' redelivered' : ''}`);
          }
        }
        // Every message once; redelivered exactly when the client had it
        const all = [...Array(count).keys()].flatMap((i) => [`a${i + 1}`, `b${i + 1}`]);
        expect(back.map((m) => m.split(' ')[0]).sort()).toEqual(all.sort());
        for (const m of back) expect(m.endsWith(' redelivered'), m).toBe(sent.includes(m.split(' ')[0]!));
        await conn.close();
      }),
      { numRuns: 15 },
    );
  });

  it('basic.qos (global=false) applies to consumers created after it', async () => {
    const conn = await server.connect();
    const before = await queueWith(conn, 4);
    const after = await queueWith(conn, 4);
    const ch = await channel(conn);
    const unlimited = await subscribe(ch, before, { noAck: false });
    await ch.prefetch(1);
    const limited = await subscribe(ch, after, { noAck: false });
    await unlimited.waitFor(4);
    await limited.waitFor(1);
    await sleep(QUIET_MS);
    expect([unlimited.messages.length, limited.messages.length]).toEqual([4, 1]);
    ch.ackAll();
  });

  it('prefetch does not hold back no-ack consumers or basic.get', async () => {
    const conn = await server.connect();
    const consumed = await queueWith(conn, 5);
    const polled = await queueWith(conn, 3);
    const ch = await channel(conn);
    await ch.prefetch(1);
    const inbox = await subscribe(ch, consumed, { noAck: true });
    expect(bodies(await inbox.waitFor(5))).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    const got = [];
    for (let i = 0; i < 3; i++) {
      const msg = await ch.get(polled, { noAck: false });
      got.push(msg && msg.content.toString());
    }
    expect(got).toEqual(['m1', 'm2', 'm3']);
    ch.ackAll();
  });

  it('prefetch(10) with an ack per message streams 2000 messages in order', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, 2000);
    const ch = await channel(conn);
    await ch.prefetch(10);
    let maxOutstanding = 0;
    let outstanding = 0;
    const got: string[] = [];
    const done = new Promise<void>((resolve) => {
      void ch.consume(
        queue,
        (msg) => {
          if (msg === null) return;
          outstanding++;
          maxOutstanding = Math.max(maxOutstanding, outstanding);
          got.push(msg.content.toString());
          // Ack a little later, so the broker has to wait for credit.
          const last = got.length === 2000;
          setImmediate(() => {
            outstanding--;
            ch.ack(msg);
            if (last) resolve();
          });
        },
        { noAck: false },
      );
    });
    await done;
    expect(got).toEqual(Array.from({ length: 2000 }, (_, i) => `m${i + 1}`));
    expect(maxOutstanding).toBeLessThanOrEqual(10);
  });

  it('prefetch(0) means no limit', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, 20);
    const ch = await channel(conn);
    await ch.prefetch(0);
    const inbox = await subscribe(ch, queue, { noAck: false });
    expect((await inbox.waitFor(20)).length).toBe(20);
    ch.ackAll();
  });
});
