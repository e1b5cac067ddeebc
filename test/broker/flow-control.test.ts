/**
 * Publisher flow control: a queue nobody consumes fills up freely (as in RabbitMQ),
 * while publishers into a queue whose consumers fall behind are paused until they
 * catch up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, channel, connect, sleep, start, uniq } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';

const MESSAGES = 25_000; // past the shard's threshold of 10,000 ready messages

describe.each(MODES)('flow control, $name', ({ workers }) => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start(workers);
  });
  afterAll(() => broker.close());

  async function publishAll(ch: Awaited<ReturnType<Awaited<ReturnType<typeof connect>>['createConfirmChannel']>>, queue: string) {
    for (let i = 0; i < MESSAGES; i++) {
      if (!ch.sendToQueue(queue, Buffer.from('x'))) await new Promise((r) => ch.once('drain', r));
    }
    await ch.waitForConfirms();
  }

  it('does not slow publishers into a queue without consumers', async () => {
    const conn = await connect(broker.url);
    const ch = await conn.createConfirmChannel();
    const queue = uniq('flow-unread');
    await ch.assertQueue(queue);
    await publishAll(ch, queue);
    expect((await ch.checkQueue(queue)).messageCount).toBe(MESSAGES);
    await ch.deleteQueue(queue);
    await conn.close();
  });

  it('pauses publishers while a consumer lags, and resumes them when it goes', async () => {
    const setup = await connect(broker.url);
    const queue = uniq('flow-lagging');
    await (await channel(setup)).assertQueue(queue);
    // A consumer that takes one message and never acks: everything else waits for it.
    const slow = await connect(broker.url);
    const slowCh = await channel(slow);
    await slowCh.prefetch(1);
    const { consumerTag } = await slowCh.consume(queue, () => {}, { noAck: false });

    // Heartbeats every second: a paused socket's heartbeats go unread, and must not get it dropped.
    const publisher = await connect(`${broker.url}?heartbeat=1`);
    const ch = await publisher.createConfirmChannel();
    let done = false;
    const publishing = publishAll(ch, queue).then(() => (done = true));
    await sleep(3500);
    expect(done, 'publisher finished although its consumer lags').toBe(false);

    await slowCh.cancel(consumerTag); // nobody reads the queue now: no reason to hold back
    await publishing;
    expect(done).toBe(true);
    const check = await channel(setup);
    expect((await check.checkQueue(queue)).messageCount).toBeGreaterThanOrEqual(MESSAGES - 1);
    await check.deleteQueue(queue);
    for (const c of [publisher, slow, setup]) await c.close();
  });
});
