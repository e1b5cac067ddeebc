/**
 * tx.select / commit / rollback as RabbitMQ: publishes, acks, nacks and
 * rejects take effect at commit, in order; rollback drops them. amqplib has no
 * tx API, so the transactional side is a raw client; amqplib observes queues.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startBroker } from '../../dist/src/index.js';
import { MODES, channel, eventually, uniq, useBroker } from '../helpers.js';
import { type Frame, RawClient, emptyTable, frame, method, shortstr, u16, u8 } from '../wire/raw-client.js';

const CH = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
/** frame-max is 4096 after the raw handshake: a body this big arrives in several frames */
const BIG = 10_000;

const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };

const txSelect = () => method(CH, 90, 10);
const txCommit = () => method(CH, 90, 20);
const txRollback = () => method(CH, 90, 30);

/** basic.publish (to the default exchange unless named), then its header and body frames (split at 4000 bytes). */
function publish(queue: string, body: Buffer, mandatory = false, exchange = ''): Buffer {
  const frames = [
    method(CH, 60, 40, u16(0), shortstr(exchange), shortstr(queue), u8(mandatory ? 1 : 0)),
    frame(FRAME_HEADER, CH, Buffer.concat([u16(60), u16(0), u64(body.length), u16(0)])),
  ];
  for (let at = 0; at < body.length; at += 4000) frames.push(frame(FRAME_BODY, CH, body.subarray(at, at + 4000)));
  return Buffer.concat(frames);
}

/** Numbered bodies; every fifth one spans several body frames. */
function numbered(from: number, count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    return n % 5 === 0 ? Buffer.concat([Buffer.from(`${n}:`), Buffer.alloc(BIG, 0x61)]) : Buffer.from(String(n));
  });
}
const label = (body: Buffer | string) => String(body).split(':')[0];

async function rawChannel(url: string): Promise<RawClient> {
  const c = await RawClient.open(Number(new URL(url).port));
  await c.handshake();
  c.send(method(CH, 20, 10, shortstr('')));
  await expectMethod(c, 20, 11);
  return c;
}

/** The next method frame on the channel (skipping content), checked to be class.method. */
const expectMethod = (c: RawClient, classId: number, methodId: number): Promise<Frame> => c.nextMethod(CH, classId, methodId);

/** Expects channel.close with `code` and `text`, answers close-ok. */
async function expectChannelClose(c: RawClient, code: number, text: string): Promise<void> {
  const f = await expectMethod(c, 20, 40);
  expect([f.payload.readUInt16BE(4), f.payload.subarray(7, 7 + f.payload[6]).toString()]).toEqual([code, text]);
  c.send(method(CH, 20, 41));
}

/** basic.consume (manual acks) and `count` deliveries: their tags and bodies. */
async function consume(c: RawClient, queue: string, count: number): Promise<{ tag: number; body: string }[]> {
  c.send(method(CH, 60, 20, u16(0), shortstr(queue), shortstr('t'), u8(0), emptyTable()));
  await expectMethod(c, 60, 21);
  const got: { tag: number; body: string }[] = [];
  while (got.length < count) {
    const f = await expectMethod(c, 60, 60);
    const tagAt = 4 + 1 + f.payload[4];
    const tag = Number(f.payload.readBigUInt64BE(tagAt));
    const header = (await c.readFrame())!;
    expect(header.type).toBe(FRAME_HEADER);
    const size = Number(header.payload.readBigUInt64BE(4));
    const parts: Buffer[] = [];
    for (let n = 0; n < size; ) {
      const body = (await c.readFrame())!;
      expect(body.type).toBe(FRAME_BODY);
      parts.push(body.payload);
      n += body.payload.length;
    }
    got.push({ tag, body: Buffer.concat(parts).toString() });
  }
  return got;
}

const ack = (tag: number, multiple = false) => method(CH, 60, 80, u64(tag), u8(multiple ? 1 : 0));
const reject = (tag: number) => method(CH, 60, 90, u64(tag), u8(0));
const nack = (tag: number, multiple: boolean) => method(CH, 60, 120, u64(tag), u8(multiple ? 1 : 0));

