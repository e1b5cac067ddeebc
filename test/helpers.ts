/** Test helpers: a real broker on a free port, real amqplib clients over TCP. */
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../dist/src/index.js';

/** Every broker suite runs with the shard inline and with worker threads. */
export const MODES = [
  { name: 'inline (--workers 0)', workers: 0 },
  { name: 'threads (--workers 2)', workers: 2 },
] as const;

export async function start(workers: number): Promise<RunningBroker> {
  return startBroker({ port: 0, host: '127.0.0.1', workers });
}

export async function connect(url: string): Promise<ChannelModel> {
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  return conn;
}

/** A channel whose server-side close becomes a rejected promise, not an uncaught error. */
export async function channel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  return ch;
}

/** Resolves with the first `count` messages a consumer gets. */
export function collect(ch: Channel, queue: string, count: number, options: { noAck?: boolean } = { noAck: true }): Promise<ConsumeMessage[]> {
  return new Promise((resolve) => {
    const got: ConsumeMessage[] = [];
    void ch.consume(
      queue,
      (msg) => {
        if (msg === null) return;
        got.push(msg);
        if (got.length === count) resolve(got);
      },
      options,
    );
  });
}

/** The close the server sent a channel, as { code, message }. */
export function closed(ch: Channel): Promise<{ code: number; message: string }> {
  return new Promise((resolve) => ch.once('error', (err: any) => resolve({ code: err.code, message: err.message })));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
