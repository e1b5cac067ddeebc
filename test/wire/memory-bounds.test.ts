/**
 * Memory that clients make the broker hold without queueing anything: bodies
 * sent halfway (they count against the memory watermark, so publishers get
 * connection.blocked), and output for a client that never reads (its socket is
 * no longer read while more than 16 MiB wait for it), and frames waiting on a busy
 * channel (the same bound).
 */
import { describe, expect, it } from 'vitest';
import type { GetMessage } from 'amqplib';
import { MODES, arrayBufferBytesAfterGc, channel, connect, eventually, heapUsedAfterGc, queueExists, sleep, within } from '../helpers.js';
import { startBroker } from '../../dist/src/index.js';
import { RING_BYTES } from '../../dist/src/broker.js';
import { shardOf } from '../../dist/src/shard/placement.js';
import { FRAME_METHOD, RawClient, frame, longstr, method, open, shortstr, tuneOk, u16, u32, u8, type Frame } from './raw-client.js';

const MiB = 1024 * 1024;
const FRAME_MAX = 131072;

/** connection.start-ok whose client properties declare the connection.blocked capability. */
function startOkBlockedCapable(): Buffer {
  const capability = Buffer.concat([shortstr('connection.blocked'), Buffer.from('t'), u8(1)]);
  const capabilities = Buffer.concat([shortstr('capabilities'), Buffer.from('F'), u32(capability.length), capability]);
  const properties = Buffer.concat([u32(capabilities.length), capabilities]);
  return method(0, 10, 11, properties, shortstr('PLAIN'), longstr('\0guest\0guest'), shortstr('en_US'));
}

