/**
 * Leases (src/acceptor/direct-leases.ts): while a queue is empty and its only
 * consumer takes without acks, the acceptor delivers the queue's publishes
 * itself (consumers that ack: acking-leases.test.ts). These tests check that it does, that what counts them still counts
 * them, and, with every message numbered, that none is lost, doubled or
 * overtaken when the lease ends and comes back: cancels, a second consumer
 * whose unacked messages are requeued, a consumer whose socket stops reading,
 * dead letters and confirms, in any order (fast-check).
 */
import fc from 'fast-check';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, eventually, sleep, uniq } from '../helpers.js';
import { enc, managedBroker } from '../management/support.js';
import { shortstrText } from '../property/arbitraries.js';
import { FRAME_METHOD, RawClient, emptyTable, frame, method, shortstr, u16, u8 } from '../wire/raw-client.js';

interface Seen {
  n: number;
  redelivered: boolean;
  /** which subscription took it */
  by: string;
}

const numbered = (n: number, size: number) => Buffer.from(String(n).padEnd(size, '.'));
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};
/** basic.publish of `body` to `queue` through the default exchange: method, header and body frames. */
const rawPublish = (ch: number, queue: string, body: Buffer) =>
  Buffer.concat([method(ch, 60, 40, u16(0), shortstr(''), shortstr(queue), u8(0)), frame(2, ch, Buffer.concat([u16(60), u16(0), u64(body.length), u16(0)])), frame(3, ch, body)]);
const numberOf = (msg: ConsumeMessage) => Number.parseInt(msg.content.toString(), 10);

