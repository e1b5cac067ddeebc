/**
 * Deliveries by reference (src/shard/block-handoff.ts), the shard's side,
 * inline: which DELIVER records carry their block and which hand it over,
 * and that the blocks handed over are the records' own, in their order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { Shard } from '../../src/shard/shard.js';
import { BlockHandoff } from '../../src/shard/block-handoff.js';
import * as R from '../../src/shard/records.js';
import { controlRecord, creditRecord, publishRecord } from './records.js';

const view = new R.BlockView();
/** A block's body, as text. */
const bodyOf = (block: Buffer, at = 0) => {
  const v = view.read(block, at);
  return block.toString('latin1', v.bodyAt, v.end);
};
/** A body of `size` bytes that starts with its number. */
const numbered = (n: number, size: number) => `${n}:`.padEnd(size, String.fromCharCode(97 + (n % 26)));

function setup(limit: number) {
  const out = Ring.allocate(1 << 20);
  const handoff = new BlockHandoff(limit);
  const shard = new Shard(new RingWriter(out, new LocalDoorbell()), undefined, undefined, undefined, handoff);
  const send = (record: Buffer) => shard.handle(record, 0, record.length);
  /** Runs deliveries and reads the DELIVER records written: each body, and whether it came by reference. */
  const deliveries = (): { body: string; byReference: boolean; consumerId: number; msgId: number }[] => {
    shard.deliver();
    out.publish();
    const got = [];
    for (let at = out.peek(); at >= 0; at = out.peek()) {
      const buf = out.data;
      if (buf[at] === R.S2A_DELIVER) {
        const byReference = R.isByReference(buf, at);
        const message = byReference ? handoff.take() : null;
        const body = message !== null ? bodyOf(message.block) : bodyOf(buf, R.deliveredBlockAt(buf, at, R.DELIVER_HEADER));
        got.push({ body, byReference, consumerId: buf.readUInt32LE(at + 2), msgId: buf.readDoubleLE(at + 10) });
      }
      out.consume();
    }
    return got;
  };
  return { send, deliveries, handoff };
}

describe('deliveries by reference (inline shard)', () => {
  it('hands over blocks up to the limit, in the order of their records, and carries the rest in the ring', () => {
    const { send, deliveries } = setup(4096);
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    const sizes = [0, 1, 15, 300, 1500, 2000, 3000, 100, 5000, 7];
    sizes.forEach((size, n) => send(publishRecord([1], numbered(n, size))));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 5, noAck: false, prefetch: 0, limitSlot: -1 }));
    const got = deliveries();
    expect(got.map((d) => d.body)).toEqual(sizes.map((size, n) => numbered(n, size)));
    expect(got.map((d) => d.msgId)).toEqual(sizes.map((_, n) => n + 1));
    // None is taken before the batch is read: a block goes by reference while it fits beside those handed over before it.
    const held: boolean[] = [];
    let bytes = 0;
    for (const size of sizes) {
      const blockSize = R.blockSize(3 + 3, 0, size);
      held.push(bytes + blockSize <= 4096);
      if (bytes + blockSize <= 4096) bytes += blockSize;
    }
    expect(got.map((d) => d.byReference)).toEqual(held);
    expect(held).toContain(false);
  });

  it('hands over again once the acceptor took what it held, and a fanout message by reference to each of its queues', () => {
    const { send, deliveries, handoff } = setup(2 * R.blockSize(6, 0, 1000));
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'a' }));
    send(controlRecord(0, { op: 'declare', queueId: 2, name: 'b' }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: true, prefetch: 0, limitSlot: -1 }));
    send(controlRecord(0, { op: 'consume', queueId: 2, consumerId: 2, noAck: true, prefetch: 0, limitSlot: -1 }));
    for (let n = 0; n < 50; n++) {
      send(publishRecord([1, 2], numbered(n, 1000)));
      const got = deliveries();
      expect(got).toEqual([
        { body: numbered(n, 1000), byReference: true, consumerId: 1, msgId: n + 1 },
        { body: numbered(n, 1000), byReference: true, consumerId: 2, msgId: n + 1 },
      ]);
      send(creditRecord([[1, 1], [2, 1]]));
    }
    expect(handoff.fits(2 * R.blockSize(6, 0, 1000))).toBe(true);
  });

  it('keeps the order across thousands of blocks taken a few at a time, and refuses a take with nothing handed over', () => {
    const handoff = new BlockHandoff(Infinity);
    const message = (n: number) => ({ block: Buffer.from(String(n)), view: new DataView(new ArrayBuffer(8)), at: 0 });
    let pushed = 0;
    let taken = 0;
    for (let round = 0; round < 300; round++) {
      for (let i = 0; i < 10; i++) handoff.push(message(pushed++));
      for (let i = 0; i < 7 && taken < pushed; i++) expect(handoff.take().block.toString()).toBe(String(taken++));
    }
    while (taken < pushed) expect(handoff.take().block.toString()).toBe(String(taken++));
    expect(() => handoff.take()).toThrow(/no message handed over/);
  });
});

