/**
 * No message lost when a consumer goes away mid-stream: every consumer has a
 * bounded credit window, deliveries the acceptor did not write go back to the
 * queue in order, and channel-wide prefetch is enforced in the shard. Every
 * message carries its sequence number; each test counts them all.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, connect, eventually, sleep, start, uniq } from '../helpers.js';
import { FRAME_METHOD, RawClient, emptyTable, method, shortstr, u16, u8 } from '../wire/raw-client.js';

const FRAME_BODY = 3;

describe.each(MODES)('credit: $name', ({ workers }) => {
  let running: RunningBroker;
  const opened: ChannelModel[] = [];
  beforeAll(async () => {
    running = await start(workers);
  });
  afterAll(async () => {
    await Promise.all(opened.map((conn) => conn.close().catch(() => {})));
    await running.close();
  });

  async function open(): Promise<ChannelModel> {
    const conn = await connect(running.url);
    opened.push(conn);
    return conn;
  }

  /** A queue holding messages "0" .. "count-1" (padded with spaces to `size` bytes). */
  async function queueWith(count: number, size = 0): Promise<string> {
    const ch = await channel(await open());
    const queue = uniq('credit');
    await ch.assertQueue(queue);
    for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.from(String(i).padEnd(size)));
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(count), 20_000);
    return queue;
  }

  /** Ready messages once no consumer is left on the queue (the broker has processed the goodbye). */
  async function settledCount(queue: string): Promise<number> {
    const ch = await channel(await open());
    const ok = await eventually(async () => {
      const ok = await ch.checkQueue(queue);
      expect(ok.consumerCount).toBe(0);
      return ok;
    }, 5000);
    await sleep(100); // requeues of a closing channel follow its cancels in the same ring
    const again = await ch.checkQueue(queue);
    expect(again.messageCount).toBe(ok.messageCount);
    return again.messageCount;
  }

  /** Consumes (acking) until the queue is empty and stays so; returns what came, in order. */
  async function drainAll(queue: string): Promise<ConsumeMessage[]> {
    const ch = await channel(await open());
    const got: ConsumeMessage[] = [];
    await ch.prefetch(500);
    await ch.consume(queue, (msg) => {
      if (msg === null) return;
      got.push(msg);
      ch.ack(msg);
    });
    await eventually(async () => {
      const before = got.length;
      await sleep(200);
      expect(got.length).toBe(before);
      expect((await ch.checkQueue(queue)).messageCount).toBe(0);
    }, 30_000);
    await ch.close();
    return got;
  }

  const numbers = (messages: readonly { content: Buffer }[]) => messages.map((m) => Number(m.content.toString()));

  /** Each of 0..count-1 exactly once. */
  function expectEachOnce(seen: number[], count: number): void {
    const sorted = [...seen].sort((a, b) => a - b);
    expect(sorted.length).toBe(count);
    for (let i = 0; i < count; i++) if (sorted[i] !== i) expect.fail(`message ${i} seen ${seen.filter((n) => n === i).length} times`);
  }

  /**
   * A no-ack consumer by hand (amqplib drops deliveries that cross a channel
   * close): it counts every body on the wire, and after `stopAt` of them sends
   * basic.cancel or channel.close, reading on until the -ok.
   */
  async function rawNoAck(queue: string, stopAt: number, stop: 'cancel' | 'close'): Promise<number[]> {
    const client = await RawClient.open(running.port);
    await client.handshake();
    client.send(method(1, 20, 10, shortstr('')));
    await readUntil(client, 20, 11);
    client.send(method(1, 60, 20, u16(0), shortstr(queue), shortstr('raw'), u8(2 /* no-ack */), emptyTable()));
    const got: number[] = [];
    let stopped = false;
    for (;;) {
      const f = await client.readFrame();
      if (f === null) throw new Error('the server closed the socket');
      if (f.type === FRAME_BODY) {
        got.push(Number(f.payload.toString()));
        if (got.length === stopAt && !stopped) {
          stopped = true;
          client.send(stop === 'cancel' ? method(1, 60, 30, shortstr('raw'), u8(0)) : method(1, 20, 40, u16(200), shortstr('bye'), u16(0), u16(0)));
        }
      } else if (f.type === FRAME_METHOD && stopped && f.classId === (stop === 'cancel' ? 60 : 20) && f.methodId === (stop === 'cancel' ? 31 : 41)) {
        break;
      }
    }
    client.destroy();
    return got;
  }

  async function readUntil(client: RawClient, classId: number, methodId: number): Promise<void> {
    for (;;) {
      const f = await client.readFrame();
      if (f === null) throw new Error(`socket closed before ${classId}.${methodId}`);
      if (f.type === FRAME_METHOD && f.classId === classId && f.methodId === methodId) return;
    }
  }

  describe('no-ack consumer, 50,000 queued', () => {
    const COUNT = 50_000;

    for (const [stop, stopAt] of [['cancel', 1], ['cancel', 20_000], ['close', 1], ['close', 20_000]] as const) {
      it(`basic.${stop === 'cancel' ? 'cancel' : 'channel.close'} at delivery ${stopAt}: delivered + left = all, each once`, async () => {
        const queue = await queueWith(COUNT);
        const first = await rawNoAck(queue, stopAt, stop);
        const left = await settledCount(queue);
        expect(first.length + left).toBe(COUNT);
        // Only what reached the socket left the queue (some thousands in its buffers), not the queue.
        if (stopAt === 1) expect(left).toBeGreaterThan(COUNT / 2);
        const rest = numbers(await drainAll(queue));
        expect(rest.length).toBe(left);
        expectEachOnce([...first, ...rest], COUNT);
      });
    }

    it('connection killed mid-stream: nothing twice, and only what was on the wire is gone', async () => {
      // 1 KB each, so the socket buffers (a few MiB) hold a fraction of the queue.
      const queue = await queueWith(COUNT, 1000);
      const conn = await connect(running.url);
      const ch = await channel(conn);
      const first: number[] = [];
      await new Promise<void>((resolve) => {
        void ch.consume(
          queue,
          (msg) => {
            if (msg === null) return;
            first.push(Number(msg.content.toString()));
            if (first.length === 10_000) {
              (conn as any).connection.stream.destroy();
              resolve();
            }
          },
          { noAck: true },
        );
      });
      const left = await settledCount(queue);
      const rest = numbers(await drainAll(queue));
      expect(rest.length).toBe(left);
      const all = [...first.slice(0, 10_000), ...rest];
      expect(new Set(all).size).toBe(all.length);
      // No-ack deliveries already written to the dead socket are lost (as in RabbitMQ);
      // what the broker had not written, up to the credit window, stayed in the queue.
      // Without credit the shard pushed the whole queue out and the socket took it (the
      // issue measured 41,808 of 50,000 lost on a cancel).
      // Measured: 1,300 to 1,700 lost.
      expect(COUNT - all.length).toBeLessThan(20_000);
    });
  });

  describe('manual-ack consumer interrupted mid-stream', () => {
    const COUNT = 10_000;
    const AT = 3_000;
    /** Deliveries AT-UNACKED .. AT-1 stay unacked at the interruption: they must come back. */
    const UNACKED = 50;
    const QOS = [
      { name: 'no prefetch', prefetch: 0, global: false },
      { name: 'prefetch 100', prefetch: 100, global: false },
      { name: 'prefetch 100 global', prefetch: 100, global: true },
    ];
    const STOPS = ['cancel', 'close', 'kill', 'recover'] as const;

    // Under a global prefetch a recover's places come back only once the shard has requeued
    // its messages: given first, a worker shard delivered the queue's next ones in their
    // places (about 1 run in 20 here), and the requeued waited behind them for good.
    it('prefetch 100 global, recover, 100 times over: the unacked come back each time', { timeout: 120_000 }, async () => {
      const admin = await channel(await open());
      for (let run = 0; run < 100; run++) {
        const queue = await queueWith(400);
        const ch = await channel(await open());
        await ch.prefetch(100, true);
        const got: ConsumeMessage[] = [];
        let reached!: () => void;
        const at300 = new Promise<void>((resolve) => (reached = resolve));
        await ch.consume(queue, (msg) => {
          if (msg === null) return;
          got.push(msg);
          if (got.length <= 250) ch.ack(msg);
          if (got.length === 300) reached();
        });
        await at300;
        await ch.recover();
        const unacked = got.slice(250, 300).map((msg) => msg.content.toString());
        await eventually(() => {
          const again = new Set(got.slice(300).filter((msg) => msg.fields.redelivered).map((msg) => msg.content.toString()));
          expect(unacked.filter((body) => !again.has(body)), `run ${run}: not redelivered`).toEqual([]);
        }, 5000);
        await ch.close();
        await admin.deleteQueue(queue);
      }
    });

    for (const qos of QOS) {
      for (const stop of STOPS) {
        it(`${qos.name}, ${stop}: all delivered at least once, repeats redelivered, counts agree`, async () => {
          const queue = await queueWith(COUNT);
          const conn = await connect(running.url);
          const ch = await channel(conn);
          if (qos.prefetch > 0) await ch.prefetch(qos.prefetch, qos.global);
          const first: ConsumeMessage[] = [];
          let acked = 0;
          let interrupt!: () => void;
          const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
          const { consumerTag } = await ch.consume(
            queue,
            (msg) => {
              if (msg === null) return;
              first.push(msg);
              const n = first.length;
              if (n <= AT - UNACKED || (n > AT && stop !== 'recover')) {
                ch.ack(msg);
                acked++;
              }
              if (n === AT) interrupt();
            },
            { noAck: false },
          );
          await interrupted;
          let rest: ConsumeMessage[] = [];
          if (stop === 'recover') {
            // Every unacked delivery goes back, and the same consumer gets them again. Tags
            // of deliveries crossing the recover become unknown, so it acks nothing after it.
            await ch.recover();
            // Each comes back (CI once saw a loaded machine leave 200 ms between recover-ok and the first
            // redelivery, which a wait for a quiet spell alone took for the end), then the stragglers.
            await eventually(() => {
              const again = first.slice(AT);
              for (const msg of first.slice(AT - UNACKED, AT)) {
                const copy = again.find((m) => m.content.equals(msg.content));
                expect(copy?.fields.redelivered, `message ${msg.content} after basic.recover`).toBe(true);
              }
            }, 20_000);
            await eventually(async () => {
              const before = first.length;
              await sleep(200);
              expect(first.length).toBe(before);
            }, 20_000);
            await ch.close();
            const left = await settledCount(queue);
            expect(left).toBe(COUNT - (AT - UNACKED));
            rest = await drainAll(queue);
            expect(rest.length).toBe(left);
          } else {
            if (stop === 'cancel') {
              await ch.cancel(consumerTag);
              // Still open: its unacked deliveries go back when the channel closes.
              await ch.close();
            } else if (stop === 'close') {
              await ch.close();
            } else {
              (conn as any).connection.stream.destroy();
            }
            const left = await settledCount(queue);
            // Acks still in the client's buffers die with a killed socket.
            if (stop === 'kill') expect(left).toBeGreaterThanOrEqual(COUNT - acked);
            else expect(left).toBe(COUNT - acked);
            rest = await drainAll(queue);
            expect(rest.length).toBe(left);
          }
          const seen = new Map<number, number>();
          for (const msg of [...first, ...rest]) {
            const n = Number(msg.content.toString());
            const times = (seen.get(n) ?? 0) + 1;
            seen.set(n, times);
            if (times > 1) expect(msg.fields.redelivered, `message ${n} again without redelivered`).toBe(true);
          }
          expect(seen.size).toBe(COUNT);
          expect([...seen.keys()].every((n) => n >= 0 && n < COUNT)).toBe(true);
          if (stop !== 'kill') await conn.close();
        });
      }
    }
  });

  describe('channel-wide (global) prefetch is enforced in the shard', () => {
    it('prefetch(5, global) on 20,000: the queue keeps 19,995, the channel gets 5', async () => {
      const queue = await queueWith(20_000);
      const conn = await open();
      const ch = await channel(conn);
      await ch.prefetch(5, true);
      const got: ConsumeMessage[] = [];
      let outstanding = 0;
      let max = 0;
      let ackEach = false;
      await ch.consume(
        queue,
        (msg) => {
          if (msg === null) return;
          got.push(msg);
          max = Math.max(max, ++outstanding);
          // Ack a little later, so the broker has to wait for credit.
          if (ackEach) setImmediate(() => (outstanding--, ch.ack(msg)));
        },
        { noAck: false },
      );
      await eventually(() => expect(got.length).toBe(5));
      await sleep(200);
      const check = await channel(conn);
      expect((await check.checkQueue(queue)).messageCount).toBe(19_995);
      expect(got.length).toBe(5);

      // Raising it reaches the existing consumer through its shard.
      await ch.prefetch(8, true);
      await eventually(() => expect(got.length).toBe(8));
      await sleep(200);
      expect((await check.checkQueue(queue)).messageCount).toBe(19_992);

      // Acks stream the rest, never more than 8 outstanding.
      ackEach = true;
      outstanding -= got.length;
      ch.ackAll();
      await eventually(() => expect(got.length).toBe(20_000), 30_000);
      expect(max).toBeLessThanOrEqual(8);
      expectEachOnce(numbers(got), 20_000);
    });

    it('two consumers on one channel share the limit; the channel holds at most the excess', async () => {
      const q1 = await queueWith(2_000);
      const q2 = await queueWith(2_000);
      const conn = await open();
      const ch = await channel(conn);
      await ch.prefetch(4, true);
      const got: ConsumeMessage[] = [];
      await ch.consume(q1, (msg) => msg && got.push(msg), { noAck: false });
      await ch.consume(q2, (msg) => msg && got.push(msg), { noAck: false });
      await eventually(() => expect(got.length).toBe(4));
      await sleep(200);
      expect(got.length).toBe(4);
      // Each shard caps each consumer at 4: at most 8 left their queues.
      const check = await channel(conn);
      const ready = (await check.checkQueue(q1)).messageCount + (await check.checkQueue(q2)).messageCount;
      expect(ready).toBeGreaterThanOrEqual(4_000 - 8);
      ch.ackAll();
      await eventually(() => expect(got.length).toBe(8));
    });
  });

  it('exclusive queues leave their connection when deleted', async () => {
    const conn = await open();
    const ch = await channel(conn);
    const port = (conn as any).connection.stream.localPort;
    const server = [...running.broker.connections].find((c) => c.socket.remotePort === port)!;
    expect(server).toBeDefined();
    for (let i = 0; i < 200; i++) {
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.deleteQueue(queue);
    }
    for (let i = 0; i < 200; i++) {
      // auto-delete: it goes with its last consumer
      const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
      const { consumerTag } = await ch.consume(queue, () => {});
      await ch.cancel(consumerTag);
    }
    await eventually(() => expect(running.broker.vhosts.get('/')!.exclusiveQueues(server.id).size).toBe(0));
  });
});
