/**
 * Publisher flow control, per queue: a queue nobody consumes fills up freely (as in
 * RabbitMQ), and so does one whose consumers take nothing (they may be waiting for
 * the publisher), while publishers into a queue whose consumers take messages but
 * fall behind are paused until they catch up. Other queues, on the same shard too,
 * are not slowed, and only a consumer of the congested queue itself is exempt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, channel, connect, eventually, sleep, start, tempDirs, uniq } from '../helpers.js';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { shardOf } from '../../dist/src/shard/placement.js';
import type { ConsumeMessage } from 'amqplib';
import { RawClient, frame, method, shortstr, u16, u32, u8 } from '../wire/raw-client.js';

const MESSAGES = 25_000; // past the shard's threshold of 10,000 ready messages
const newDataDir = tempDirs('warren-flow-control-');

describe.each(MODES)('flow control, $name', ({ workers }) => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start(workers);
  });
  afterAll(() => broker.close());

  type ConfirmChannel = Awaited<ReturnType<Awaited<ReturnType<typeof connect>>['createConfirmChannel']>>;

  /** Publishes `count` numbered messages; `progress.confirmed` counts the confirms as they come. */
  async function publishAll(ch: ConfirmChannel, queue: string, count = MESSAGES, progress = { confirmed: 0 }, persistent = false) {
    for (let i = 0; i < count; i++) {
      const ok = ch.sendToQueue(queue, Buffer.from(String(i)), { persistent }, (err) => {
        if (err === null || err === undefined) progress.confirmed++;
      });
      if (!ok) await new Promise((r) => ch.once('drain', r));
    }
    await ch.waitForConfirms();
  }

  /** A queue name on the same shard as `queue` (with one shard, any name). */
  function neighbourOf(queue: string): string {
    const shards = broker.broker.links.length;
    for (;;) {
      const name = uniq('flow-neighbour');
      if (shardOf('/', name, shards) === shardOf('/', queue, shards)) return name;
    }
  }

  /**
   * A consumer that falls behind but keeps taking messages (prefetch 1, each
   * acked 50 ms after it came, well inside the shard's STALL_MS): its queue
   * stays congested. `taken` counts its acks; stop() cancels it, leaving one unacked at most.
   */
  async function slowConsumer(queue: string) {
    const conn = await connect(broker.url);
    const ch = await channel(conn);
    await ch.prefetch(1);
    const slow = { conn, ch, taken: 0, stopped: false, stop: async () => {} };
    const { consumerTag } = await ch.consume(queue, (msg) => {
      setTimeout(() => {
        if (slow.stopped || msg === null) return;
        ch.ack(msg);
        slow.taken++;
      }, 50);
    }, { noAck: false });
    slow.stop = async () => {
      slow.stopped = true;
      await ch.cancel(consumerTag);
    };
    return slow;
  }

  it('stops delivering to a consumer that does not read its socket, and delivers everything, once, when it reads again', { timeout: 60_000 }, async () => {
    // 7,000 x 8 KiB: under the queue's own congestion (10,000 messages, 64 MiB), so the publisher is never paused.
    const count = 7000;
    const queue = uniq('flow-unread-socket');
    const publisher = await connect(broker.url);
    const pubCh = await publisher.createConfirmChannel();
    await pubCh.assertQueue(queue);
    // A raw client reads in flowing mode, so pausing its socket stops the reads (amqplib's does not).
    const reader = await RawClient.open(broker.port);
    await reader.handshake();
    reader.send(method(1, 20, 10, shortstr('')));
    expect((await reader.readFrame())!.methodId).toBe(11); // channel.open-ok
    reader.send(method(1, 60, 20, u16(0), shortstr(queue), shortstr('unread'), u8(2), u32(0))); // basic.consume, no-ack
    expect((await reader.readFrame())!.methodId).toBe(21); // consume-ok
    reader.socket.pause();

    for (let i = 0; i < count; i++) {
      if (!pubCh.sendToQueue(queue, Buffer.concat([Buffer.from(`${i}.`), Buffer.alloc(8 * 1024)]))) await new Promise((r) => pubCh.once('drain', r));
    }
    await pubCh.waitForConfirms();
    await sleep(500);
    // Without the pause the broker would have written all 56 MiB into its output for
    // this socket; with it, the rest waits in the queue (a credit window, the kernel's
    // socket buffers and 256 KiB of output at most are out).
    const { messageCount } = await pubCh.checkQueue(queue);
    expect(messageCount, 'the broker went on delivering to a consumer that does not read').toBeGreaterThan(count / 4);

    reader.socket.resume();
    const seen = new Map<number, number>();
    let bodies = 0;
    while (bodies < count) {
      const f = (await reader.readFrame())!;
      // a body's first frame (frame-max 4096) starts with its number, the rest of it is zeros
      if (f.type !== 3 || f.payload[0] === 0) continue;
      const i = Number(f.payload.toString('latin1', 0, 12).split('.')[0]);
      seen.set(i, (seen.get(i) ?? 0) + 1);
      bodies++;
    }
    expect(seen.size).toBe(count);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect((await pubCh.checkQueue(queue)).messageCount).toBe(0);
    reader.socket.destroy();
    await pubCh.deleteQueue(queue);
    await publisher.close();
  });

  it('takes every publish of a publisher far faster than the shard, many times past its publish window, into a queue that stays short', { timeout: 60_000 }, async () => {
    // x-max-length 1 keeps the shard's memory flat, so nothing but the window's own wake-up
    // resumes a publisher paused on it: 300,000 publishes pass PUBLISH_WINDOW (65,536) often.
    const count = 300_000;
    const queue = uniq('window');
    const setup = await connect(broker.url);
    const setupCh = await channel(setup);
    await setupCh.assertQueue(queue, { arguments: { 'x-max-length': 1 } });
    const raw = await RawClient.open(broker.port);
    await raw.handshake();
    raw.send(method(1, 20, 10, shortstr('')));
    expect((await raw.readFrame())!.methodId).toBe(11); // channel.open-ok
    const frames: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const body = Buffer.from(String(i));
      frames.push(
        method(1, 60, 40, u16(0), shortstr(''), shortstr(queue), u8(0)),
        frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(body.length), u16(0)])),
        frame(3, 1, body),
      );
    }
    raw.send(Buffer.concat(frames));
    raw.send(method(1, 20, 40, u16(200), shortstr(''), u16(0), u16(0))); // channel.close after the last publish
    const closeOk = await raw.readFrame(30_000);
    expect([closeOk?.classId, closeOk?.methodId], 'channel.close-ok after every publish was taken').toEqual([20, 41]);
    // The shard trims to the limit at the end of its batch: wait for that, then the one left is the last.
    await eventually(async () => expect((await setupCh.checkQueue(queue)).messageCount).toBe(1));
    const last = await setupCh.get(queue, { noAck: true });
    expect(last && last.content.toString()).toBe(String(count - 1));
    raw.socket.destroy();
    await setupCh.deleteQueue(queue);
    await setup.close();
  });

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
    // A consumer that takes a message every 50 ms: everything else waits for it.
    const slow = await slowConsumer(queue);

    // Heartbeats every second: a paused socket's heartbeats go unread, and must not get it dropped.
    const publisher = await connect(`${broker.url}?heartbeat=1`);
    const ch = await publisher.createConfirmChannel();
    let done = false;
    const publishing = publishAll(ch, queue).then(() => (done = true));
    await sleep(3500);
    expect(done, 'publisher finished although its consumer lags').toBe(false);

    expect(slow.taken, 'the consumer kept taking messages meanwhile').toBeGreaterThan(10);

    await slow.stop(); // nobody reads the queue now: no reason to hold back
    await publishing;
    expect(done).toBe(true);
    const check = await channel(setup);
    // All there but what the consumer acked and the one it may still hold.
    expect((await check.checkQueue(queue)).messageCount).toBeGreaterThanOrEqual(MESSAGES - slow.taken - 1);
    await check.deleteQueue(queue);
    for (const c of [publisher, slow.conn, setup]) await c.close();
  });

  it('does not slow confirms into another queue of the same shard while one queue is congested', async () => {
    const setup = await connect(broker.url);
    const setupCh = await channel(setup);
    const congested = uniq('flow-congested');
    const neighbour = neighbourOf(congested);
    await setupCh.assertQueue(congested);
    await setupCh.assertQueue(neighbour);
    const slow = await slowConsumer(congested);

    const flooder = await connect(broker.url);
    const floodCh = await flooder.createConfirmChannel();
    const flood = { confirmed: 0 };
    const flooding = publishAll(floodCh, congested, MESSAGES, flood);
    // Wait until the flood has congested the queue (its publisher gets paused).
    for (let last = -1; flood.confirmed !== last; ) {
      last = flood.confirmed;
      await sleep(500);
    }
    expect(flood.confirmed, 'the publisher into the congested queue was not paused').toBeLessThan(MESSAGES);

    const other = await connect(broker.url);
    const otherCh = await other.createConfirmChannel();
    const started = performance.now();
    const neighbourConfirms = { confirmed: 0 };
    await publishAll(otherCh, neighbour, 1000, neighbourConfirms);
    const ms = performance.now() - started;
    console.log(`flow control (${workers} workers): 1,000 confirms into a neighbour of a congested queue in ${ms.toFixed(0)} ms; ${flood.confirmed} of ${MESSAGES} flood confirms while paused`);
    expect(neighbourConfirms.confirmed).toBe(1000);
    expect(ms).toBeLessThan(2000);
    const pausedAt = flood.confirmed;
    await sleep(300);
    expect(flood.confirmed, 'the flood kept going while its queue was congested').toBe(pausedAt);

    // Every neighbour message arrived once, in order.
    const got: string[] = [];
    for (let msg = await setupCh.get(neighbour, { noAck: true }); msg !== false; msg = await setupCh.get(neighbour, { noAck: true })) got.push(msg.content.toString());
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));

    await slow.stop(); // nobody reads the queue now: the flood may go on
    await flooding;
    expect(flood.confirmed).toBe(MESSAGES);
    await setupCh.deleteQueue(congested);
    await setupCh.deleteQueue(neighbour);
    for (const c of [flooder, other, slow.conn, setup]) await c.close();
  });

  it('pauses a publisher that consumes from another queue, but not a consumer of the congested queue', async () => {
    const setup = await connect(broker.url);
    const setupCh = await channel(setup);
    const congested = uniq('flow-congested');
    const elsewhere = uniq('flow-elsewhere');
    await setupCh.assertQueue(congested);
    await setupCh.assertQueue(elsewhere);
    const slow = await slowConsumer(congested);

    // Consuming elsewhere is no exemption: this publisher is held back.
    const consumerElsewhere = await connect(broker.url);
    await (await channel(consumerElsewhere)).consume(elsewhere, () => {}, { noAck: true });
    const heldCh = await consumerElsewhere.createConfirmChannel();
    const held = { confirmed: 0 };
    let heldDone = false;
    const holding = publishAll(heldCh, congested, MESSAGES, held).then(() => (heldDone = true));
    await sleep(3000);
    expect(heldDone, 'a connection that consumes elsewhere was not paused').toBe(false);

    // The slow consumer's own connection publishes into the queue it consumes: its acks drain it, so it goes on.
    const ownCh = await slow.conn.createConfirmChannel();
    const own = { confirmed: 0 };
    await publishAll(ownCh, congested, MESSAGES, own);
    expect(own.confirmed).toBe(MESSAGES);
    expect(heldDone).toBe(false);

    await slow.stop();
    await holding;
    expect(held.confirmed).toBe(MESSAGES);
    const { messageCount } = await setupCh.checkQueue(congested);
    expect(messageCount).toBeGreaterThanOrEqual(2 * MESSAGES - slow.taken - 1);
    expect(messageCount).toBeLessThanOrEqual(2 * MESSAGES - slow.taken);
    await setupCh.deleteQueue(congested);
    await setupCh.deleteQueue(elsewhere);
    for (const c of [consumerElsewhere, slow.conn, setup]) await c.close();
  });

  /**
   * A consumer that holds its one message until every publish is confirmed: RabbitMQ
   * 3.10.8 confirms 30,000 so in about a second. Once the consumer has taken nothing
   * for the shard's STALL_MS, its queue stops holding the publisher back.
   */
  async function publishWhileConsumerWaits(target: RunningBroker, durable: boolean) {
    const queue = uniq('flow-waiting');
    const conn = await connect(target.url);
    const consumerCh = await channel(conn);
    await consumerCh.assertQueue(queue, { durable });
    await consumerCh.prefetch(1);
    const firstDelivery: ConsumeMessage[] = [];
    const { consumerTag } = await consumerCh.consume(queue, (msg) => msg && firstDelivery.push(msg), { noAck: false });

    const publisher = await connect(target.url);
    const ch = await publisher.createConfirmChannel();
    const progress = { confirmed: 0 };
    const published = performance.now();
    await publishAll(ch, queue, MESSAGES, progress, durable);
    const ms = performance.now() - published;
    expect(progress.confirmed).toBe(MESSAGES);
    expect(firstDelivery.map((m) => m.content.toString())).toEqual(['0']);
    expect((await ch.checkQueue(queue)).messageCount).toBe(MESSAGES - 1);

    // Now the consumer acks (cancelled first, so that nothing follows): every number comes once, in order, none redelivered.
    await consumerCh.cancel(consumerTag);
    consumerCh.ack(firstDelivery[0]);
    const seen: number[] = [0];
    let redelivered = 0;
    const drainCh = await channel(conn);
    await drainCh.consume(queue, (msg) => {
      if (msg === null) return;
      seen.push(Number(msg.content.toString()));
      if (msg.fields.redelivered) redelivered++;
    }, { noAck: true });
    await eventually(() => expect(seen).toHaveLength(MESSAGES), 20_000);
    expect(seen).toEqual(Array.from({ length: MESSAGES }, (_, i) => i));
    expect(redelivered).toBe(0);
    await drainCh.deleteQueue(queue);
    for (const c of [publisher, conn]) await c.close();
    return ms;
  }

  it('confirms every publish while the queue\'s consumer waits for them before it acks', { timeout: 60_000 }, async () => {
    const ms = await publishWhileConsumerWaits(broker, false);
    console.log(`flow control (${workers} workers): ${MESSAGES} confirmed in ${ms.toFixed(0)} ms while the consumer held its first message`);
  });

  it('confirms every persistent publish into a durable queue while its consumer waits for them', { timeout: 60_000 }, async () => {
    // A durable queue in a broker with a data dir congests at its paging window (4,096 messages).
    const stored = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir: newDataDir() });
    try {
      await publishWhileConsumerWaits(stored, true);
    } finally {
      await stored.close();
    }
  });
});