describe('deliveries by reference, any interleaving (fast-check)', () => {
  type Op =
    | { kind: 'publish'; fanout: boolean; queue: number; size: number }
    | { kind: 'consume'; queue: number }
    | { kind: 'cancel'; pick: number }
    | { kind: 'deliver' }
    | { kind: 'read'; max: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('publish' as const), fanout: fc.boolean(), queue: fc.constantFrom(1, 2), size: fc.integer({ min: 0, max: 6000 }) }),
    fc.record({ kind: fc.constant('consume' as const), queue: fc.constantFrom(1, 2) }),
    fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('deliver' as const) }),
    fc.record({ kind: fc.constant('read' as const), max: fc.integer({ min: 1, max: 20 }) }),
  );

  it("reads each record's own block whatever the limit, and every message reaches a live consumer of each of its queues once", () => {
    fc.assert(
      fc.property(fc.integer({ min: 256, max: 64 * 1024 }), fc.array(op, { maxLength: 80 }), (limit, ops) => {
        const out = Ring.allocate(1 << 22);
        const handoff = new BlockHandoff(limit);
        const shard = new Shard(new RingWriter(out, new LocalDoorbell()), undefined, undefined, undefined, handoff);
        const send = (record: Buffer) => shard.handle(record, 0, record.length);
        send(controlRecord(0, { op: 'declare', queueId: 1, name: 'a' }));
        send(controlRecord(0, { op: 'declare', queueId: 2, name: 'b' }));
        const sizes: number[] = [];
        /** consumer id -> its queue, while it is subscribed */
        const live = new Map<number, number>();
        let nextConsumer = 1;
        /** per queue, the numbers delivered to a consumer that was live when its record was read */
        const got = new Map<number, number[]>([[1, []], [2, []]]);
        const published = new Map<number, number[]>([[1, []], [2, []]]);
        const consume = (queue: number) => {
          live.set(nextConsumer, queue);
          send(controlRecord(0, { op: 'consume', queueId: queue, consumerId: nextConsumer++, noAck: true, prefetch: 0, limitSlot: -1 }));
        };
        /** Reads up to `max` records, as the acceptor does: every record by reference takes its message, a cancelled consumer's too. */
        const read = (max: number): number => {
          out.publish();
          const credits = new Map<number, number>();
          let n = 0;
          for (let at = out.peek(); at >= 0 && n < max; at = out.peek(), n++) {
            const buf = out.data;
            if (buf[at] === R.S2A_DELIVER) {
              const message = R.isByReference(buf, at) ? handoff.take() : null;
              const body = message !== null ? bodyOf(message.block) : bodyOf(buf, R.deliveredBlockAt(buf, at, R.DELIVER_HEADER));
              const number = Number.parseInt(body, 10);
              expect(body).toBe(numbered(number, sizes[number]));
              const consumerId = buf.readUInt32LE(at + 2);
              const queue = live.get(consumerId);
              if (queue !== undefined) {
                got.get(queue)!.push(number);
                credits.set(consumerId, (credits.get(consumerId) ?? 0) + 1);
              }
            }
            out.consume();
          }
          if (credits.size > 0) send(creditRecord([...credits]));
          return n;
        };
        for (const o of ops) {
          if (o.kind === 'publish') {
            const queues = o.fanout ? [1, 2] : [o.queue];
            for (const q of queues) published.get(q)!.push(sizes.length);
            send(publishRecord(queues, numbered(sizes.length, o.size)));
            sizes.push(o.size);
          } else if (o.kind === 'consume') consume(o.queue);
          else if (o.kind === 'cancel' && live.size > 0) {
            const consumerId = [...live.keys()][o.pick % live.size];
            live.delete(consumerId);
            send(controlRecord(0, { op: 'cancel', consumerId }));
          } else if (o.kind === 'deliver') shard.deliver();
          else if (o.kind === 'read') read(o.max);
        }
        // Then a consumer on each queue, and everything delivered and read.
        consume(1);
        consume(2);
        for (let rounds = 0; rounds < 1000; rounds++) {
          shard.deliver();
          if (read(Infinity) === 0) break;
        }
        expect(() => handoff.take()).toThrow(/no message handed over/);
        expect(handoff.fits(limit)).toBe(true);
        for (const q of [1, 2]) expect([...got.get(q)!].sort((a, b) => a - b)).toEqual(published.get(q));
      }),
      { numRuns: 150 },
    );
  });
});