for (const mode of MODES) {
  describe(`leases (${mode.name})`, () => {
    const m = managedBroker(mode.workers);
    const leasesHeld = () => m.broker.broker.links.reduce((sum, link) => sum + link.leases.size, 0);
    const leaseDeliveries = () => m.broker.broker.links.reduce((sum, link) => sum + link.leases.deliveries, 0);

    async function open(): Promise<ChannelModel> {
      return connect(m.broker.url);
    }

    /** Runs `use` with a connection of its own (to `url`), closed after. */
    async function withConnection(use: (conn: ChannelModel) => Promise<void>, url = m.broker.url): Promise<void> {
      const conn = await connect(url);
      try {
        await use(conn);
      } finally {
        await conn.close().catch(() => {});
      }
    }

    it("an empty queue's only no-ack consumer is served by the acceptor: each message once, in order, counted in message_stats", async () => {
      const vhost = uniq('lease-vhost');
      expect([201, 204]).toContain((await m.api('PUT', `/api/vhosts/${enc(vhost)}`, {})).status);
      expect([201, 204]).toContain((await m.api('PUT', `/api/permissions/${enc(vhost)}/guest`, { configure: '.*', write: '.*', read: '.*' })).status);
      await withConnection(async (conn) => {
        const ch = await channel(conn);
        const queue = uniq('lease');
        await ch.assertQueue(queue, { durable: false });
        const got: ConsumeMessage[] = [];
        await ch.consume(queue, (msg) => msg !== null && got.push(msg), { noAck: true });
        // the shard offers the lease once it has seen the consumer
        ch.sendToQueue(queue, numbered(0, 8));
        await eventually(() => expect(got.length).toBe(1));
        await eventually(() => expect(leasesHeld()).toBe(1));
        const N = 3000;
        for (let n = 1; n < N; n++) ch.sendToQueue(queue, numbered(n, 8), { persistent: n % 2 === 0 });
        await eventually(() => expect(got.length).toBe(N), 10_000);
        expect(got.map(numberOf)).toEqual(Array.from({ length: N }, (_, n) => n));
        expect(got.every((msg) => !msg.fields.redelivered && msg.fields.routingKey === queue && msg.fields.exchange === '')).toBe(true);
        expect(got.filter((msg) => msg.properties.deliveryMode === 2).length).toBe(Math.floor((N - 1) / 2));
        expect(leasesHeld()).toBe(1);
        const stats = await eventually(async () => {
          const q = (await m.api('GET', `/api/queues/${enc(vhost)}/${enc(queue)}`)).body;
          expect(q.message_stats).toMatchObject({ publish: N, deliver_no_ack: N, deliver_get: N });
          return q;
        }, 5000);
        expect(stats.messages).toBe(0);
        // the lease ends with the consumer
        await ch.cancel(got[0].fields.consumerTag);
        await eventually(() => expect(leasesHeld()).toBe(0));
        ch.sendToQueue(queue, numbered(N, 8));
        await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(1));
      }, `${m.broker.url}/${enc(vhost)}`);
    });

    it('through a lease: names up to 255 bytes of any UTF-8, headers, and bodies of many frames arrive as published (fast-check)', async () => {
      const declarable = () => shortstrText().filter((s) => s.length > 0 && !s.startsWith('amq.'));
      const message = fc.record({
        size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 4000, max: 300_000 })),
        headers: fc.dictionary(shortstrText().filter((k) => k.length > 0 && k !== '__proto__'), fc.string({ unit: 'grapheme', maxLength: 40 }), { maxKeys: 3 }),
      });
      await withConnection(async (conn) => {
        await fc.assert(
          fc.asyncProperty(declarable(), declarable(), shortstrText(), shortstrText(), fc.array(message, { minLength: 1, maxLength: 12 }), async (exchange, queue, key, tag, messages) => {
            // a channel per run, so that a failed run leaves no consumer behind to fail the next with a reused tag
            const ch = await channel(conn);
            try {
              await ch.assertExchange(exchange, 'direct', { durable: false });
              await ch.assertQueue(queue, { durable: false });
              await ch.bindQueue(queue, exchange, key);
              const got: ConsumeMessage[] = [];
              const { consumerTag } = await ch.consume(queue, (msg) => msg !== null && got.push(msg), { noAck: true, consumerTag: tag });
              ch.publish(exchange, key, Buffer.from('warm-up'));
              await eventually(() => expect(got.length).toBe(1));
              await eventually(() => expect(leasesHeld()).toBe(1));
              const bodies = messages.map(({ size }, n) => Buffer.concat([Buffer.from(`${n}:`), Buffer.alloc(size, n % 251)]));
              messages.forEach(({ headers }, n) => ch.publish(exchange, key, bodies[n], { headers }));
              await eventually(() => expect(got.length).toBe(1 + messages.length), 10_000);
              got.slice(1).forEach((msg, n) => {
                expect([msg.fields.exchange, msg.fields.routingKey, msg.fields.consumerTag, msg.fields.redelivered]).toEqual([exchange, key, consumerTag, false]);
                expect(msg.content.equals(bodies[n])).toBe(true);
                expect(msg.properties.headers ?? {}).toEqual(messages[n].headers);
              });
              await ch.cancel(consumerTag);
            } finally {
              await ch.deleteQueue(queue).catch(() => {});
              await ch.deleteExchange(exchange).catch(() => {});
              await ch.close().catch(() => {});
            }
          }),
          { numRuns: 15 },
        );
      });
    }, 120_000);

    it('a second consumer or a queue with a TTL take no lease; an acking consumer with room does', async () => {
      await withConnection(async (conn) => {
        const ch = await channel(conn);
        const [two, acking, ttl] = [uniq('two'), uniq('acking'), uniq('ttl')];
        await ch.assertQueue(two, { durable: false });
        await ch.assertQueue(acking, { durable: false });
        await ch.assertQueue(ttl, { durable: false, arguments: { 'x-message-ttl': 60_000 } });
        const got: Record<string, number[]> = { a: [], b: [], acking: [], ttl: [] };
        await ch.consume(two, (msg) => msg !== null && got.a.push(numberOf(msg)), { noAck: true });
        await ch.consume(two, (msg) => msg !== null && got.b.push(numberOf(msg)), { noAck: true });
        await ch.consume(acking, (msg) => {
          if (msg === null) return;
          got.acking.push(numberOf(msg));
          ch.ack(msg);
        });
        await ch.consume(ttl, (msg) => msg !== null && got.ttl.push(numberOf(msg)), { noAck: true });
        for (let n = 0; n < 10; n++) for (const q of [two, acking, ttl]) ch.sendToQueue(q, numbered(n, 4));
        await eventually(() => expect(got.a.length + got.b.length + got.acking.length + got.ttl.length).toBe(30));
        await sleep(50);
        // only the acking consumer's queue (see acking-leases.test.ts)
        const ackingQueue = m.broker.broker.vhosts.get('/')!.topology.queues.get(acking)!;
        expect([leasesHeld(), m.broker.broker.links[ackingQueue.shard].leases.holds(ackingQueue.id)]).toEqual([1, true]);
        // round robin between the two
        expect(got.a).toEqual([0, 2, 4, 6, 8]);
        expect(got.b).toEqual([1, 3, 5, 7, 9]);
        expect(got.acking).toEqual([...Array(10).keys()]);
        expect(got.ttl).toEqual([...Array(10).keys()]);
      });
    });

    it('confirms and mandatory publishes to a leased queue are acked, none returned', async () => {
      await withConnection(async (conn) => {
        const ch = await channel(conn);
        const queue = uniq('lease-confirm');
        await ch.assertQueue(queue, { durable: false });
        const got: number[] = [];
        await ch.consume(queue, (msg) => msg !== null && got.push(numberOf(msg)), { noAck: true });
        const pub = await conn.createConfirmChannel();
        const returned: number[] = [];
        pub.on('return', (msg) => returned.push(numberOf(msg)));
        pub.sendToQueue(queue, numbered(0, 4));
        await pub.waitForConfirms();
        await eventually(() => expect(leasesHeld()).toBe(1));
        const acked: number[] = [];
        for (let n = 1; n < 500; n++) pub.publish('', queue, numbered(n, 4), { mandatory: true }, (err) => err === null && acked.push(n));
        await pub.waitForConfirms();
        expect(acked.length).toBe(499);
        await eventually(() => expect(got).toEqual([...Array(500).keys()]));
        expect(returned).toEqual([]);
      });
    });

    it('a requeue into a leased queue comes before what its channel publishes next, in the same socket read', async () => {
      const conn = await open();
      const raw = await RawClient.open(Number(new URL(m.broker.url).port));
      try {
        const ch = await channel(conn);
        const queue = uniq('lease-requeue');
        await ch.assertQueue(queue, { durable: false });
        const got: ConsumeMessage[] = [];
        await ch.consume(queue, (msg) => msg !== null && got.push(msg), { noAck: true });
        await raw.handshake();
        raw.send(method(1, 20, 10, shortstr('')));
        await nextMethod(raw, 20, 11);
        raw.send(method(1, 60, 20, u16(0), shortstr(queue), shortstr('r'), u8(0), emptyTable()));
        await nextMethod(raw, 60, 21);
        for (let n = 0; n < 6; n++) ch.sendToQueue(queue, numbered(n, 4));
        // round robin: three each; the raw consumer keeps its three unacked
        let delivered = 0;
        while (delivered < 3) if ((await nextMethod(raw, 60, 60, true)) !== null) delivered++;
        await eventually(() => expect(got.length).toBe(3));
        raw.send(method(1, 60, 30, shortstr('r'), u8(0)));
        await nextMethod(raw, 60, 31);
        await eventually(() => expect(leasesHeld()).toBe(1));
        const heldByRaw = [0, 1, 2, 3, 4, 5].filter((n) => !got.some((msg) => numberOf(msg) === n));
        // nack everything with requeue, then publish 6..8, all in one write
        raw.send(method(1, 60, 120, u64(0), u8(3)), ...[6, 7, 8].map((n) => rawPublish(1, queue, numbered(n, 4))));
        await eventually(() => expect(got.length).toBe(9));
        expect(got.slice(3).map((msg) => [numberOf(msg), msg.fields.redelivered])).toEqual([...heldByRaw.map((n) => [n, true]), [6, false], [7, false], [8, false]]);
      } finally {
        raw.destroy();
        await conn.close().catch(() => {});
      }
    });

    it('a publisher quicker than its consumer waits until the congested queue is empty, and the queue is leased again while it publishes: each message once, in order', async () => {
      const consumerConn = await open();
      const publisherConn = await open();
      try {
        const pub = await channel(publisherConn);
        const queue = uniq('lease-refill');
        await pub.assertQueue(queue, { durable: false });
        // a backlog past the congestion mark (10,000) before anyone consumes: it fills freely
        const BACKLOG = 12_000;
        const N = 30_000;
        for (let n = 0; n < BACKLOG; n++) pub.sendToQueue(queue, numbered(n, 8));
        await eventually(async () => expect((await pub.checkQueue(queue)).messageCount).toBe(BACKLOG), 10_000);
        const before = leaseDeliveries();
        const seen: number[] = [];
        const cch = await channel(consumerConn);
        await cch.consume(queue, (msg) => {
          if (msg === null) return;
          seen.push(numberOf(msg));
          // slower than the publisher: at half the mark the queue would fill again and never empty
          const until = performance.now() + 0.02;
          while (performance.now() < until);
        }, { noAck: true });
        for (let n = BACKLOG; n < N; n++) {
          if (!pub.sendToQueue(queue, numbered(n, 8))) await new Promise((resolve) => pub.once('drain', resolve));
        }
        await eventually(() => expect(seen.length).toBe(N), 30_000);
        expect(seen).toEqual(Array.from({ length: N }, (_, n) => n));
        // some of what was published after the backlog went straight to the consumer
        expect(leaseDeliveries() - before).toBeGreaterThan(0);
      } finally {
        await Promise.all([consumerConn, publisherConn].map((c) => c.close().catch(() => {})));
      }
    }, 60_000);

    it('numbered messages survive the lease ending and coming back in any order of cancels, requeues, dead letters and stalled sockets (fast-check)', async () => {
      const op = fc.oneof(
        fc.record({ kind: fc.constant('publish' as const), count: fc.integer({ min: 1, max: 200 }), paced: fc.boolean(), confirmed: fc.boolean() }),
        fc.record({ kind: fc.constant('resubscribe' as const), count: fc.integer({ min: 0, max: 100 }) }),
        fc.record({ kind: fc.constant('second' as const), count: fc.integer({ min: 1, max: 60 }) }),
        fc.record({ kind: fc.constant('requeue' as const), count: fc.integer({ min: 1, max: 20 }) }),
        fc.record({ kind: fc.constant('deadLetter' as const), count: fc.integer({ min: 1, max: 30 }) }),
        fc.record({ kind: fc.constant('stall' as const), count: fc.integer({ min: 300, max: 500 }) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 6 }), async (ops) => {
          const queue = uniq('lease-prop');
          const dlx = uniq('lease-dlx');
          const consumerConn = await open();
          const publisherConn = await open();
          const helperConn = await open();
          try {
            const admin = await channel(helperConn);
            await admin.assertQueue(queue, { durable: false });
            // a queue whose rejects come back into `queue` as dead letters
            await admin.assertQueue(dlx, { durable: false, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue } });
            const seen: Seen[] = [];
            const cch = await channel(consumerConn);
            let subscription = 0;
            const subscribe = async () => {
              const by = `a${subscription++}`;
              const ok = await cch.consume(queue, (msg) => msg !== null && seen.push({ n: numberOf(msg), redelivered: msg.fields.redelivered, by }), { noAck: true });
              return ok.consumerTag;
            };
            let tag = await subscribe();
            const pub: ConfirmChannel = await publisherConn.createConfirmChannel();
            let next = 0;
            /** numbers that came into `queue` out of publish order: dead letters, and those shared with the acking consumer */
            const unordered = new Set<number>();
            /** requeued messages, and those their channel published after the requeue: those must come after them */
            const requeues: Array<{ requeued: number[]; after: number[] }> = [];
            const publish = async (count: number, paced: boolean, confirmed: boolean, size = 8) => {
              for (let i = 0; i < count; i++) {
                pub.sendToQueue(queue, numbered(next++, size));
                if (paced && i % 10 === 0) await sleep(1);
              }
              if (confirmed) await pub.waitForConfirms();
            };
            for (const o of ops) {
              switch (o.kind) {
                case 'publish':
                  await publish(o.count, o.paced, o.confirmed);
                  break;
                case 'resubscribe': {
                  const publishing = publish(o.count, false, false);
                  await cch.cancel(tag);
                  tag = await subscribe();
                  await publishing;
                  break;
                }
                case 'second': {
                  // an acking consumer that takes a share and gives it back unacked
                  const sch: Channel = await channel(helperConn);
                  await sch.prefetch(5);
                  await sch.consume(queue, (msg) => msg !== null && seen.push({ n: numberOf(msg), redelivered: msg.fields.redelivered, by: 'second' }), { noAck: false });
                  const first = next;
                  await publish(o.count, true, true);
                  await sch.close(); // its unacked go back to the queue, redelivered
                  for (let n = first; n < next; n++) unordered.add(n);
                  break;
                }
                case 'requeue': {
                  // an acking consumer cancels, keeping its unacked; once the queue is leased again,
                  // its channel requeues them and publishes more: the requeued come first (RabbitMQ's order)
                  const sch: Channel = await channel(helperConn);
                  await sch.prefetch(o.count);
                  const held: number[] = [];
                  const { consumerTag } = await sch.consume(queue, (msg) => {
                    if (msg === null) return;
                    held.push(numberOf(msg));
                    seen.push({ n: numberOf(msg), redelivered: msg.fields.redelivered, by: 'second' });
                  }, { noAck: false });
                  const first = next;
                  await publish(2 * o.count, true, true);
                  for (let n = first; n < next; n++) unordered.add(n);
                  await sch.cancel(consumerTag);
                  // the lease comes back once the queue is empty: a stall before may have left megabytes to drain
                  await eventually(() => expect(leasesHeld()).toBe(1), 10_000);
                  sch.nackAll(true);
                  const after: number[] = [];
                  for (let i = 0; i < 5; i++) {
                    after.push(next);
                    sch.sendToQueue(queue, numbered(next++, 8));
                  }
                  requeues.push({ requeued: held, after });
                  await sch.close();
                  break;
                }
                case 'deadLetter': {
                  const rch: Channel = await channel(helperConn);
                  const first = next;
                  for (let i = 0; i < o.count; i++) {
                    unordered.add(next);
                    rch.sendToQueue(dlx, numbered(next++, 8));
                  }
                  let rejected = 0;
                  await rch.consume(dlx, (msg) => {
                    if (msg === null) return;
                    rch.reject(msg, false);
                    rejected++;
                  });
                  await eventually(() => expect(rejected).toBe(next - first), 5000);
                  await rch.close();
                  break;
                }
                case 'stall': {
                  // the consumer's socket stops reading: its output backs up, deliveries pause, the queue fills
                  const stream = (consumerConn as any).connection.stream;
                  stream.pause();
                  await publish(o.count, false, true, 16 * 1024);
                  await sleep(20);
                  stream.resume();
                  break;
                }
              }
            }
            await pub.waitForConfirms();
            // every number, and again (redelivered) each one the acking consumer took and never acked
            const takenBySecond = () => seen.filter((s) => s.by === 'second').map((s) => s.n);
            await eventually(() => {
              expect(new Set(seen.map((s) => s.n)).size).toBe(next);
              const again = new Set(seen.filter((s) => s.by !== 'second' && s.redelivered).map((s) => s.n));
              expect(takenBySecond().filter((n) => !again.has(n))).toEqual([]);
            }, 15_000);
            // every number at least once; again only redelivered (a requeue of the acking consumer's)
            const firsts = new Map<number, Seen>();
            for (const s of seen) {
              if (!firsts.has(s.n)) firsts.set(s.n, s);
              else expect(s.redelivered).toBe(true);
            }
            // each subscription of the no-ack consumer got the rest in publish order, lease or not
            const bySubscription = new Map<string, number[]>();
            for (const s of seen) {
              if (s.redelivered || s.by === 'second' || unordered.has(s.n)) continue;
              const list = bySubscription.get(s.by) ?? [];
              list.push(s.n);
              bySubscription.set(s.by, list);
            }
            for (const list of bySubscription.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
            for (const { requeued, after } of requeues) {
              const lastRequeued = Math.max(...requeued.map((n) => seen.findLastIndex((s) => s.n === n && s.redelivered)));
              const firstAfter = Math.min(...after.map((n) => seen.findIndex((s) => s.n === n)));
              expect(lastRequeued).toBeLessThan(firstAfter);
            }
            expect((await admin.checkQueue(queue)).messageCount).toBe(0);
            expect(seen.length).toBe(next + takenBySecond().length);
          } finally {
            await Promise.all([consumerConn, publisherConn, helperConn].map((c) => c.close().catch(() => {})));
          }
        }),
        { numRuns: 12 },
      );
    }, 120_000);
  });
}

/** The next method frame on channel 1, which must be class.method (`skipOthers`: returns null for another one). */
async function nextMethod(raw: RawClient, classId: number, methodId: number, skipOthers = false): Promise<true | null> {
  for (;;) {
    const f = await raw.readFrame();
    expect(f).not.toBeNull();
    if (f!.type !== FRAME_METHOD) continue;
    if (skipOthers && (f!.classId !== classId || f!.methodId !== methodId)) return null;
    expect([f!.channel, f!.classId, f!.methodId]).toEqual([1, classId, methodId]);
    return true;
  }
}
