// Declares a scenario's exchanges, queues and bindings before a run and deletes
// them after, over one amqplib connection (setup speed is not measured).
import amqp from 'amqplib';
import type { Topology } from './scenarios.js';

export async function declareTopology(url: string, t: Topology): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    for (const e of t.exchanges) await ch.assertExchange(e.name, e.type, { durable: e.durable, autoDelete: false });
    for (const q of t.queues) await ch.assertQueue(q.name, { durable: q.durable, autoDelete: false, arguments: q.arguments });
    // Bindings are pipelined: 1,000 sequential round trips would dominate setup time.
    await Promise.all(t.bindings.map((b) => ch.bindQueue(b.queue, b.exchange, b.key)));
    await ch.close();
  } finally {
    await conn.close().catch(() => undefined);
  }
}

export async function deleteTopology(url: string, t: Topology): Promise<void> {
  const conn = await amqp.connect(url);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await Promise.all(t.queues.map((q) => ch.deleteQueue(q.name)));
    await Promise.all(t.exchanges.map((e) => ch.deleteExchange(e.name)));
    await ch.close();
  } catch {
    /* best effort: the next run uses fresh names anyway */
  } finally {
    await conn.close().catch(() => undefined);
  }
}
