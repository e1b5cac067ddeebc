/** basic.qos: per-consumer prefetch (global=false), per-channel prefetch (global=true), no-ack and get. */
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, bodies, channel, eventually, nextEvent, sleep, subscribe, uniq, useBroker } from '../helpers.js';
import { nameOnShard } from './on-shard.js';

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

  /** A channel with a global prefetch of `limit` consuming (with acks) from both queues, once it has `limit` deliveries and no more. */
  async function sharingLimit(conn: ChannelModel, limit: number, q1: string, q2: string) {
    const ch = await channel(conn);
    await ch.prefetch(limit, true);
    const a = await subscribe(ch, q1, { noAck: false });
    const b = await subscribe(ch, q2, { noAck: false });
    await eventually(() => expect(a.messages.length + b.messages.length).toBe(limit));
    await sleep(QUIET_MS);
    expect(a.messages.length + b.messages.length).toBe(limit);
    return { ch, a, b };
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
    const { ch, a, b } = await sharingLimit(conn, 3, q1, q2);

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

  it("prefetch (global=true) as RabbitMQ 3.10.8's limiter keeps it: held-back messages stay ready, basic.get takes no place, no-ack consumers wait while it is full", async () => {
    // Each expectation was read off RabbitMQ 3.10.8 with the same steps.
    const conn = await server.connect();
    const admin = await channel(conn);
    const ready = async (...queues: string[]) => Promise.all(queues.map(async (q) => (await admin.checkQueue(q)).messageCount));

    // Two queues (on two shards with threads) under a limit of 2: what the limit holds back stays ready.
    const [b1, b2] = [nameOnShard('qos-b1', 0, workers), nameOnShard('qos-b2', 1, workers)];
    for (const q of [b1, b2]) {
      await admin.assertQueue(q);
      for (let i = 1; i <= 5; i++) admin.sendToQueue(q, Buffer.from(`${q}-${i}`));
    }
    await eventually(async () => expect(await ready(b1, b2)).toEqual([5, 5]));
    const { ch, a, b } = await sharingLimit(conn, 2, b1, b2);
    expect((await ready(b1, b2)).reduce((x, y) => x + y)).toBe(8);
    // A no-ack consumer of the same channel gets nothing while the limit is full...
    const c = uniq('qos-c');
    await admin.assertQueue(c);
    const free = await subscribe(ch, c, { noAck: true });
    for (let i = 1; i <= 3; i++) admin.sendToQueue(c, Buffer.from(`c${i}`));
    await sleep(QUIET_MS);
    expect(free.messages).toHaveLength(0);
    expect(await ready(c)).toEqual([3]);
    // ... and an unacked basic.get takes no place: one ack makes room for one delivery of either queue,
    // or the no-ack consumer's three (which take none).
    const got = await ch.get(c, { noAck: false });
    expect(got && got.content.toString()).toBe('c1');
    ch.ack((a.messages[0] ?? b.messages[0])!);
    await eventually(() => expect(a.messages.length + b.messages.length + free.messages.length).toBeGreaterThanOrEqual(3));
    await sleep(QUIET_MS);
    expect(a.messages.length + b.messages.length).toBeLessThanOrEqual(3);
    expect((await ready(b1, b2, c)).reduce((x, y) => x + y)).toBe(10 + 2 - (a.messages.length + b.messages.length) - free.messages.length);
    await ch.close();
    for (const q of [b1, b2, c]) await admin.deleteQueue(q);
  });

  it('prefetch (global=true) set after deliveries counts them; lowered, it waits until fewer are unacked (RabbitMQ 3.10.8)', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, 0);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const feed = await channel(conn);
    for (let i = 0; i < 3; i++) feed.sendToQueue(queue, Buffer.from(`d${i}`));
    await inbox.waitFor(3);
    await ch.prefetch(4, true);
    for (let i = 3; i < 8; i++) feed.sendToQueue(queue, Buffer.from(`d${i}`));
    await inbox.waitFor(4);
    await sleep(QUIET_MS);
    expect(bodies(inbox.messages)).toEqual(['d0', 'd1', 'd2', 'd3']);
    await ch.prefetch(2, true);
    ch.ack(inbox.messages[0]!);
    ch.ack(inbox.messages[1]!);
    await sleep(QUIET_MS);
    expect(inbox.messages).toHaveLength(4); // two unacked: the new limit is full
    ch.ack(inbox.messages[2]!);
    await inbox.waitFor(5);
    await sleep(QUIET_MS);
    expect(inbox.messages).toHaveLength(5);
    await ch.prefetch(0, true);
    await inbox.waitFor(8);
    await ch.close();
  });

  it('a per-consumer qos lifts the channel-wide one, a global qos of 0 leaves the per-consumer one (as RabbitMQ 3.10.8 counts them)', async () => {
    const conn = await server.connect();
    // [first qos, second qos, unacked deliveries of 10 that RabbitMQ 3.10.8 made]
    const cases: [[number, boolean], [number, boolean], number][] = [
      [[2, true], [5, false], 5],
      [[5, false], [2, true], 2],
      [[2, true], [0, false], 10],
      [[3, false], [0, true], 3],
    ];
    for (const [first, second, expected] of cases) {
      const queue = await queueWith(conn, 10);
      const ch = await channel(conn);
      await ch.prefetch(...first);
      await ch.prefetch(...second);
      const inbox = await subscribe(ch, queue, { noAck: false });
      await inbox.waitFor(expected);
      await sleep(QUIET_MS);
      expect(inbox.messages, `qos(${first}) then qos(${second})`).toHaveLength(expected);
      await ch.close();
    }
    // Lifted under a consumer it already held back: the rest comes.
    const queue = await queueWith(conn, 10);
    const ch = await channel(conn);
    await ch.prefetch(2, true);
    const inbox = await subscribe(ch, queue, { noAck: false });
    await inbox.waitFor(2);
    await sleep(QUIET_MS);
    expect(inbox.messages).toHaveLength(2);
    await ch.prefetch(0, false);
    await inbox.waitFor(10);
    expect(bodies(inbox.messages)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i + 1}`));
  });

  it("prefetch (global=true) and quorum queues, as RabbitMQ 3.10.8: no consume under one (540), and a quorum queue's consumer neither held back nor counted by one set later", async () => {
    const refusedConn = await server.connect();
    const admin = await channel(refusedConn);
    const quorum = uniq('qos-quorum');
    const classic = uniq('qos-classic');
    await admin.assertQueue(quorum, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await admin.assertQueue(classic);
    const limited = await channel(refusedConn);
    await limited.prefetch(1, true);
    const closedWith = nextEvent<Error>(refusedConn, 'error');
    limited.consume(quorum, () => {}).catch(() => {});
    expect((await closedWith).message).toContain(`540 (NOT-IMPLEMENTED) with message "NOT_IMPLEMENTED - queue '${quorum}' in vhost '/' does not support global qos"`);

    const conn = await server.connect();
    const feed = await channel(conn);
    const ch = await channel(conn);
    const fromQuorum = await subscribe(ch, quorum, { noAck: false });
    await ch.prefetch(1, true);
    for (let i = 0; i < 3; i++) feed.sendToQueue(quorum, Buffer.from(`q${i}`));
    await fromQuorum.waitFor(3);
    // Three unacked from the quorum queue count for nothing: the classic queue's consumer gets its one.
    const fromClassic = await subscribe(ch, classic, { noAck: false });
    for (let i = 0; i < 3; i++) feed.sendToQueue(classic, Buffer.from(`c${i}`));
    for (let i = 3; i < 6; i++) feed.sendToQueue(quorum, Buffer.from(`q${i}`));
    await fromQuorum.waitFor(6);
    await fromClassic.waitFor(1);
    await sleep(QUIET_MS);
    expect([fromQuorum.messages.length, fromClassic.messages.length]).toEqual([6, 1]);
    // Acking the quorum queue's deliveries frees nothing; acking the classic one does.
    for (const m of fromQuorum.messages) ch.ack(m);
    await sleep(QUIET_MS);
    expect(fromClassic.messages).toHaveLength(1);
    ch.ack(fromClassic.messages[0]!);
    await fromClassic.waitFor(2);
    await ch.close();
    await feed.deleteQueue(quorum);
    await feed.deleteQueue(classic);
  });

  it('prefetch (global=true) across queues on every shard: never more unacked than the limit, nothing held back out of its queue, every message once (fast-check)', async () => {
    type Step =
      | { kind: 'publish'; queue: number; count: number }
      | { kind: 'ack' | 'nack' | 'requeue'; pick: number; multiple: boolean }
      | { kind: 'cancel'; pick: number }
      | { kind: 'recover' }
      | { kind: 'limit'; count: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('publish' as const), queue: fc.nat({ max: 2 }), count: fc.integer({ min: 1, max: 12 }) }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('ack' as const, 'nack' as const, 'requeue' as const), pick: fc.nat(), multiple: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'recover' as const }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('limit' as const), count: fc.integer({ min: 1, max: 6 }) }) },
    );
    const consumerSpec = fc.record({ queue: fc.nat({ max: 2 }), noAck: fc.constantFrom(false, false, true) });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(consumerSpec, { minLength: 1, maxLength: 4 }), fc.array(step, { minLength: 1, maxLength: 14 }), async (limit, specs, steps) => {
        const conn = await server.connect();
        const admin = await channel(conn);
        const queues = [0, 1, 2].map((i) => nameOnShard(`qos-g${i}`, i, workers));
        for (const q of queues) await admin.assertQueue(q);
        const ch = await channel(conn);
        await ch.prefetch(limit, true);
        let limitNow = limit;
        /** the most unacked the client may hold: the limit, or more that came under a higher one before it was lowered */
        let bound = limit;
        /** acking consumers' deliveries the client holds, by body */
        const held = new Map<string, ConsumeMessage>();
        /** where each message ended: acked, dropped (nack), or taken by a no-ack consumer */
        const done = new Map<string, string>();
        const seen = new Set<string>();
        let published = 0;
        let over = '';
        const consumers: { tag: string; queue: number; noAck: boolean; live: boolean }[] = [];
        for (const spec of specs) {
          const { consumerTag } = await ch.consume(queues[spec.queue]!, (msg) => {
            if (msg === null) return;
            const body = msg.content.toString();
            if (seen.has(body) && !msg.fields.redelivered) over ||= `${body} again without redelivered`;
            if (done.has(body)) over ||= `${body} delivered after it ended (${done.get(body)})`;
            seen.add(body);
            if (spec.noAck) return void done.set(body, 'no-ack');
            held.set(body, msg);
            if (held.size > bound) over ||= `${held.size} unacked under a global limit of ${limitNow}`;
          }, { noAck: spec.noAck });
          consumers.push({ tag: consumerTag, queue: spec.queue, noAck: spec.noAck, live: true });
        }
        const settle = (kind: 'ack' | 'nack' | 'requeue', msg: ConsumeMessage, multiple: boolean) => {
          const tag = msg.fields.deliveryTag;
          for (const [body, m] of [...held]) {
            if (m.fields.deliveryTag > tag || (!multiple && m.fields.deliveryTag !== tag)) continue;
            held.delete(body);
            if (kind !== 'requeue') done.set(body, kind);
          }
          if (kind === 'ack') ch.ack(msg, multiple);
          else ch.nack(msg, multiple, kind === 'requeue');
        };
        /** Quiet: the client holds what the limit allows, and what it does not take stays ready in its queue. */
        const settled = async () => {
          await eventually(async () => {
            const ready = await Promise.all(queues.map(async (q) => (await admin.checkQueue(q)).messageCount));
            expect(over).toBe('');
            expect(ready.reduce((x, y) => x + y), 'ready messages: none held back out of their queues').toBe(published - done.size - held.size);
            // A queue with a live consumer and ready messages waits only for a full limit.
            const waiting = consumers.some((c) => c.live && ready[c.queue]! > 0);
            if (waiting) expect(held.size, `ready ${ready} with room under ${limitNow}`).toBeGreaterThanOrEqual(limitNow);
          }, 3000);
          bound = Math.max(limitNow, held.size);
        };
        for (const s of steps) {
          if (s.kind === 'publish') {
            for (let i = 0; i < s.count; i++) admin.sendToQueue(queues[s.queue]!, Buffer.from(`${s.queue}:${published++}`));
          } else if (s.kind === 'cancel') {
            const live = consumers.filter((c) => c.live);
            if (live.length === 0) continue;
            const c = live[s.pick % live.length]!;
            c.live = false;
            await ch.cancel(c.tag);
          } else if (s.kind === 'recover') {
            held.clear();
            await ch.recover();
          } else if (s.kind === 'limit') {
            // Deliveries a higher limit lets through may reach the callback before the await returns.
            bound = Math.max(bound, s.count);
            await ch.prefetch(s.count, true);
            limitNow = s.count;
          } else {
            const msgs = [...held.values()].sort((x, y) => x.fields.deliveryTag - y.fields.deliveryTag);
            if (msgs.length === 0) continue;
            settle(s.kind, msgs[s.pick % msgs.length]!, s.multiple);
          }
          await settled();
        }
        // Drain: ack all as it comes until every message has ended.
        bound = Infinity;
        await ch.prefetch(0, true);
        await eventually(async () => {
          for (const m of held.values()) ch.ack(m);
          for (const body of held.keys()) done.set(body, 'ack');
          held.clear();
          for (const [i, q] of queues.entries()) {
            for (let m = await admin.get(q, { noAck: true }); m !== false; m = await admin.get(q, { noAck: true })) done.set(m.content.toString(), `drained ${i}`);
          }
          expect(done.size).toBe(published);
        }, 3000);
        expect(over).toBe('');
        await conn.close();
      }),
      { numRuns: 12 },
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
