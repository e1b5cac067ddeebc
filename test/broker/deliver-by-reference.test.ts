/**
 * Deliveries by reference (src/shard/block-handoff.ts): the inline shard hands
 * its blocks to the acceptor instead of copying them into DELIVER records.
 * Every body is numbered and checked byte for byte: a record read against
 * another's block (one taken twice, or not at all when its consumer was gone)
 * delivers the wrong bytes from then on.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { channel, confirmChannel, connect, eventually, numberedBody, numberOfBody, sleep, uniq } from '../helpers.js';

const body = (n: number, size: number): Buffer => numberedBody('by-reference', n, size);

/** The number of a body whose every byte is as sent; else a note of what arrived in `wrong` (checked in consumers' callbacks, where a throw would go to amqplib), and -1. */
function checked(content: Buffer, wrong: string[]): number {
  const n = numberOfBody('by-reference', content);
  if (n < 0) wrong.push(`${content.length} bytes beginning ${content.subarray(0, 8).toString('hex')}`);
  return n;
}

/** Sizes from 8 bytes to 24 KiB, spread (a fixed sequence, so a failure repeats). */
const sizeOf = (n: number) => 8 + ((n * 7919) % 24_576);

async function publish(conn: ChannelModel, queue: string, from: number, count: number): Promise<void> {
  const ch = await confirmChannel(conn);
  for (let n = from; n < from + count; n++) ch.sendToQueue(queue, body(n, sizeOf(n)));
  await ch.waitForConfirms();
  await ch.close();
}

describe('deliveries by reference (inline (--workers 0))', () => {
  let running: RunningBroker;
  const conns: ChannelModel[] = [];
  const open = async () => {
    const conn = await connect(running.url);
    conns.push(conn);
    return conn;
  };

  async function withBroker(ringBytes: number, test: () => Promise<void>): Promise<void> {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers: 0, ringBytes });
    try {
      await test();
    } finally {
      await Promise.all(conns.splice(0).map((c) => c.close().catch(() => {})));
      await running.close();
    }
  }

  it('delivers every body intact to a consumer beside others cancelled while their deliveries are on the way', { timeout: 60_000 }, async () => {
    // 64 KiB rings: the handoff holds as much, so some deliveries go by reference and the rest in the ring.
    await withBroker(64 * 1024, async () => {
      const conn = await open();
      const steady = uniq('steady');
      const churn = uniq('churn');
      const ch = await channel(conn);
      await ch.assertQueue(steady);
      await ch.assertQueue(churn);
      const COUNT = 1000;
      await publish(conn, steady, 0, COUNT);
      await publish(conn, churn, COUNT, COUNT);

      // The steady consumer acks each body it checked; all of them, once each, in order.
      const wrong: string[] = [];
      const steadySeen: number[] = [];
      const steadyCh = await channel(await open());
      await steadyCh.prefetch(50);
      await steadyCh.consume(steady, (msg) => {
        steadySeen.push(checked(msg!.content, wrong));
        steadyCh.ack(msg!);
      });

      // Consumers of the other queue come and go: each cancels at its first message,
      // with up to 300 more delivered or on their way; what it got is acked.
      const churnSeen = new Set<number>();
      let cancels = 0;
      const churnCh = await channel(await open());
      await churnCh.prefetch(300);
      // Bounded, so that messages gone elsewhere fail the assertions below rather than the test's timeout.
      const deadline = Date.now() + 20_000;
      while (churnSeen.size < COUNT && Date.now() < deadline) {
        const got: ConsumeMessage[] = [];
        let first!: () => void;
        const firstCame = new Promise<void>((resolve) => (first = resolve));
        const { consumerTag } = await churnCh.consume(churn, (msg) => {
          if (msg === null) return;
          churnSeen.add(checked(msg.content, wrong));
          got.push(msg);
          first();
        });
        await Promise.race([firstCame, sleep(1000)]);
        await churnCh.cancel(consumerTag);
        cancels++;
        for (const msg of got) churnCh.ack(msg);
      }
      await eventually(() => expect(steadySeen.length).toBeGreaterThanOrEqual(COUNT), 10_000).catch(() => {});
      expect(wrong).toEqual([]);
      expect(steadySeen).toEqual(Array.from({ length: COUNT }, (_, n) => n));
      expect([...churnSeen].sort((a, b) => a - b)).toEqual(Array.from({ length: COUNT }, (_, n) => COUNT + n));
      expect(cancels).toBeGreaterThan(1);
      expect(running.broker.links[0].deliveredByReference).toBeGreaterThan(0);
    });
  });

  it('goes on by reference through a backlog larger than the ring', { timeout: 60_000 }, async () => {
    await withBroker(256 * 1024, async () => {
      const conn = await open();
      const q = uniq('backlog');
      const ch = await channel(conn);
      await ch.assertQueue(q);
      const COUNT = 1500; // about 18 MiB
      await publish(conn, q, 0, COUNT);
      const seen: number[] = [];
      const wrong: string[] = [];
      const consumer: Channel = await channel(await open());
      await consumer.consume(q, (msg) => seen.push(checked(msg!.content, wrong)), { noAck: true });
      await eventually(() => expect(seen.length).toBe(COUNT), 30_000);
      expect(wrong).toEqual([]);
      expect(seen).toEqual(Array.from({ length: COUNT }, (_, n) => n));
      expect(running.broker.links[0].deliveredByReference).toBeGreaterThan(COUNT / 2);
    });
  });
});
