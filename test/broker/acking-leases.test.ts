/**
 * Leases for consumers that ack (src/acceptor/direct-leases.ts): while a queue
 * is empty and its only consumer has room under its prefetch, the acceptor
 * delivers the queue's publishes itself, and the shard keeps each one as
 * unacked under the id the lease gave it. With every message numbered: each is
 * delivered and acked once, prefetch is never exceeded, and a message comes
 * back (redelivered, before later publishes) after nacks, recovers, closes,
 * cancels and a restart, whichever way it was delivered (fast-check).
 */
import fc from 'fast-check';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, confirmChannel, connect, eventually, sleep, tempDirs, uniq } from '../helpers.js';
import { enc, managedBroker } from '../management/support.js';

const numbered = (n: number) => Buffer.from(`n ${n}`);
const numberOf = (msg: ConsumeMessage) => Number(/^n (\d+)$/.exec(msg.content.toString())![1]);
const newDataDir = tempDirs('warren-acking-leases-');

/** Subscribes on `ch`, acking each message as it comes; returns what came, in order. */
async function consumeAcking(ch: Channel, queue: string): Promise<ConsumeMessage[]> {
  const got: ConsumeMessage[] = [];
  await ch.consume(queue, (msg) => {
    if (msg === null) return;
    got.push(msg);
    ch.ack(msg);
  });
  return got;
}