/** A raw connection that declares connection.blocked; heartbeat in seconds (0 = off). */
async function rawConnection(port: number, heartbeat: number): Promise<RawClient> {
  const c = await RawClient.open(port);
  c.send(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
  await c.expectMethod(10, 10);
  c.send(startOkBlockedCapable());
  await c.expectMethod(10, 30);
  c.send(tuneOk(FRAME_MAX, heartbeat), open('/'));
  await c.expectMethod(10, 41);
  return c;
}

/** Frames until one is class.method on channel 0 (skipping open-oks and the like). */
async function nextConnectionMethod(c: RawClient, classId: number, methodId: number, ms = 5000): Promise<Frame> {
  for (;;) {
    const f = await c.readFrame(ms);
    expect(f, `the server closed the socket before ${classId}.${methodId}`).not.toBeNull();
    if (f!.type === FRAME_METHOD && f!.channel === 0 && f!.classId === classId && f!.methodId === methodId) return f!;
  }
}

const publish = (ch: number, queue: string) => method(ch, 60, 40, u16(0), shortstr(''), shortstr(queue), u8(0));
const header = (ch: number, bodySize: number) => frame(2, ch, Buffer.concat([u16(60), u16(0), u32(0), u32(bodySize), u16(0)]));
const body = (ch: number, bytes: number) => frame(3, ch, Buffer.alloc(bytes, 'b'));

describe.each(MODES)('memory bounds on the wire, $name', ({ workers }) => {
  it('counts half-sent bodies against the watermark: publishers are blocked until they are gone', { timeout: 30_000 }, async () => {
    const maxMessageSize = 12 * MiB;
    const shards = Math.max(1, workers);
    const rings = shards * 2 * RING_BYTES; // two rings per shard
    const broker = await startBroker({
      port: 0,
      host: '127.0.0.1',
      workers,
      maxMessageSize,
      memoryHighWatermark: process.memoryUsage.rss() + rings + 40 * MiB,
    });
    let beating: NodeJS.Timeout | undefined;
    try {
      // Heartbeats every second: a paused socket is not read, so only a failed heartbeat write shows that its peer is gone.
      const c = await rawConnection(broker.port, 1);
      beating = setInterval(() => c.send(frame(8, 0, Buffer.alloc(0))), 250);
      // 8 channels, each 6 MiB into a 12 MiB message: 48 MiB held, nothing queued.
      for (let ch = 1; ch <= 8; ch++) {
        c.send(method(ch, 20, 10, shortstr('')), publish(ch, 'nowhere'), header(ch, maxMessageSize));
        for (let sent = 0; sent < 6 * MiB; sent += FRAME_MAX - 8) c.send(body(ch, FRAME_MAX - 8));
      }
      await sleep(500); // the check runs 100 ms after publish activity
      c.send(body(1, 1000)); // the next body frame meets the alarm
      const blocked = await nextConnectionMethod(c, 10, 60);
      expect(blocked.payload.subarray(5, 5 + blocked.payload[4]).toString()).toBe('low on memory');

      // Another publisher is blocked too, at its next publish, which waits with what it publishes
      // after (as a RabbitMQ 3.10.8 in alarm holds both).
      const other = await connect(broker.url);
      const otherBlocked = new Promise<string>((resolve) => other.once('blocked', resolve));
      const otherUnblocked = new Promise<void>((resolve) => other.once('unblocked', () => resolve()));
      const ch = await channel(other);
      await ch.assertQueue('after-alarm');
      ch.sendToQueue('after-alarm', Buffer.from('m1'));
      expect(await within(otherBlocked, 3000, 'connection.blocked')).toBe('low on memory');
      ch.sendToQueue('after-alarm', Buffer.from('m2'));
      const observer = await channel(await connect(broker.url));
      await sleep(300);
      expect((await observer.checkQueue('after-alarm')).messageCount).toBe(0);

      // The half-sent bodies go with their connection (noticed at a heartbeat): the alarm clears.
      clearInterval(beating);
      c.destroy();
      await within(otherUnblocked, 5000, 'connection.unblocked');
      await eventually(async () => expect((await observer.checkQueue('after-alarm')).messageCount).toBe(2), 3000);
      await other.close();
    } finally {
      clearInterval(beating);
      await broker.close();
    }
  });

  it('publishes cut after a byte of body on 2,000 channels, read one at a time, hold their bytes, not a read buffer each; then complete', { timeout: 30_000 }, async () => {
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers });
    try {
      const queue = 'cut-publishes';
      const setup = await channel(await connect(broker.url));
      await setup.assertQueue(queue);
      const c = await rawConnection(broker.port, 0);
      const channels = 2000;
      const opens: Buffer[] = [];
      for (let ch = 1; ch <= channels; ch++) opens.push(method(ch, 20, 10, shortstr('')));
      // A 600 kB publish to no queue first, in one write: the connection's read buffer grows to its 64 KiB.
      const grow = [publish(1, 'nowhere'), header(1, 600_000)];
      for (let sent = 0; sent < 600_000; sent += 100_000) grow.push(body(1, 100_000));
      c.send(Buffer.concat([...opens, ...grow]));
      await sleep(300);
      const before = await arrayBufferBytesAfterGc();

      const text = (ch: number) => Buffer.from(String(ch).padStart(10, '.'));
      for (let ch = 1; ch <= channels; ch++) {
        c.send(Buffer.concat([publish(ch, queue), header(ch, 10), frame(3, ch, text(ch).subarray(0, 1))]));
        await sleep(1); // each its own read
      }
      await sleep(300);
      // About 100 bytes each: 0.2 MB. Holding the buffers they came in: 2,000 x 64 KiB (124 MiB measured).
      expect((await arrayBufferBytesAfterGc()) - before).toBeLessThan(16 * MiB);

      for (let ch = 1; ch <= channels; ch++) c.send(frame(3, ch, text(ch).subarray(1)));
      await eventually(async () => expect((await setup.checkQueue(queue)).messageCount).toBe(channels), 5000);
      const got = new Set<string>();
      for (let m = await setup.get(queue, { noAck: true }); m !== false; m = await setup.get(queue, { noAck: true })) got.add(m.content.toString());
      expect(got).toEqual(new Set(Array.from({ length: channels }, (_, i) => text(i + 1).toString())));
      c.destroy();
    } finally {
      await broker.close();
    }
  });

  it('a body in a million one-byte frames and a million empty ones holds about its size, and arrives whole', { timeout: 60_000 }, async () => {
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers });
    try {
      const queue = 'tiny-frames';
      const setup = await channel(await connect(broker.url));
      await setup.assertQueue(queue);
      const c = await rawConnection(broker.port, 0);
      c.send(method(1, 20, 10, shortstr('')));
      expect((await c.readFrame())?.methodId).toBe(11); // channel.open-ok
      const size = 1_000_000;
      const content = Buffer.alloc(size);
      for (let i = 0; i < size; i++) content[i] = (i * 7) % 251;
      const before = await heapUsedAfterGc();
      c.send(Buffer.concat([publish(1, queue), header(1, size)]));
      const empty = frame(3, 1, Buffer.alloc(0));
      for (let at = 0; at < size - 1; at += 10_000) {
        const frames: Buffer[] = [];
        for (let i = at; i < Math.min(at + 10_000, size - 1); i++) frames.push(frame(3, 1, content.subarray(i, i + 1)), empty);
        c.send(Buffer.concat(frames));
      }
      // channel.open-ok on another channel: every frame before it was read.
      c.send(method(2, 20, 10, shortstr('')));
      expect(await c.readFrame(30_000)).toMatchObject({ channel: 2, classId: 20, methodId: 11 });
      // Kept as a view each, about 100 bytes of heap a frame: 200 MB (the empty ones forever).
      expect((await heapUsedAfterGc()) - before).toBeLessThan(32 * MiB);
      c.send(frame(3, 1, content.subarray(size - 1)));
      await eventually(async () => expect((await setup.checkQueue(queue)).messageCount).toBe(1), 10_000);
      const got = (await setup.get(queue, { noAck: true })) as GetMessage;
      expect(got.content.equals(content)).toBe(true);
      c.destroy();
    } finally {
      await broker.close();
    }
  });

  it('counts what connections keep for their output: 240 that each got a 200 kB message raise the alarm, and closing them clears it', { timeout: 60_000 }, async () => {
    const shards = Math.max(1, workers);
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers, memoryHighWatermark: process.memoryUsage.rss() + shards * 2 * RING_BYTES + 40 * MiB });
    try {
      const setupConn = await connect(broker.url);
      const setup = await channel(setupConn);
      await setup.assertQueue('big-gets');
      // One message, taken and put back by each reader in turn: the queue never holds more than 200 kB.
      setup.sendToQueue('big-gets', Buffer.alloc(200_000, 1));
      await eventually(async () => expect((await setup.checkQueue('big-gets')).messageCount).toBe(1), 5000);
      await setupConn.close();
      const readers = await Promise.all(Array.from({ length: 240 }, () => connect(broker.url)));
      // Each basic.get-ok grows its connection's output buffer to 256 KiB, kept for later turns: 60 MiB in all.
      for (const conn of readers) {
        const ch = await conn.createChannel();
        const m = await ch.get('big-gets');
        expect(m).not.toBe(false);
        ch.nack(m as GetMessage, false, true);
      }
      const publisher = await connect(broker.url);
      const blocked = new Promise<string>((resolve) => publisher.once('blocked', resolve));
      const unblocked = new Promise<void>((resolve) => publisher.once('unblocked', () => resolve()));
      // The first publish has the alarm look (100 ms later); as in RabbitMQ, the next one meets it.
      const probe = await channel(publisher);
      probe.sendToQueue('big-gets', Buffer.from('probe'));
      await sleep(300);
      probe.sendToQueue('big-gets', Buffer.from('probe'));
      expect(await within(blocked, 3000, 'connection.blocked')).toBe('low on memory');
      await Promise.all(readers.map((conn) => conn.close()));
      await within(unblocked, 3000, 'connection.unblocked');
      await publisher.close();
    } finally {
      await broker.close();
    }
  });

  it('stops reading a client that does not read its output past 16 MiB, and goes on when it reads', { timeout: 30_000 }, async () => {
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers });
    try {
      const setup = await connect(broker.url);
      const setupCh = await channel(setup);
      await setupCh.assertQueue('big');
      for (let i = 0; i < 40; i++) setupCh.sendToQueue('big', Buffer.alloc(MiB, i));
      await eventually(async () => expect((await setupCh.checkQueue('big')).messageCount).toBe(40), 5000);

      const c = await rawConnection(broker.port, 0);
      c.send(method(1, 20, 10, shortstr('')));
      c.socket.pause(); // never read: 40 MiB of get-ok pile up in the server
      for (let i = 0; i < 40; i++) c.send(method(1, 60, 70, u16(0), shortstr('big'), u8(1))); // basic.get no-ack
      await eventually(async () => expect((await setupCh.checkQueue('big')).messageCount).toBe(0), 5000);
      c.send(method(1, 50, 10, u16(0), shortstr('probe'), u8(0), u32(0))); // queue.declare 'probe'
      await sleep(500);
      expect(await queueExists(setup, 'probe'), 'the server read on past 16 MiB of unread output').toBe(false);

      c.socket.removeAllListeners('data'); // read and throw away
      c.socket.on('data', () => {});
      c.socket.resume(); // the output drains, and the declare is read
      await eventually(async () => expect(await queueExists(setup, 'probe')).toBe(true), 5000);
      c.destroy();
      await setup.close();
    } finally {
      await broker.close();
    }
  });

  it('stops reading a connection whose frames wait on a busy channel past 16 MiB, and goes on when the channel is free', { timeout: 30_000 }, async () => {
    const broker = await startBroker({ port: 0, host: '127.0.0.1', workers });
    try {
      const watcher = await connect(broker.url);
      const watch = await channel(watcher);
      const queue = 'backlog';
      await watch.assertQueue(queue);
      const publisher = await connect(broker.url);
      const ch = await channel(publisher);
      const server = [...broker.broker.connections].at(-1)! as any; // the publisher's connection
      // Hold the shard's replies unread: the channel's passive declare waits, and so do the frames after it.
      const pump = (broker.broker.links[shardOf('/', queue, broker.broker.links.length)] as any).pump;
      pump.stop();
      const declared = ch.checkQueue(queue);
      const count = 24;
      for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.alloc(MiB, i));
      await eventually(() => expect(server.socket.isPaused()).toBe(true), 5000);
      const held = server.backlogBytes;
      expect(held).toBeGreaterThan(16 * MiB);
      await sleep(300);
      expect(server.backlogBytes, 'the server read on past 16 MiB of waiting frames').toBe(held);
      expect(held).toBeLessThan(count * MiB);

      pump.stopped = false; // test-only: let the link read its shard again
      pump.start();
      await within(declared, 5000, 'the passive declare to finish');
      await eventually(async () => expect((await watch.checkQueue(queue)).messageCount).toBe(count), 5000);
      expect([server.backlogBytes, server.socket.isPaused()]).toEqual([0, false]);
      const got = await watch.purgeQueue(queue);
      expect(got.messageCount).toBe(count);
      await publisher.close();
      await watcher.close();
    } finally {
      await broker.close();
    }
  });
});