for (const { name, workers } of MODES) {
  describe(`transactions (${name})`, () => {
    const server = useBroker(workers);

    async function observer(queue: string) {
      const ch = await channel(await server.connect());
      await ch.assertQueue(queue, { autoDelete: false });
      return ch;
    }

    it('buffers publishes until commit, then delivers all of them in order', async () => {
      const queue = uniq('tx-pub');
      const obs = await observer(queue);
      const c = await rawChannel(server.url);
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      const bodies = numbered(1, 23);
      for (const body of bodies) c.send(publish(queue, body));
      c.send(txSelect()); // a second select is fine, and a round trip: the publishes were read
      await expectMethod(c, 90, 11);
      expect((await obs.checkQueue(queue)).messageCount).toBe(0);
      c.send(txCommit());
      await expectMethod(c, 90, 21);
      await eventually(async () => expect((await obs.checkQueue(queue)).messageCount).toBe(bodies.length));
      const got: string[] = [];
      for (let m = await obs.get(queue, { noAck: true }); m !== false; m = await obs.get(queue, { noAck: true })) {
        got.push(m.content.toString());
      }
      expect(got).toEqual(bodies.map(String));
      c.destroy();
    });

    it('a publish goes at commit to the queues it was routed to when it came, whatever was bound or unbound since (RabbitMQ 3.10.8)', async () => {
      const exchange = uniq('tx-route');
      const queues = [uniq('tx-route-q'), uniq('tx-route-q')];
      const obs = await observer(queues[0]);
      await obs.assertQueue(queues[1], { autoDelete: false });
      await obs.assertExchange(exchange, 'fanout', { autoDelete: false });
      const c = await rawChannel(server.url);
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom('bind 0', 'unbind 0', 'bind 1', 'unbind 1')), { maxLength: 10 }), async (steps) => {
          // From nothing, whatever a failed run left (so a shrunk case is the case).
          for (const queue of queues) {
            await obs.unbindQueue(queue, exchange, '');
            await obs.purgeQueue(queue);
          }
          const bound = [false, false];
          const expected: string[][] = [[], []];
          let n = 0;
          for (const step of steps) {
            if (typeof step === 'number') {
              for (let i = 0; i < step; i++, n++) {
                c.send(publish('', Buffer.from(`m${n}`), false, exchange));
                bound.forEach((b, q) => b && expected[q]!.push(`m${n}`));
              }
              c.send(txSelect()); // a round trip: the publishes were read before the next binding changes
              await expectMethod(c, 90, 11);
              continue;
            }
            const [verb, which] = step.split(' ');
            const q = Number(which);
            if (verb === 'bind') await obs.bindQueue(queues[q]!, exchange, '');
            else await obs.unbindQueue(queues[q]!, exchange, '');
            bound[q] = verb === 'bind';
          }
          c.send(txCommit());
          await expectMethod(c, 90, 21);
          for (const [q, queue] of queues.entries()) {
            await eventually(async () => expect((await obs.checkQueue(queue)).messageCount).toBe(expected[q]!.length));
            const got: string[] = [];
            for (let m = await obs.get(queue, { noAck: true }); m !== false; m = await obs.get(queue, { noAck: true })) got.push(m.content.toString());
            expect(got).toEqual(expected[q]);
          }
        }),
        { numRuns: 25 },
      );
      c.destroy();
    });

    it('a queue deleted between publish and commit misses the message; the commit and the other queues go on', async () => {
      const exchange = uniq('tx-gone');
      const [kept, gone] = [uniq('tx-kept'), uniq('tx-gone-q')];
      const obs = await observer(kept);
      await obs.assertQueue(gone, { autoDelete: false });
      await obs.assertExchange(exchange, 'fanout', { autoDelete: false });
      for (const queue of [kept, gone]) await obs.bindQueue(queue, exchange, '');
      const c = await rawChannel(server.url);
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      for (const body of numbered(1, 7)) c.send(publish('', body, false, exchange));
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      await obs.deleteQueue(gone);
      c.send(txCommit());
      await expectMethod(c, 90, 21);
      await eventually(async () => expect((await obs.checkQueue(kept)).messageCount).toBe(7));
      const got: string[] = [];
      for (let m = await obs.get(kept, { noAck: true }); m !== false; m = await obs.get(kept, { noAck: true })) got.push(label(m.content.toString()));
      expect(got).toEqual(['1', '2', '3', '4', '5', '6', '7']);
      expect(await (await channel(await server.connect())).assertQueue(gone, { autoDelete: false })).toMatchObject({ messageCount: 0 });
      c.destroy();
    });

    it('at commit the routed queues are looked up by name, as RabbitMQ 3.10.8: all gone, a mandatory publish comes back; declared again, the new queue gets it', async () => {
      const [gone, again] = [uniq('tx-all-gone'), uniq('tx-again')];
      const obs = await observer(gone);
      await obs.assertQueue(again, { autoDelete: false });
      const c = await rawChannel(server.url);
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      c.send(publish(gone, Buffer.from('to-gone'), true), publish(again, Buffer.from('to-again'), true));
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      await obs.deleteQueue(gone);
      await obs.deleteQueue(again);
      await obs.assertQueue(again, { autoDelete: false });
      c.send(txCommit());
      const ret = await expectMethod(c, 60, 50);
      expect(ret.payload.readUInt16BE(4)).toBe(312);
      expect((await c.readFrame())!.type).toBe(FRAME_HEADER);
      expect((await c.readFrame())!.payload.toString()).toBe('to-gone');
      await expectMethod(c, 90, 21);
      await eventually(async () => expect((await obs.checkQueue(again)).messageCount).toBe(1));
      const m = await obs.get(again, { noAck: true });
      expect(m && m.content.toString()).toBe('to-again');
      c.destroy();
    });

    it('rollback discards the buffered publishes; a later commit publishes only the new ones', async () => {
      const queue = uniq('tx-rollback');
      const obs = await observer(queue);
      const c = await rawChannel(server.url);
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      for (const body of numbered(1, 7)) c.send(publish(queue, body));
      c.send(txRollback());
      await expectMethod(c, 90, 31);
      c.send(txCommit()); // nothing left to commit
      await expectMethod(c, 90, 21);
      expect((await obs.checkQueue(queue)).messageCount).toBe(0);
      const later = numbered(8, 6);
      for (const body of later) c.send(publish(queue, body));
      c.send(txCommit());
      await expectMethod(c, 90, 21);
      await eventually(async () => expect((await obs.checkQueue(queue)).messageCount).toBe(later.length));
      const got: string[] = [];
      for (let m = await obs.get(queue, { noAck: true }); m !== false; m = await obs.get(queue, { noAck: true })) got.push(label(m.content));
      expect(got).toEqual(['8', '9', '10', '11', '12', '13']);
      c.destroy();
    });

    it('returns unroutable mandatory publishes at commit, not before', async () => {
      const c = await rawChannel(server.url);
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      c.send(publish(uniq('nowhere'), Buffer.from('1'), true));
      c.send(txSelect());
      await expectMethod(c, 90, 11); // expectMethod fails on a basic.return in between
      c.send(txCommit());
      const ret = await expectMethod(c, 60, 50);
      expect(ret.payload.readUInt16BE(4)).toBe(312);
      const header = (await c.readFrame())!;
      expect(header.type).toBe(FRAME_HEADER);
      expect((await c.readFrame())!.payload.toString()).toBe('1');
      await expectMethod(c, 90, 21);
      c.destroy();
    });

    it('closing the channel discards the buffered publishes', async () => {
      const queue = uniq('tx-close');
      const obs = await observer(queue);
      const c = await rawChannel(server.url);
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      for (const body of numbered(1, 5)) c.send(publish(queue, body));
      c.send(method(CH, 20, 40, u16(200), shortstr(''), u16(0), u16(0)));
      await expectMethod(c, 20, 41);
      expect((await obs.checkQueue(queue)).messageCount).toBe(0);
      c.destroy();
    });

    it('acks, nacks and rejects take effect at commit; rolled back ones stay unacked and come back on close', async () => {
      const queue = uniq('tx-acks');
      const obs = await observer(queue);
      for (let n = 1; n <= 8; n++) obs.sendToQueue(queue, Buffer.from(String(n)));
      const c = await rawChannel(server.url);
      const deliveries = await consume(c, queue, 8);
      expect(deliveries.map((d) => d.body)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
      const tagOf = (n: number) => deliveries[n - 1].tag;
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      c.send(ack(tagOf(1)), ack(tagOf(3), true)); // takes 1, 2, 3
      c.send(txRollback());
      await expectMethod(c, 90, 31);
      // Rolled back: 1..3 are unacked again, so they can be settled again.
      c.send(ack(tagOf(2)), reject(tagOf(4)), nack(tagOf(6), true)); // 2; 4; 1, 3, 5, 6
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      c.send(ack(tagOf(2))); // already taken by this transaction: unknown now
      await expectChannelClose(c, 406, `PRECONDITION_FAILED - unknown delivery tag ${tagOf(2)}`);
      // The channel closed before commit: nothing was settled, all 8 come back redelivered.
      const again: string[] = [];
      await eventually(async () => {
        for (let m = await obs.get(queue, { noAck: true }); m !== false; m = await obs.get(queue, { noAck: true })) {
          expect(m.fields.redelivered).toBe(true);
          again.push(m.content.toString());
        }
        expect(again.sort((a, b) => Number(a) - Number(b))).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
      });
      c.destroy();
    });

    it('a committed ack/nack/reject settles exactly those deliveries', async () => {
      const queue = uniq('tx-commit-acks');
      const obs = await observer(queue);
      for (let n = 1; n <= 8; n++) obs.sendToQueue(queue, Buffer.from(String(n)));
      const c = await rawChannel(server.url);
      const deliveries = await consume(c, queue, 8);
      const tagOf = (n: number) => deliveries[n - 1].tag;
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      c.send(ack(tagOf(1)), ack(tagOf(3), true)); // 1, 2, 3
      c.send(txRollback());
      await expectMethod(c, 90, 31);
      c.send(ack(tagOf(2)), reject(tagOf(4)), ack(tagOf(7))); // 2 acked, 4 dropped, 7 acked
      c.send(nack(tagOf(5), false)); // 5 dropped (requeue=false)
      c.send(txCommit());
      await expectMethod(c, 90, 21);
      c.send(method(CH, 20, 40, u16(200), shortstr(''), u16(0), u16(0)));
      await expectMethod(c, 20, 41);
      // 1, 3, 6, 8 were never settled (1 and 3 rolled back): redelivered.
      const again: string[] = [];
      await eventually(async () => {
        for (let m = await obs.get(queue, { noAck: true }); m !== false; m = await obs.get(queue, { noAck: true })) {
          expect(m.fields.redelivered).toBe(true);
          again.push(m.content.toString());
        }
        expect(again.sort()).toEqual(['1', '3', '6', '8']);
      });
      c.destroy();
    });

    it('a publish to a missing exchange is refused at once, not at commit', async () => {
      const c = await rawChannel(server.url);
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      const missing = uniq('no-such-exchange');
      c.send(method(CH, 60, 40, u16(0), shortstr(missing), shortstr('k'), u8(0)), frame(FRAME_HEADER, CH, Buffer.concat([u16(60), u16(0), u64(1), u16(0)])), frame(FRAME_BODY, CH, Buffer.from('1')));
      await expectChannelClose(c, 404, `NOT_FOUND - no exchange '${missing}' in vhost '/'`);
      c.destroy();
    });

    it('deliveries settled in a transaction hold global prefetch credit until commit', async () => {
      const queue = uniq('tx-prefetch');
      const obs = await observer(queue);
      for (let n = 1; n <= 4; n++) obs.sendToQueue(queue, Buffer.from(String(n)));
      const c = await rawChannel(server.url);
      c.send(method(CH, 60, 10, Buffer.alloc(4), u16(2), u8(1))); // basic.qos prefetch 2, global
      await expectMethod(c, 60, 11);
      const first = await consume(c, queue, 2);
      expect(first.map((d) => d.body)).toEqual(['1', '2']);
      c.send(txSelect());
      await expectMethod(c, 90, 11);
      c.send(ack(first[1].tag, true));
      c.send(txSelect()); // round trip: no delivery may come before this select-ok
      await expectMethod(c, 90, 11);
      c.send(txCommit());
      await expectMethod(c, 90, 21); // commit-ok before any of the next deliveries...
      const rest: string[] = [];
      while (rest.length < 2) {
        await expectMethod(c, 60, 60); // ...then they come, credit freed by the commit
        await c.readFrame(); // header
        rest.push((await c.readFrame())!.payload.toString());
      }
      expect(rest).toEqual(['3', '4']);
      c.destroy();
    });

    it('a commit with a publish a queue refuses (reject-publish) closes the channel, 406 partial tx completion; the rest of it took effect', async () => {
      const obs = await channel(await server.connect());
      await fc.assert(
        fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), async (toFull) => {
          const full = uniq('tx-full');
          const open = uniq('tx-open');
          await obs.assertQueue(full, { exclusive: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
          await obs.assertQueue(open, { exclusive: true });
          obs.sendToQueue(full, Buffer.from('f0'));
          expect((await obs.checkQueue(full)).messageCount).toBe(1);
          const c = await rawChannel(server.url);
          c.send(txSelect());
          await expectMethod(c, 90, 11);
          toFull.forEach((isFull, i) => c.send(publish(isFull ? full : open, Buffer.from(`m${i}`))));
          c.send(txCommit());
          if (toFull.some((isFull) => isFull)) {
            const f = await expectMethod(c, 20, 40);
            expect([f.payload.readUInt16BE(4), f.payload.subarray(7, 7 + f.payload[6]).toString()]).toEqual([406, 'PRECONDITION_FAILED - partial tx completion']);
            const after = 7 + f.payload[6];
            expect([f.payload.readUInt16BE(after), f.payload.readUInt16BE(after + 2)]).toEqual([90, 20]);
          } else await expectMethod(c, 90, 21);
          // commit-ok or not, the publishes that a queue took are there, in order (counted at once: the answer waited for them)
          expect((await obs.checkQueue(open)).messageCount).toBe(toFull.filter((isFull) => !isFull).length);
          const got: string[] = [];
          for (let m = await obs.get(open, { noAck: true }); m !== false; m = await obs.get(open, { noAck: true })) got.push(m.content.toString());
          expect(got).toEqual(toFull.flatMap((isFull, i) => (isFull ? [] : [`m${i}`])));
          expect((await obs.checkQueue(full)).messageCount).toBe(1);
          c.destroy();
          await obs.deleteQueue(full);
          await obs.deleteQueue(open);
        }),
        { numRuns: 10 },
      );
    });

    it('tx.commit and tx.rollback without tx.select: 406', async () => {
      for (const [op, methodId] of [[txCommit, 20], [txRollback, 30]] as const) {
        const c = await rawChannel(server.url);
        c.send(op());
        const f = await expectMethod(c, 20, 40);
        expect(f.payload.readUInt16BE(4)).toBe(406);
        expect(f.payload.subarray(7, 7 + f.payload[6]).toString()).toBe('PRECONDITION_FAILED - channel is not transactional');
        const after = 7 + f.payload[6];
        expect([f.payload.readUInt16BE(after), f.payload.readUInt16BE(after + 2)]).toEqual([90, methodId]);
        c.destroy();
      }
    });

    it('tx and confirm modes exclude each other: 406', async () => {
      const a = await rawChannel(server.url);
      a.send(method(CH, 85, 10, u8(0)));
      await expectMethod(a, 85, 11);
      a.send(txSelect());
      await expectChannelClose(a, 406, 'PRECONDITION_FAILED - cannot switch from confirm to tx mode');
      a.destroy();
      const b = await rawChannel(server.url);
      b.send(txSelect());
      await expectMethod(b, 90, 11);
      b.send(method(CH, 85, 10, u8(0)));
      await expectChannelClose(b, 406, 'PRECONDITION_FAILED - cannot switch from tx to confirm mode');
      b.destroy();
    });
  });
}

describe('transactions and the memory alarm', () => {
  for (const { name, workers } of MODES) {
    it(`counts buffered publishes as held memory until commit or rollback (${name})`, async () => {
      const running = await startBroker({ port: 0, host: '127.0.0.1', workers, memoryHighWatermark: '100GB' });
      try {
        const used = () => running.broker.alarms.used();
        const c = await rawChannel(running.url);
        c.send(txSelect());
        await expectMethod(c, 90, 11);
        const before = used();
        const MiB = 2 ** 20;
        for (let n = 1; n <= 3; n++) c.send(publish('q', Buffer.alloc(MiB, n)));
        c.send(txSelect());
        await expectMethod(c, 90, 11);
        expect(used() - before).toBeGreaterThanOrEqual(3 * MiB);
        c.send(txRollback());
        await expectMethod(c, 90, 31);
        expect(used() - before).toBeLessThan(MiB / 4);
        c.destroy();
      } finally {
        await running.close();
      }
    });
  }
});
