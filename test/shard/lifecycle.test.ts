/**
 * The shard's queue lifecycle, inline and on a clock the test sets: deadlines
 * (the earliest head expiry or x-expires), expiry at the head, length limits
 * and the DEAD_LETTER and QUEUE_EXPIRED records. No threads, no timers.
 */
import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { Shard } from '../../src/shard/shard.js';
import { EXPIRY_SLICE } from '../../src/shard/lifecycle.js';
import { DEAD_LETTER_SLICE } from '../../src/shard/dead-letter-outbox.js';
import * as R from '../../src/shard/records.js';
import { decodeBasicProperties } from '../../src/protocol/methods.generated.js';
import type { QueueConfig } from '../../src/vhost/queue-arguments.js';
import { block, controlRecord, publishRecord, settleRecord } from './records.js';

const classic = (extra: Partial<QueueConfig>): QueueConfig => ({ type: 'classic', overflow: 'drop-head', singleActiveConsumer: false, ...extra });

const blockView = new R.BlockView();
/** The bodies of the DEAD_LETTER records among `got`, in order. */
const deadBodies = (got: { type: number; buf: Buffer }[]): string[] =>
  got.filter((r) => r.type === R.S2A_DEAD_LETTER).map((r) => {
    const v = blockView.read(r.buf, R.DEAD_LETTER_HEADER);
    return r.buf.toString('utf8', v.bodyAt, v.end);
  });

function setup(now: number) {
  const out = Ring.allocate(1 << 16);
  const writer = new RingWriter(out, new LocalDoorbell());
  const shard = new Shard(writer);
  shard.advance(now);
  const send = (record: Buffer) => shard.handle(record, 0, record.length);
  /** The records the shard wrote since the last call, as [type, payload view at its start]. */
  const records = (): { type: number; buf: Buffer; at: number; end: number }[] => {
    const got = [];
    out.publish(); // what the writer committed (its flush() would publish it)
    for (let at = out.peek(); at >= 0; at = out.peek()) {
      const buf = Buffer.from(out.data.subarray(at, at + out.recordSize));
      got.push({ type: buf[0], buf, at: 0, end: buf.length });
      out.consume();
    }
    return got;
  };
  const count = (queueId: number): number => {
    send(controlRecord(99, { op: 'count', queueId }));
    const reply = records().find((r) => r.type === R.S2A_REPLY)!;
    return R.unpackControl(reply.buf, R.CONTROL_HEADER, reply.end).messageCount;
  };
  return { shard, send, records, count, writer };
}