for (const mode of MODES) {
  describe(`leases for consumers that ack (${mode.name})`, () => {
    const m = managedBroker(mode.workers);
    const leasesHeld = () => m.broker.broker.links.reduce((sum, link) => sum + link.leases.size, 0);
    const leaseDeliveries = () => m.broker.broker.links.reduce((sum, link) => sum + link.leases.deliveries, 0);
    const conns: ChannelModel[] = [];
    const open = async (): Promise<ChannelModel> => {
      const conn = await connect(m.broker.url);
      conns.push(conn);
      return conn;
    };
    afterEach(async () => {
      await Promise.all(conns.splice(0).map((c) => c.close().catch(() => {})));
    });
    /** A new queue whose one consumer acks each message, with `prefetch`, once the queue is leased. */
    const leasedQueue = async (prefix: string, prefetch: number, durable: boolean) => {
      const conn = await open();
      const ch = await channel(conn);
      const queue = uniq(prefix);
      await ch.assertQueue(queue, { durable });
      await ch.prefetch(prefetch);
      const got = await consumeAcking(ch, queue);
      await eventually(() => expect(leasesHeld()).toBe(1));
      return { conn, queue, got };
    };

    it('3,000 numbered messages to a queue whose only consumer acks arrive once, in order, mostly through the lease; message_stats count them', async () => {
      const { conn, queue, got } = await leasedQueue('acking-lease', 50, true);
      const pub = await confirmChannel(conn);
      const before = leaseDeliveries();
      const N = 3000;
      for (let n = 0; n < N; n++) {
        pub.sendToQueue(queue, numbered(n), { persistent: n % 2 === 0 });
        // in bursts of 20: each fits the consumer's room, so the lease serves it
        if (n % 20 === 19) await pub.waitForConfirms();
      }
      await pub.waitForConfirms();
      await eventually(() => expect(got.length).toBe(N), 10_000);
      expect(got.map(numberOf)).toEqual(Array.from({ length: N }, (_, n) => n));
      expect(got.every((msg) => !msg.fields.redelivered)).toBe(true);
      expect(leaseDeliveries() - before).toBeGreaterThan(N / 2);
      const q = await eventually(async () => {
        const body = (await m.api('GET', `/api/queues/%2F/${enc(queue)}`)).body;
        expect(body.message_stats).toMatchObject({ publish: N, deliver: N, ack: N, redeliver: 0 });
        expect([body.messages, body.messages_unacknowledged]).toEqual([0, 0]);
        return body;
      }, 5000);
      expect(q.message_stats.deliver_no_ack ?? 0).toBe(0);
    });

    it('a leased consumer holds exactly its prefetch; its close requeues them, redelivered, before what was published after', async () => {
      const consumerConn = await open();
      const a = await channel(consumerConn);
      const queue = uniq('acking-prefetch');
      await a.assertQueue(queue, { durable: false });
      await a.prefetch(10);
      const held: ConsumeMessage[] = [];
      await a.consume(queue, (msg) => msg !== null && held.push(msg));
      await eventually(() => expect(leasesHeld()).toBe(1));
      const before = leaseDeliveries();
      const pub = await channel(await open());
      for (let n = 0; n < 25; n++) pub.sendToQueue(queue, numbered(n));
      await eventually(async () => expect((await pub.checkQueue(queue)).messageCount).toBe(15));
      await sleep(100);
      expect(held.map(numberOf)).toEqual([...Array(10).keys()]);
      // the lease gave exactly the room its prefetch left, then ended
      expect(leaseDeliveries() - before).toBe(10);
      expect(leasesHeld()).toBe(0);
      await a.close();
      const got = await consumeAcking(await channel(consumerConn), queue);
      await eventually(() => expect(got.length).toBe(25));
      expect(got.map((msg) => [numberOf(msg), msg.fields.redelivered])).toEqual([...Array(25).keys()].map((n) => [n, n < 10]));
      // empty again with a consumer that has room: leased again, and the next one goes through it
      await eventually(() => expect(leasesHeld()).toBe(1));
      pub.sendToQueue(queue, numbered(25));
      await eventually(() => expect(got.length).toBe(26));
      expect(numberOf(got[25])).toBe(25);
      await eventually(async () => expect((await pub.checkQueue(queue)).messageCount).toBe(0));
    });

    it("a leased consumer's acks give its lease room back, and reach the shard without waking it", async () => {
      const { queue, got } = await leasedQueue('acking-room', 10, false);
      const record = m.broker.broker.vhosts.get('/')!.topology.queues.get(queue)!;
      const link = m.broker.broker.links[record.shard];
      const [deliveriesBefore, ringsBefore] = [leaseDeliveries(), link.writer.rings];
      const pub = await channel(await open());
      const N = 200;
      for (let n = 0; n < N; n += 5) {
        for (let i = n; i < n + 5; i++) pub.sendToQueue(queue, numbered(i));
        await eventually(() => expect(got.length).toBe(n + 5));
      }
      expect(got.map(numberOf)).toEqual([...Array(N).keys()]);
      // 20 times its prefetch, all through the one lease: each ack made room for the next
      expect(leaseDeliveries() - deliveriesBefore).toBe(N);
      expect(link.leases.holds(record.id)).toBe(true);
      // neither the publishes nor the acks rang the shard's bell (a few other records may)
      expect(link.writer.rings - ringsBefore).toBeLessThan(N / 10);
      // what the shard had not woken for, it took before answering the stats request
      await eventually(async () => {
        const body = (await m.api('GET', `/api/queues/%2F/${enc(queue)}`)).body;
        expect(body.message_stats).toMatchObject({ publish: N, deliver: N, ack: N });
        expect([body.messages, body.messages_unacknowledged]).toEqual([0, 0]);
      }, 5000);
    });

    it('numbered messages are each acked once, never past prefetch, through any order of nacks, recovers, cancels, closes and prefetch changes (fast-check)', async () => {
      const op = fc.oneof(
        fc.record({ kind: fc.constant('publish' as const), count: fc.integer({ min: 1, max: 150 }), paced: fc.boolean(), persistent: fc.boolean() }),
        fc.record({ kind: fc.constant('mode' as const), autoAck: fc.boolean() }),
        fc.record({ kind: fc.constant('ackHeld' as const), multiple: fc.boolean() }),
        fc.record({ kind: fc.constant('nackHeld' as const) }),
        fc.record({ kind: fc.constant('recover' as const) }),
        fc.record({ kind: fc.constant('resubscribe' as const), prefetch: fc.integer({ min: 0, max: 30 }) }),
        fc.record({ kind: fc.constant('reopen' as const), prefetch: fc.integer({ min: 0, max: 30 }) }),
        fc.record({ kind: fc.constant('channelPrefetch' as const), count: fc.integer({ min: 0, max: 20 }) }),
        fc.record({ kind: fc.constant('second' as const), count: fc.integer({ min: 1, max: 60 }) }),
      );
      let leased = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
          const before = leaseDeliveries();
          const queue = uniq('acking-lease-prop');
          const [consumerConn, publisherConn, helperConn] = await Promise.all([open(), open(), open()]);
          try {
            const admin = await channel(helperConn);
            await admin.assertQueue(queue, { durable: true });
            const pub = await confirmChannel(publisherConn);
            let next = 0;
            /** per number: deliveries (redelivered flags) and acks */
            const deliveries = new Map<number, boolean[]>();
            const acked = new Map<number, number>();
            const violations: string[] = [];
            /** first-time deliveries to the main consumer, in arrival order */
            const firsts: number[] = [];
            let autoAck = true;
            /** a close is on its way: deliveries that come before its answer are the broker's to take back */
            let settling = false;
            // the main consumer's channel: its unacked messages, and what bounds them
            let ch!: Channel;
            let tag = '';
            let prefetch = 0;
            let channelPrefetch = 0;
            let held: Array<{ msg: ConsumeMessage; tag: string }> = [];
            const ack = (n: number) => acked.set(n, (acked.get(n) ?? 0) + 1);
            const record = (msg: ConsumeMessage, first: number[] | null) => {
              const n = numberOf(msg);
              const seen = deliveries.get(n) ?? [];
              if (seen.length > 0 && !msg.fields.redelivered) violations.push(`${n} again, not redelivered`);
              if (acked.has(n)) violations.push(`${n} delivered after its ack`);
              seen.push(msg.fields.redelivered);
              deliveries.set(n, seen);
              if (first !== null && !msg.fields.redelivered) first.push(n);
            };
            const subscribe = async () => {
              const ok = await ch.consume(queue, (msg) => {
                if (msg === null) return;
                record(msg, firsts);
                if (settling) return;
                const consumerTag = msg.fields.consumerTag;
                if (autoAck) {
                  ch.ack(msg);
                  ack(numberOf(msg));
                  return;
                }
                held.push({ msg, tag: consumerTag });
                const mine = held.filter((h) => h.tag === consumerTag).length;
                if (prefetch > 0 && mine > prefetch) violations.push(`consumer holds ${mine}, prefetch ${prefetch}`);
                if (channelPrefetch > 0 && held.length > channelPrefetch) violations.push(`channel holds ${held.length}, global prefetch ${channelPrefetch}`);
              });
              tag = ok.consumerTag;
            };
            const openConsumer = async (count: number) => {
              ch = await channel(consumerConn);
              held = [];
              settling = false;
              channelPrefetch = 0;
              prefetch = count;
              await ch.prefetch(count);
              await subscribe();
            };
            const ackHeld = (multiple: boolean) => {
              if (held.length === 0) return;
              // (not ackAll: that would also ack deliveries still on their way here)
              if (multiple) ch.ack(held[held.length - 1].msg, true);
              else for (const h of held) ch.ack(h.msg);
              for (const h of held) ack(numberOf(h.msg));
              held = [];
            };
            const publish = async (count: number, paced: boolean, persistent: boolean) => {
              for (let i = 0; i < count; i++) {
                pub.sendToQueue(queue, numbered(next++), { persistent });
                if (paced && i % 10 === 9) await pub.waitForConfirms();
              }
            };
            await openConsumer(0);
            for (const o of ops) {
              switch (o.kind) {
                case 'publish':
                  await publish(o.count, o.paced, o.persistent);
                  break;
                case 'mode':
                  autoAck = o.autoAck;
                  break;
                case 'ackHeld':
                  ackHeld(o.multiple);
                  break;
                case 'nackHeld':
                  for (const h of held) ch.nack(h.msg, false, true);
                  held = [];
                  break;
                case 'recover':
                  // Without a consumer while it runs: every delivery before cancel-ok is
                  // held or acked, and none can arrive in the same read as recover-ok
                  // (amqplib would hand those over before the await below returns).
                  await ch.cancel(tag);
                  held = [];
                  await ch.recover();
                  await subscribe();
                  break;
                case 'resubscribe':
                  // unacked deliveries stay on the channel, still to be acked
                  await ch.cancel(tag);
                  prefetch = o.prefetch;
                  await ch.prefetch(o.prefetch);
                  await subscribe();
                  break;
                case 'reopen':
                  settling = true;
                  await ch.close(); // requeues what it held
                  await openConsumer(o.prefetch);
                  break;
                case 'channelPrefetch':
                  // What comes before qos-ok was delivered under the old limit, what follows it under
                  // the new; amqplib hands over deliveries that share qos-ok's read before this await
                  // returns, so until then either limit may hold: the looser (0 is none).
                  channelPrefetch = channelPrefetch === 0 || o.count === 0 ? 0 : Math.max(channelPrefetch, o.count);
                  await ch.prefetch(o.count, true);
                  channelPrefetch = o.count;
                  break;
                case 'second': {
                  // another consumer that acks: the lease ends while it is there
                  const sch = await channel(helperConn);
                  await sch.prefetch(5);
                  await sch.consume(queue, (msg) => {
                    if (msg === null) return;
                    record(msg, null);
                    sch.ack(msg);
                    ack(numberOf(msg));
                  });
                  await publish(o.count, true, false);
                  await pub.waitForConfirms();
                  await sch.close();
                  break;
                }
              }
            }
            await pub.waitForConfirms();
            // take everything from here on: what is held is acked, what was requeued comes back
            autoAck = true;
            ackHeld(false);
            await eventually(() => expect(acked.size).toBe(next), 15_000);
            await sleep(50);
            expect(violations).toEqual([]);
            expect([...acked.values()].every((times) => times === 1)).toBe(true);
            expect(firsts).toEqual([...firsts].sort((x, y) => x - y));
            expect((await admin.checkQueue(queue)).messageCount).toBe(0);
            const stats = await eventually(async () => {
              const body = (await m.api('GET', `/api/queues/%2F/${enc(queue)}`)).body;
              expect(body.message_stats?.ack ?? 0).toBe(next);
              return body;
            }, 5000);
            expect([stats.messages, stats.messages_unacknowledged]).toEqual([0, 0]);
            leased += leaseDeliveries() - before;
          } finally {
            await Promise.all([consumerConn, publisherConn, helperConn].map((c) => c.close().catch(() => {})));
            conns.length = 0;
          }
        }),
        { numRuns: 30 },
      );
      // the runs went through leases, not around them
      expect(leased).toBeGreaterThan(0);
    }, 180_000);
  });

  describe(`leases for consumers that ack, across a restart (${mode.name})`, () => {
    let broker: RunningBroker | null = null;
    afterEach(async () => {
      await broker?.close();
      broker = null;
    });

    it('persistent messages delivered under a lease and not acked come back after a restart, redelivered; acked ones do not', async () => {
      const dataDir = newDataDir();
      broker = await startBroker({ port: 0, host: '127.0.0.1', workers: mode.workers, dataDir });
      const queue = uniq('acking-lease-durable');
      let conn = await connect(broker.url);
      const ch = await channel(conn);
      await ch.assertQueue(queue, { durable: true });
      const got: ConsumeMessage[] = [];
      await ch.consume(queue, (msg) => msg !== null && got.push(msg));
      const leases = broker.broker.links.map((link) => link.leases);
      await eventually(() => expect(leases.reduce((sum, l) => sum + l.size, 0)).toBe(1));
      const pub = await confirmChannel(conn);
      for (let n = 1; n <= 100; n++) pub.sendToQueue(queue, numbered(n), { persistent: true });
      await pub.waitForConfirms();
      await eventually(() => expect(got.length).toBe(100));
      expect(leases.reduce((sum, l) => sum + l.deliveries, 0)).toBe(100);
      for (const msg of got.slice(0, 40)) ch.ack(msg);
      await ch.checkQueue(queue); // a round trip through the shard, after the acks
      await conn.close();
      await broker.close();
      broker = await startBroker({ port: 0, host: '127.0.0.1', workers: mode.workers, dataDir });
      conn = await connect(broker.url);
      const again = await channel(conn);
      const back: ConsumeMessage[] = [];
      await again.consume(queue, (msg) => msg !== null && back.push(msg), { noAck: true });
      await eventually(() => expect(back.length).toBe(60));
      await sleep(100);
      expect(back.map((msg) => [numberOf(msg), msg.fields.redelivered])).toEqual(Array.from({ length: 60 }, (_, i) => [41 + i, true]));
      await conn.close();
    });
  });
}
