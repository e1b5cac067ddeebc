/**
 * amq.rabbitmq.log gets the lines a shard logs, also when the shard runs in a
 * worker thread (the worker posts its lines to the acceptor's log sinks). The
 * line: a durable queue longer than its in-memory window whose segment files
 * are cut away under it logs, in its shard, that the paged-out messages could
 * not be read back.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { join } from 'node:path';
import type { ConsumeMessage } from 'amqplib';
import { startBroker } from '../../dist/src/index.js';
import { queueDir } from '../../dist/src/store/queue-dir.js';
import { PAGE_WINDOW_MESSAGES } from '../../dist/src/shard/paged-backlog.js';
import { MODES, channel, connect, eventually, sleep, uniq, tempDirs } from '../helpers.js';

const tempDir = tempDirs('warren-shard-log-');

/** Past the window: the rest stay in their segment files. */
const COUNT = PAGE_WINDOW_MESSAGES + 2000;

describe.each(MODES)('amq.rabbitmq.log gets shard log lines ($name)', ({ workers }) => {
  it("a shard's error line reaches a queue bound to the log exchange with key 'error'", async () => {
    const dataDir = tempDir();
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    const conn = await connect(broker.url);
    try {
      const logCh = await channel(conn);
      const { queue: logQueue } = await logCh.assertQueue('', { exclusive: true });
      await logCh.bindQueue(logQueue, 'amq.rabbitmq.log', 'error');
      const lines: ConsumeMessage[] = [];
      await logCh.consume(logQueue, (msg) => msg !== null && lines.push(msg), { noAck: true });

      const queue = uniq('cut');
      const pub = await conn.createConfirmChannel();
      await pub.assertQueue(queue, { durable: true });
      for (let i = 0; i < COUNT; i++) pub.sendToQueue(queue, Buffer.from(`p ${i}`), { persistent: true });
      await pub.waitForConfirms();
      // The paged-out messages' segments are cut to nothing under the shard.
      const dir = queueDir(dataDir, '/', queue);
      for (const f of fs.readdirSync(dir).filter((name) => name.endsWith('.seg'))) fs.truncateSync(join(dir, f), 0);

      // Draining the window makes the shard read back the rest, which fails and is logged.
      const ch = await channel(conn);
      const got: number[] = [];
      await ch.consume(queue, (msg) => msg !== null && got.push(Number(msg.content.toString().split(' ')[1])), { noAck: true });
      const deadline = Date.now() + 10_000;
      const wanted = () => lines.find((m) => m.content.toString().includes('could not be read back'));
      while (wanted() === undefined && Date.now() < deadline) await sleep(20);
      const line = wanted();
      expect(line, `log lines: ${lines.map((m) => m.content.toString()).join(' | ')}`).toBeDefined();
      expect(line!.fields.routingKey).toBe('error');
      expect(line!.content.toString()).toContain(`queue '${queue}'`);
      // The window's messages came, each once, in order; the cut ones did not. (The
      // line can beat the window's last deliveries to the client: wait for them.)
      await eventually(() => expect(got.length).toBeGreaterThanOrEqual(PAGE_WINDOW_MESSAGES - 1), 10_000);
      expect(got.length).toBeLessThan(COUNT);
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i));
    } finally {
      await conn.close();
      await broker.close();
    }
  });
});
