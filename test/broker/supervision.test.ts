/**
 * A dead shard fails fast: one log line, awaited requests rejected, every
 * client closed with 541, the listener closed, and 'fatal' for the owner
 * (the CLI exits 1 on it: test/cli.test.ts). The test process is the broker's
 * process, so reaching the end of each test also proves it survived.
 */
import type { ChannelModel } from 'amqplib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { shardOf } from '../../dist/src/shard/placement.js';
import { channel, connect, confirmChannel, eventually, nextEvent, subscribe, uniq, within } from '../helpers.js';

const STOPPED_LINE = (shard: number, reason: RegExp) =>
  new RegExp(`^warren: shard ${shard} stopped \\(${reason.source}\\); closing the broker — its queues' messages are lost$`);

/** A fresh queue name that lives in `shard` of `shards`. */
function nameInShard(shard: number, shards: number): string {
  for (;;) {
    const name = uniq('sup');
    if (shardOf('/', name, shards) === shard) return name;
  }
}

/**
 * A client with a consumer and a publisher on a queue in `shard`, plus a way to
 * see its connection close. The consumer acks (and never does): a no-ack one
 * would hold the queue's lease, and its publishes would never reach the shard.
 */
async function busyClient(broker: RunningBroker, shard: number) {
  const conn = await connect(broker.url);
  const closed = nextEvent<any>(conn, 'close', 5000);
  const queue = nameInShard(shard, broker.broker.links.length);
  const consumer = await channel(conn);
  await consumer.assertQueue(queue);
  const inbox = await subscribe(consumer, queue, { noAck: false });
  const publisher = await confirmChannel(conn);
  publisher.sendToQueue(queue, Buffer.from('m0'));
  await publisher.waitForConfirms();
  await inbox.waitFor(1);
  return { conn, closed, queue, publisher };
}

describe('supervision: a shard that stops takes the broker down cleanly', () => {
  let broker: RunningBroker | undefined;
  const opened: ChannelModel[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(opened.splice(0).map((c) => c.close().catch(() => {})));
    await broker?.close();
    broker = undefined;
  });

  it('threads: a terminated worker fails pending requests, closes every client with 541, and emits fatal', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    broker = await startBroker({ port: 0, host: '127.0.0.1', workers: 2 });
    const fatal = nextEvent<Error>(broker.broker, 'fatal', 5000);
    const shard = 1;
    const link = broker.broker.links[shard];
    const client = await busyClient(broker, shard);
    const bystander = await busyClient(broker, 0);
    opened.push(client.conn, bystander.conn);

    // Hold the shard's replies unread (its records stay in the ring) so that a
    // queue.declare is certainly waiting on the shard when its worker dies.
    (link as any).pump.stop();
    const declaring = (await channel(client.conn)).assertQueue(nameInShard(shard, 2));
    declaring.catch(() => {});
    await eventually(() => expect((link as any).pending.size).toBeGreaterThan(0));
    // Publishes whose CONFIRM records are never read: the dying shard owes them, so they are nacked.
    const nacked = new Set<number>();
    client.publisher.on('nack', (fields: any) => {
      for (let tag = fields.multiple ? 2 : fields.deliveryTag; tag <= fields.deliveryTag; tag++) nacked.add(tag);
    });
    for (let i = 1; i <= 10; i++) client.publisher.sendToQueue(client.queue, Buffer.from(`m${i}`), {}, () => {});
    const owed = () => [...(broker!.broker as any).channels.values()].reduce((n: number, c: any) => n + (c.confirms?.owed[shard].length ?? 0), 0);
    await eventually(() => expect(owed()).toBe(10));

    const started = Date.now();
    await link.worker!.terminate();
    await expect(within(declaring, 2000, 'queue.declare to fail')).rejects.toThrow(/541|closed|no reply will be forthcoming/i);
    for (const { closed } of [client, bystander]) {
      const err = await closed;
      expect(err.code).toBe(541);
      expect(err.message).toContain(`shard ${shard} stopped`);
    }
    expect([...nacked].sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const error = await fatal;
    expect(error.message).toBe(`shard ${shard} stopped (its worker exited with code 1)`);
    expect(await within(broker.failed, 100, 'failed')).toBe(error);
    console.log(`clients closed ${Date.now() - started} ms after the worker was terminated`);

    expect(logged.mock.calls.map((c) => c.join(' '))).toEqual([expect.stringMatching(STOPPED_LINE(shard, /its worker exited with code 1/))]);
    // No longer listening: a new client is refused.
    await expect(connect(broker.url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('inline: an exception thrown inside the shard fails the broker the same way, not the process', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    broker = await startBroker({ port: 0, host: '127.0.0.1', workers: 0 });
    const fatal = nextEvent<Error>(broker.broker, 'fatal', 5000);
    const client = await busyClient(broker, 0);
    opened.push(client.conn);

    (broker.broker.links[0].runner as any).shard.handle = () => {
      throw new Error('deliberate shard fault');
    };
    const declaring = (await channel(client.conn)).assertQueue(uniq('sup-inline'));
    declaring.catch(() => {});
    await expect(within(declaring, 2000, 'queue.declare to fail')).rejects.toThrow(/541|closed|no reply will be forthcoming/i);
    const err = await client.closed;
    expect(err.code).toBe(541);
    expect(err.message).toContain('shard 0 stopped');
    expect((await fatal).message).toBe('shard 0 stopped (it threw Error: deliberate shard fault)');
    expect(logged.mock.calls.map((c) => c.join(' '))).toEqual([
      expect.stringMatching(STOPPED_LINE(0, /it threw Error: deliberate shard fault/)),
    ]);
    await expect(connect(broker.url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('close() after a failure still ends promptly', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    broker = await startBroker({ port: 0, host: '127.0.0.1', workers: 1 });
    const client = await busyClient(broker, 0);
    opened.push(client.conn);
    await broker.broker.links[0].worker!.terminate();
    await broker.failed;
    const started = Date.now();
    await broker.close();
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