describe('Shard lifecycle (inline, on a set clock)', () => {
  it('message TTL: the next deadline is the head expiry; at it the expired heads go, and only those', () => {
    const { shard, send, count } = setup(1000);
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q', config: classic({ messageTtl: 100 }) }));
    expect(shard.nextDeadline()).toBe(Infinity);
    for (const body of ['a', 'b']) send(publishRecord([1], body));
    shard.advance(1050);
    send(publishRecord([1], 'c'));
    expect(shard.nextDeadline()).toBe(1100);
    shard.settleLifecycles(1099);
    expect(count(1)).toBe(3);
    shard.settleLifecycles(1100);
    expect(count(1)).toBe(1);
    expect(shard.nextDeadline()).toBe(1150);
    shard.settleLifecycles(1150);
    expect(count(1)).toBe(0);
    expect(shard.nextDeadline()).toBe(Infinity);
  });

  it('a message behind one that never expires gets its deadline once it reaches the head; if past it, the get that took the head drops it', () => {
    const expiring = (ms: string, body: string) => block('ex', 'rk', Buffer.from('0100' + '03' + Buffer.from(ms).toString('hex'), 'hex'), body);
    for (const getAt of [1200, 1400]) {
      const { shard, send, records, count } = setup(1000);
      send(controlRecord(0, { op: 'declare', queueId: 3, name: 'q', config: classic({}) }));
      send(controlRecord(0, { op: 'declare', queueId: 4, name: 'other', config: classic({}) }));
      send(publishRecord([3], 'forever'));
      send(publishRecord([3], expiring('300', 'brief')));
      send(publishRecord([4], expiring('100', 'soon')));
      expect(shard.nextDeadline()).toBe(1100);
      shard.settleLifecycles(1100); // 'soon' goes; q's head never expires: nothing due after this sweep
      expect(shard.nextDeadline()).toBe(Infinity);
      expect(count(3)).toBe(2);
      shard.advance(getAt);
      send(controlRecord(8, { op: 'get', queueId: 3, noAck: true }));
      const getOk = records().find((r) => r.type === R.S2A_GET_OK)!;
      if (getAt < 1300) {
        expect(getOk.buf.readUInt32LE(getOk.at + 18)).toBe(1); // the count left in the get-ok
        expect(shard.nextDeadline()).toBe(1300);
        shard.settleLifecycles(1300);
      } else {
        // past its deadline: dropped before the get-ok counts what is left, as RabbitMQ does
        expect(getOk.buf.readUInt32LE(getOk.at + 18)).toBe(0);
      }
      expect(count(3)).toBe(0);
    }
  });

  it('x-expires: QUEUE_EXPIRED once the queue was unused that long, not while it has a consumer, again after use', () => {
    const { shard, send, records } = setup(1000);
    send(controlRecord(0, { op: 'declare', queueId: 5, name: 'q', config: classic({ expires: 500 }) }));
    expect(shard.nextDeadline()).toBe(1500);
    shard.settleLifecycles(1499);
    expect(records().filter((r) => r.type === R.S2A_QUEUE_EXPIRED)).toHaveLength(0);
    shard.advance(1400);
    send(controlRecord(0, { op: 'consume', queueId: 5, consumerId: 9, noAck: true, prefetch: 0, limitSlot: -1 }));
    shard.settleLifecycles(5000);
    expect(records().filter((r) => r.type === R.S2A_QUEUE_EXPIRED)).toHaveLength(0);
    shard.advance(6000);
    send(controlRecord(0, { op: 'cancel', consumerId: 9 }));
    expect(shard.nextDeadline()).toBe(6500);
    shard.settleLifecycles(6500);
    const expired = records().filter((r) => r.type === R.S2A_QUEUE_EXPIRED);
    expect(expired.map((r) => r.buf.readUInt32LE(1))).toEqual([5]);
    // reported once: the acceptor deletes it
    shard.settleLifecycles(9000);
    expect(records().filter((r) => r.type === R.S2A_QUEUE_EXPIRED)).toHaveLength(0);
    expect(shard.nextDeadline()).toBe(Infinity);
  });

  it('a backlog that expired at once goes EXPIRY_SLICE a sweep and a delivery pass, none past a full output ring, each message dead-lettered once, in order', () => {
    const { shard, send, records, writer } = setup(1000);
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'delay', config: classic({ messageTtl: 100, deadLetterExchange: 'dlx' }) }));
    const total = 3000;
    for (let i = 0; i < total; i++) send(publishRecord([1], `m${i}`));
    const bodies: string[] = [];
    const take = () => {
      const dead = deadBodies(records());
      bodies.push(...dead);
      return dead.length;
    };
    shard.settleLifecycles(1200);
    expect(take()).toBe(EXPIRY_SLICE);
    expect(shard.nextDeadline(), 'the rest is due now').toBeLessThanOrEqual(1200);
    // Not read: the ring fills; a record overflows, and the sweeps stop there.
    for (let i = 0; i < 20; i++) shard.settleLifecycles(1200);
    expect(writer.backlogged).toBe(true);
    expect(writer.overflowBytes).toBeLessThan(1024);
    expect(shard.nextDeadline(), 'a full ring waits for the reader').toBe(Infinity);
    take();
    writer.drainOverflow();
    take();
    // A consumer's delivery pass expires its queue's heads a slice at a time too.
    shard.advance(1200);
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: true, prefetch: 0, limitSlot: -1 }));
    const before = bodies.length;
    shard.deliver();
    shard.settleLifecycles(1200); // the batch's end writes them
    expect(take()).toBe(EXPIRY_SLICE);
    while (bodies.length < total) {
      shard.deliver();
      shard.settleLifecycles(1200);
      take();
      writer.drainOverflow();
    }
    expect(before).toBeGreaterThan(EXPIRY_SLICE);
    expect(bodies).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
  });

  it('a reject of 3,000 unacked at once: DEAD_LETTER_SLICE dead letters a batch, none past a full ring, each once in order; a fence waits for the last; maxlen deaths are not held back; a delete writes the rest first', () => {
    const { shard, send, records, writer } = setup(1000);
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'src', config: classic({ deadLetterExchange: 'dlx' }) }));
    send(controlRecord(0, { op: 'declare', queueId: 2, name: 'capped', config: classic({ maxLength: 1, deadLetterExchange: 'dlx' }) }));
    const total = 3000;
    for (let i = 0; i < total; i++) send(publishRecord([1], `m${i}`));
    const unacked: [number, number][] = [];
    for (let i = 0; i < total; i++) {
      send(controlRecord(0, { op: 'get', queueId: 1, noAck: false }));
      const got = records().find((r) => r.type === R.S2A_GET_OK)!;
      unacked.push([1, got.buf.readDoubleLE(10)]);
    }
    const bodies: string[] = [];
    /** Dead letters written since the last call, and whether the fence (request 77) was answered, after the last of them. */
    const take = () => {
      const got = records();
      const fence = got.findIndex((r) => r.type === R.S2A_REPLY && r.buf.readUInt32LE(1) === 77);
      if (fence >= 0) expect(deadBodies(got.slice(fence)), 'dead letters after the fence').toEqual([]);
      const dead = deadBodies(got);
      bodies.push(...dead);
      return { dead: dead.length, fenced: fence >= 0 };
    };
    send(settleRecord(R.SETTLE_DROP, unacked));
    send(controlRecord(77, { op: 'fence' }));
    expect(take(), 'nothing before the batch ends').toEqual({ dead: 0, fenced: false });
    expect(shard.settleLifecycles(1000)).toBe(true);
    expect(take()).toEqual({ dead: DEAD_LETTER_SLICE, fenced: false });
    expect(shard.nextDeadline(), 'the rest is due now').toBeLessThanOrEqual(1000);
    // Two publishes into the capped queue kill one: a dead letter more in this batch (it waits its turn behind the others).
    send(publishRecord([2], 'c0'));
    send(publishRecord([2], 'c1'));
    shard.settleLifecycles(1000);
    expect(take()).toEqual({ dead: DEAD_LETTER_SLICE + 1, fenced: false });
    // Not read: the ring fills; a record overflows, and the batches stop writing there.
    for (let i = 0; i < 20; i++) shard.settleLifecycles(1000);
    expect(writer.backlogged).toBe(true);
    expect(writer.overflowBytes).toBeLessThan(1024);
    expect(shard.nextDeadline(), 'a full ring waits for the reader').toBe(Infinity);
    let fenced = false;
    while (bodies.length < total / 2) {
      writer.drainOverflow();
      fenced = take().fenced;
      shard.settleLifecycles(1000);
    }
    expect(fenced).toBe(false);
    // Deleting the queue writes what waits first: the acceptor routes a dead letter only while its queue is there.
    send(controlRecord(78, { op: 'delete', queueId: 1 }));
    for (let i = 0; i < 100 && writer.backlogged; i++) {
      writer.drainOverflow();
      fenced ||= take().fenced;
    }
    fenced ||= take().fenced;
    expect(fenced, 'the fence answered once all were written').toBe(true);
    expect(bodies).toEqual([...Array.from({ length: total }, (_, i) => `m${i}`), 'c0']);
  });

  it('a policy that lowers a length limit far below the queue: its maxlen dead letters go DEAD_LETTER_SLICE a batch too, each once in order; a publish kills one more besides', () => {
    const { shard, send, records, count } = setup(1000);
    const config = classic({ deadLetterExchange: 'dlx' });
    send(controlRecord(0, { op: 'declare', queueId: 5, name: 'long', config }));
    const total = 3000;
    for (let i = 0; i < total; i++) send(publishRecord([5], `m${i}`));
    shard.settleLifecycles(1000);
    shard.advance(1000);
    send(controlRecord(0, { op: 'configure', queueId: 5, config: { ...config, maxLength: 10 } }));
    expect(count(5)).toBe(10);
    const bodies: string[] = [];
    const take = () => {
      const dead = deadBodies(records());
      bodies.push(...dead);
      return dead.length;
    };
    shard.settleLifecycles(1000);
    expect(take()).toBe(DEAD_LETTER_SLICE);
    shard.advance(1000);
    send(publishRecord([5], 'late'));
    shard.settleLifecycles(1000);
    expect(take()).toBe(DEAD_LETTER_SLICE + 1);
    for (let turn = 0; turn < 20 && bodies.length < total - 9; turn++) {
      shard.advance(1000);
      shard.settleLifecycles(1000);
      take();
    }
    expect(bodies).toEqual(Array.from({ length: total - 9 }, (_, i) => `m${i}`));
  });

  it('drop-head trims at the end of the batch and dead-letters what it drops; a rejected delivery is dead-lettered too', () => {
    const { shard, send, records, count } = setup(1000);
    send(controlRecord(0, { op: 'declare', queueId: 2, name: 'src', config: classic({ maxLength: 2, deadLetterExchange: 'dlx' }) }));
    for (const body of ['a', 'b', 'c', 'd']) send(publishRecord([2], body));
    shard.settleLifecycles(1000);
    const dead = records().filter((r) => r.type === R.S2A_DEAD_LETTER);
    const view = new R.BlockView();
    const described = dead.map((r) => {
      const v = view.read(r.buf, R.DEAD_LETTER_HEADER);
      const props = decodeBasicProperties(r.buf, v.propertiesAt, v.propertiesEnd);
      const death = (props.headers!['x-death'] as any[])[0];
      return `${r.buf.readUInt32LE(1)} ${r.buf.toString('utf8', v.start + 1, v.routingKeyAt)} ${r.buf.toString('utf8', v.routingKeyAt + 1, v.propertiesAt - 4)} ${r.buf.toString('utf8', v.bodyAt, v.end)} ${death.reason} ${death.queue}`;
    });
    expect(described).toEqual(['2 dlx rk a maxlen src', '2 dlx rk b maxlen src']);
    expect(count(2)).toBe(2);
    send(controlRecord(7, { op: 'get', queueId: 2, noAck: false }));
    const got = records().find((r) => r.type === R.S2A_GET_OK)!;
    send(settleRecord(R.SETTLE_DROP, [[2, got.buf.readDoubleLE(10)]]));
    shard.settleLifecycles(1000);
    expect(records().filter((r) => r.type === R.S2A_DEAD_LETTER)).toHaveLength(1);
    expect(count(2)).toBe(1);
  });
});
