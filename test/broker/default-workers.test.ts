import os from 'node:os';
import { describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { startBroker } from '../../dist/src/index.js';
import { defaultWorkers } from '../../dist/src/broker.js';

describe('shard workers when not told', () => {
  it('none on two cores or fewer, one per core beside the acceptor above', () => {
    expect([1, 2, 3, 4, 16].map((cores) => defaultWorkers(cores))).toEqual([0, 0, 2, 3, 15]);
  });

  it("a broker started without `workers` runs this machine's default, and serves", async () => {
    const running = await startBroker({ port: 0, host: '127.0.0.1' });
    try {
      const workers = defaultWorkers(os.availableParallelism());
      expect(running.broker.options.workers).toBe(workers);
      expect(running.broker.links.length).toBe(Math.max(1, workers));
      const conn = await amqp.connect(running.url);
      const ch = await conn.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      for (let i = 0; i < 100; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
      const got: number[] = [];
      await new Promise<void>((resolve) => {
        void ch.consume(queue, (msg) => {
          got.push(Number(msg!.content.toString()));
          ch.ack(msg!);
          if (got.length === 100) resolve();
        });
      });
      expect(got).toEqual([...Array(100).keys()]);
      await conn.close();
    } finally {
      await running.close();
    }
  });
});
