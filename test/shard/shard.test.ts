/** The shard's queue logic, inline: records in, records out, no threads. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { Shard } from '../../src/shard/shard.js';
import { CREDIT_WINDOW, STALL_MS, type ShardQueue } from '../../src/shard/queue.js';
import { ShardRunner } from '../../src/shard/shard-runner.js';
import { ChannelLimits } from '../../src/shard/channel-limits.js';
import * as R from '../../src/shard/records.js';
import { controlRecord, creditRecord, publishRecord, settleRecord } from './records.js';
import { ENTRY_OVERHEAD, UNACKED_OVERHEAD } from '../../src/shard/queue.js';





interface Delivered {
  consumerId: number;
  msgId: number;
  redelivered: boolean;
  /** it took a place under its channel's global limit */
  counted: boolean;
  body: string;
}

function setup(limits = new ChannelLimits()) {
  const out = Ring.allocate(1 << 16);
  const shard = new Shard(new RingWriter(out, new LocalDoorbell()), undefined, undefined, limits);
  const view = new R.BlockView();
  const send = (record: Buffer) => shard.handle(record, 0, record.length);
  const backlog = shard.backlog;
  /** Runs deliveries and returns the DELIVER records they produced. */
  const deliveries = (): Delivered[] => {
    shard.deliver();
    const got: Delivered[] = [];
    out.publish(); // what the writer committed (its flush() would publish it)
    for (let at = out.peek(); at >= 0; at = out.peek()) {
      const buf = out.data;
      if (buf[at] === R.S2A_DELIVER) {
        const v = view.read(buf, at + R.DELIVER_HEADER);
        got.push({
          consumerId: buf.readUInt32LE(at + 2),
          msgId: buf.readDoubleLE(at + 10),
          redelivered: R.isRedelivered(buf, at),
          counted: R.isCounted(buf, at),
          body: buf.toString('utf8', v.bodyAt, v.end),
        });
      }
      out.consume();
    }
    return got;
  };
  return { send, deliveries, backlog, shard };
}

describe('Shard (inline)', () => {
  it('delivers round-robin within each consumer prefetch, and an ack frees credit', () => {
    const { send, deliveries } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 7, name: 'q' }));
    send(controlRecord(0, { op: 'consume', queueId: 7, consumerId: 1, noAck: false, prefetch: 1, limitSlot: -1 }));
    send(controlRecord(0, { op: 'consume', queueId: 7, consumerId: 2, noAck: false, prefetch: 1, limitSlot: -1 }));
    for (const body of ['a', 'b', 'c']) send(publishRecord([7], body));
    const first = deliveries();
    expect(first.map((d) => [d.consumerId, d.body])).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    send(settleRecord(R.SETTLE_ACK, [[7, first[0].msgId]]));
    expect(deliveries().map((d) => [d.consumerId, d.body])).toEqual([[1, 'c']]);
  });

  it('requeues in original order with redelivered set', () => {
    const { send, deliveries } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 5, noAck: false, prefetch: 2, limitSlot: -1 }));
    for (const body of ['m1', 'm2', 'm3']) send(publishRecord([1], body));
    const got = deliveries();
    expect(got.map((d) => d.body)).toEqual(['m1', 'm2']);
    send(creditRecord([[5, 2]])); // the acceptor wrote both to the client
    send(controlRecord(0, { op: 'cancel', consumerId: 5 }));
    send(settleRecord(R.SETTLE_REQUEUE, [[1, got[1].msgId], [1, got[0].msgId]]));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 6, noAck: true, prefetch: 0, limitSlot: -1 }));
    expect(deliveries().map((d) => [d.body, d.redelivered])).toEqual([
      ['m1', true],
      ['m2', true],
      ['m3', false],
    ]);
  });

  it('shares one fanout message between queues and drops rejected ones', () => {
    const { send, deliveries } = setup();
    for (const id of [1, 2]) send(controlRecord(0, { op: 'declare', queueId: id, name: `q${id}` }));
    send(publishRecord([1, 2], 'hello'));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: false, prefetch: 0, limitSlot: -1 }));
    send(controlRecord(0, { op: 'consume', queueId: 2, consumerId: 2, noAck: false, prefetch: 0, limitSlot: -1 }));
    const got = deliveries();
    expect(got.map((d) => [d.consumerId, d.body]).sort()).toEqual([
      [1, 'hello'],
      [2, 'hello'],
    ]);
    send(settleRecord(R.SETTLE_DROP, [[1, got.find((d) => d.consumerId === 1)!.msgId]]));
    expect(deliveries()).toEqual([]);
  });

  it('counts what ready messages cost, and flags a queue congested only while it has consumers', () => {
    const { send, deliveries, backlog } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 3, name: 'q' }));
    for (let i = 0; i < 10_001; i++) send(publishRecord([3], `m${i}`));
    // Nobody reads q: it may fill up without slowing its publishers, but it costs memory.
    expect(backlog.entries).toBe(10_001);
    expect(backlog.bytes).toBeGreaterThan(10_001 * ENTRY_OVERHEAD);
    expect(backlog.flowChanged.size).toBe(0);
    send(controlRecord(0, { op: 'consume', queueId: 3, consumerId: 1, noAck: false, prefetch: 1, limitSlot: -1 }));
    expect([...backlog.flowChanged].map((q) => [q.id, q.congested])).toEqual([[3, true]]);
    backlog.flowChanged.clear();
    deliveries(); // one is out with the consumer: 10,000 left, still over half
    expect(backlog.entries).toBe(10_000);
    expect(backlog.flowChanged.size).toBe(0);
    send(controlRecord(0, { op: 'cancel', consumerId: 1 }));
    expect([...backlog.flowChanged].map((q) => [q.id, q.congested])).toEqual([[3, false]]);
    send(controlRecord(0, { op: 'purge', queueId: 3 }));
    expect([backlog.entries, backlog.bytes]).toEqual([0, 0]);
  });

  it('clears congestion when the queue falls below half the mark', () => {
    const { send, deliveries, backlog } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 4, name: 'q' }));
    send(controlRecord(0, { op: 'consume', queueId: 4, consumerId: 1, noAck: false, prefetch: 100, limitSlot: -1 }));
    deliveries();
    for (let i = 0; i < 10_001; i++) send(publishRecord([4], `m${i}`));
    const [queue] = [...backlog.flowChanged];
    expect([queue.id, queue.congested, queue.messageCount]).toEqual([4, true, 10_001]);
    backlog.flowChanged.clear();
    // The consumer takes what fits in the output ring (no overflow drain here), then acks.
    for (let round = 0; queue.congested; round++) {
      expect(round).toBeLessThan(100);
      const got = deliveries();
      send(creditRecord([[1, got.length]]));
      send(settleRecord(R.SETTLE_ACK, got.map((d) => [4, d.msgId] as [number, number])));
    }
    expect(queue.messageCount).toBeLessThan(5_000); // below half of the mark
    expect(queue.messageCount).toBeGreaterThan(4_800); // and not before
    expect(backlog.flowChanged.has(queue)).toBe(true);
  });

  it('stops holding publishers back while a congested queue\'s consumers take nothing for STALL_MS, and again once they take one', () => {
    const { send, deliveries, backlog, shard } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 5, name: 'q' }));
    send(controlRecord(0, { op: 'consume', queueId: 5, consumerId: 1, noAck: false, prefetch: 1, limitSlot: -1 }));
    for (let i = 0; i < 10_002; i++) send(publishRecord([5], `m${i}`));
    const [queue] = [...backlog.flowChanged];
    expect([queue.id, queue.congested]).toEqual([5, true]);
    let held = deliveries();
    expect(held.map((d) => d.body)).toEqual(['m0']);
    backlog.flowChanged.clear();
    const t0 = 1_000_000;
    shard.settleLifecycles(t0);
    expect(shard.nextDeadline()).toBe(t0 + STALL_MS);

    // A consumer that takes one message a little under every STALL_MS keeps it congested.
    const takeOne = () => {
      send(creditRecord([[1, held.length]]));
      send(settleRecord(R.SETTLE_ACK, held.map((d) => [5, d.msgId] as [number, number])));
      held = deliveries();
      expect(held).toHaveLength(1);
    };
    takeOne();
    shard.settleLifecycles(t0 + STALL_MS - 1);
    shard.settleLifecycles(t0 + STALL_MS);
    expect(queue.congested).toBe(true);
    expect(shard.nextDeadline()).toBe(t0 + 2 * STALL_MS - 1);

    // Then it holds its message and takes nothing: at the deadline its publishers go on.
    shard.settleLifecycles(t0 + 2 * STALL_MS - 2);
    expect(queue.congested).toBe(true);
    shard.settleLifecycles(t0 + 2 * STALL_MS - 1);
    expect([...backlog.flowChanged].map((q) => [q.id, q.congested])).toEqual([[5, false]]);
    expect(shard.nextDeadline()).toBe(Infinity);
    backlog.flowChanged.clear();
    for (let i = 0; i < 5_000; i++) send(publishRecord([5], `n${i}`));
    shard.settleLifecycles(t0 + 3 * STALL_MS);
    expect(queue.congested).toBe(false);
    expect(backlog.flowChanged.size).toBe(0);

    // It takes one again: over the mark, its publishers wait for it once more.
    takeOne();
    shard.settleLifecycles(t0 + 3 * STALL_MS + 1);
    expect([...backlog.flowChanged].map((q) => [q.id, q.congested])).toEqual([[5, true]]);
    expect(queue.messageCount).toBe(15_002 - 3); // two acked, one out with the consumer

    // Stalled again, then deleted: watched no more.
    shard.settleLifecycles(t0 + 4 * STALL_MS + 1);
    expect([queue.congested, backlog.stalled.has(queue)]).toEqual([false, true]);
    send(controlRecord(0, { op: 'delete', queueId: 5 }));
    expect([backlog.congested.size, backlog.stalled.size, shard.nextDeadline()]).toEqual([0, 0, Infinity]);
  });

  type StallOp = { kind: 'publish'; count: number } | { kind: 'take' } | { kind: 'advance'; ms: number } | { kind: 'cancel' } | { kind: 'consume'; prefetch: number };
  const stallOp: fc.Arbitrary<StallOp> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('publish' as const), count: fc.integer({ min: 1_000, max: 6_000 }) }) },
    { weight: 3, arbitrary: fc.constant({ kind: 'take' as const }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 1_500 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'cancel' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('consume' as const), prefetch: fc.integer({ min: 1, max: 50 }) }) },
  );

  it('never holds publishers back for more than STALL_MS of consumers taking nothing, and holds them whenever a consumer takes from a queue over its mark (fast-check)', () => {
    const seen = { congested: 0, stalled: 0, resumed: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(stallOp, { minLength: 15, maxLength: 40 }), (prefetch, ops) => {
        const { send, deliveries, backlog, shard } = setup();
        send(controlRecord(0, { op: 'declare', queueId: 9, name: 'q' }));
        const queue = (shard as unknown as { queues: Map<number, ShardQueue> }).queues.get(9)!;
        let consumerId = 0; // 0: none subscribed
        let consumers = 0;
        let held: Delivered[] = [];
        let now = 1_000_000;
        let progress = false; // a consumer took something since the last sweep
        let armedAt = now; // the last sweep that saw it take, or that first saw the queue congested
        let congestedAtSweep = false;
        let lastFlip: boolean | undefined;
        const flips = () => {
          if (!backlog.flowChanged.has(queue)) return;
          expect(queue.congested, 'a QUEUE_FLOW that changes nothing').not.toBe(lastFlip ?? false);
          lastFlip = queue.congested;
          backlog.flowChanged.clear();
        };
        const take = () => {
          if (held.length > 0) {
            send(creditRecord([[consumerId, held.length]]));
            send(settleRecord(R.SETTLE_ACK, held.map((d) => [9, d.msgId] as [number, number])));
            progress = true;
          }
          held = consumerId > 0 ? deliveries() : [];
          if (held.length > 0) progress = true;
        };
        let published = 0;
        for (const op of [{ kind: 'consume', prefetch } as StallOp, ...ops]) {
          if (op.kind === 'publish') for (let i = 0; i < op.count; i++) send(publishRecord([9], `m${published++}`));
          else if (op.kind === 'take') take();
          else if (op.kind === 'cancel' && consumerId > 0) {
            take(); // acks what it holds (and may take more, acked here too)
            if (held.length > 0) send(settleRecord(R.SETTLE_ACK, held.map((d) => [9, d.msgId] as [number, number])));
            send(controlRecord(0, { op: 'cancel', consumerId }));
            held = [];
            consumerId = 0;
          } else if (op.kind === 'consume' && consumerId === 0) {
            consumerId = ++consumers;
            send(controlRecord(0, { op: 'consume', queueId: 9, consumerId, noAck: false, prefetch: op.prefetch, limitSlot: -1 }));
            held = deliveries();
            if (held.length > 0) progress = true;
          } else if (op.kind === 'advance') {
            now += op.ms;
            shard.settleLifecycles(now);
            if (progress || !congestedAtSweep) armedAt = now;
            const overMark = consumerId > 0 && queue.messageCount > 10_000;
            if (queue.congested) {
              expect(now - armedAt, 'congested although its consumers took nothing for STALL_MS').toBeLessThan(STALL_MS);
              const deadline = shard.nextDeadline();
              expect(deadline).toBeGreaterThan(now);
              expect(deadline).toBeLessThanOrEqual(now + STALL_MS);
            } else {
              expect(shard.nextDeadline()).toBe(Infinity);
              if (overMark) expect(backlog.stalled.has(queue), 'over its mark with a consumer, neither congested nor stalled').toBe(true);
            }
            if (overMark && progress) expect(queue.congested, 'its consumer took one, over the mark: not congested').toBe(true);
            if (queue.congested) seen.congested++;
            if (backlog.stalled.has(queue)) seen.stalled++;
            if (queue.congested && !congestedAtSweep && overMark && progress) seen.resumed++;
            congestedAtSweep = queue.congested;
            progress = false;
          }
          flips();
        }
      }),
      { numRuns: 40 },
    );
    // The runs reached each state, or the property said nothing. (Over 5 failed
    // about once in 2,800 runs: 70% of the runs never stall, by chance.)
    expect(Math.min(seen.congested, seen.stalled, seen.resumed)).toBeGreaterThan(0);
  }, 60_000);
});

describe('ShardRunner reports', () => {
  /** A runner over fresh rings whose ready entries may take `heapBudget` bytes of heap. */
  function runner(heapBudget: number) {
    const input = Ring.allocate(1 << 20);
    const output = Ring.allocate(1 << 20);
    const run = new ShardRunner(input, output, new LocalDoorbell(), heapBudget);
    const writer = new RingWriter(input, new LocalDoorbell());
    const send = (record: Buffer) => {
      writer.begin(record.length);
      record.copy(writer.buf, writer.offset);
      writer.end();
      writer.flush();
    };
    /** Runs one batch and returns the QUEUE_FLOW and MEMORY records it sent. */
    const work = () => {
      run.work();
      const flow: [number, boolean][] = [];
      const memory: { alarm: boolean; bytes: number }[] = [];
      for (let at = output.peek(); at >= 0; at = output.peek()) {
        const buf = output.data;
        if (buf[at] === R.S2A_QUEUE_FLOW) flow.push([buf.readUInt32LE(at + 2), buf[at + 1] === 1]);
        if (buf[at] === R.S2A_MEMORY) memory.push({ alarm: buf[at + 1] === 1, bytes: buf.readDoubleLE(at + 2) });
        output.consume();
      }
      return { flow, memory };
    };
    return { send, work };
  }

  it('sends QUEUE_FLOW when a queue with a consumer passes 10,000 ready messages, and when it loses the consumer', () => {
    const { send, work } = runner(1e12);
    send(controlRecord(0, { op: 'declare', queueId: 9, name: 'q' }));
    send(controlRecord(0, { op: 'consume', queueId: 9, consumerId: 1, noAck: false, prefetch: 1, limitSlot: -1 }));
    expect(work().flow).toEqual([]);
    for (let i = 0; i < 10_002; i++) send(publishRecord([9], `m${i}`));
    expect(work().flow).toEqual([]); // one batch of 4096 records: not yet past the mark
    expect(work().flow).toEqual([]);
    expect(work().flow).toEqual([[9, true]]);
    send(controlRecord(0, { op: 'cancel', consumerId: 1 }));
    expect(work().flow).toEqual([[9, false]]);
  });

  it('raises its heap alarm past its budget, clears it when the messages are delivered, and reports what they cost', () => {
    const { send, work } = runner(100 * ENTRY_OVERHEAD);
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    for (let i = 0; i < 100; i++) send(publishRecord([1], 'x'));
    expect(work().memory).toEqual([]); // under the budget, and under a MiB of bytes: nothing to say
    send(publishRecord([1], 'x'));
    const [raised] = work().memory;
    expect(raised.alarm).toBe(true);
    expect(raised.bytes).toBeGreaterThan(101 * ENTRY_OVERHEAD);
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: true, prefetch: 0, limitSlot: -1 }));
    expect(work().memory).toEqual([{ alarm: false, bytes: 0 }]);
  });

  it('counts unacked entries against its heap budget too (UNACKED_OVERHEAD each), until they are acked', () => {
    const { send, work } = runner(100 * UNACKED_OVERHEAD);
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: false, prefetch: 0, limitSlot: -1 }));
    for (let i = 0; i < 100; i++) send(publishRecord([1], 'x'));
    expect(work().memory).toEqual([]); // delivered, unacked, at the budget
    send(publishRecord([1], 'x'));
    const [raised] = work().memory;
    expect(raised.alarm).toBe(true);
    expect(raised.bytes).toBeGreaterThan(101 * UNACKED_OVERHEAD);
    send(settleRecord(R.SETTLE_ACK, Array.from({ length: 101 }, (_, i): [number, number] => [1, i + 1])));
    expect(work().memory).toEqual([{ alarm: false, bytes: 0 }]);
  });

  it('keeps at most CREDIT_WINDOW deliveries in flight per consumer until the acceptor credits them', () => {
    const { send, deliveries } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: true, prefetch: 0, limitSlot: -1 }));
    for (let i = 0; i < CREDIT_WINDOW + 100; i++) send(publishRecord([1], `m${i}`));
    expect(deliveries()).toHaveLength(CREDIT_WINDOW);
    expect(deliveries()).toEqual([]);
    send(creditRecord([[1, 60]]));
    expect(deliveries().map((d) => d.body)).toEqual(Array.from({ length: 60 }, (_, i) => `m${CREDIT_WINDOW + i}`));
  });

  it('a cancel puts the uncredited deliveries back at the head, in order, as they were', () => {
    const { send, deliveries } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: true, prefetch: 0, limitSlot: -1 }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 2, noAck: false, prefetch: 0, limitSlot: -1 }));
    for (let i = 0; i < 40; i++) send(publishRecord([1], `m${i}`));
    const first = deliveries(); // round-robin: 1 gets the even ones, 2 the odd ones
    expect(first).toHaveLength(40);
    // The acceptor wrote 5 of each to the client, then both consumers are cancelled.
    send(creditRecord([[1, 5], [2, 5]]));
    send(controlRecord(0, { op: 'cancel', consumerId: 2 }));
    send(controlRecord(0, { op: 'cancel', consumerId: 1 }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 3, noAck: true, prefetch: 0, limitSlot: -1 }));
    const again = deliveries();
    const written = new Set([0, 2, 4, 6, 8, 1, 3, 5, 7, 9].map((i) => `m${i}`));
    // Consumer 2's five written entries stay unacked with the acceptor; the rest come back once, oldest first.
    expect(again.map((d) => d.body)).toEqual(first.map((d) => d.body).filter((b) => !written.has(b)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))));
    expect(again.every((d) => !d.redelivered)).toBe(true);
    // The acceptor requeues consumer 2's written ones (channel close): they go to the head, oldest first.
    const unackedIds = first.filter((d) => d.consumerId === 2 && written.has(d.body)).map((d) => d.msgId);
    send(creditRecord([[3, again.length]]));
    send(controlRecord(0, { op: 'cancel', consumerId: 3 }));
    send(settleRecord(R.SETTLE_REQUEUE, unackedIds.map((id) => [1, id])));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 4, noAck: true, prefetch: 0, limitSlot: -1 }));
    expect(deliveries().map((d) => [d.body, d.redelivered])).toEqual(['m1', 'm3', 'm5', 'm7', 'm9'].map((b) => [b, true]));
  });

  it('requeued entries go to the head, oldest first, whatever order the nacks came in', () => {
    const { send, deliveries } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: false, prefetch: 0, limitSlot: -1 }));
    for (let i = 1; i <= 30; i++) send(publishRecord([1], `m${i}`));
    const got = deliveries();
    send(creditRecord([[1, got.length]]));
    const idOf = (n: number) => got[n - 1].msgId;
    // Out of order: one at a time, a batch in reverse, one between, one before all, one after all.
    for (const batch of [[12], [20, 18, 16], [14], [3], [25], [5, 1, 27, 13]]) {
      send(settleRecord(R.SETTLE_REQUEUE, batch.map((n) => [1, idOf(n)])));
    }
    send(settleRecord(R.SETTLE_ACK, got.map((d) => [1, d.msgId])));
    send(controlRecord(0, { op: 'cancel', consumerId: 1 }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 2, noAck: true, prefetch: 0, limitSlot: -1 }));
    expect(deliveries().map((d) => d.body)).toEqual([1, 3, 5, 12, 13, 14, 16, 18, 20, 25, 27].map((n) => `m${n}`));
  });

  it("shares a channel's global limit among its consumers on several queues, holding no-ack ones while it is full", () => {
    const limits = new ChannelLimits();
    const { send, deliveries } = setup(limits);
    const slot = limits.allocate();
    limits.setLimit(slot, 3);
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'a' }));
    send(controlRecord(0, { op: 'declare', queueId: 2, name: 'b' }));
    send(controlRecord(0, { op: 'declare', queueId: 3, name: 'c' }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: false, prefetch: 10, limitSlot: slot }));
    send(controlRecord(0, { op: 'consume', queueId: 2, consumerId: 2, noAck: false, prefetch: 0, limitSlot: slot }));
    for (let i = 0; i < 2; i++) send(publishRecord([1], `a${i}`));
    for (let i = 0; i < 5; i++) send(publishRecord([2], `b${i}`));
    const first = deliveries();
    expect(first.map((d) => d.body).sort()).toEqual(['a0', 'a1', 'b0']);
    expect(first.every((d) => d.counted)).toBe(true);
    expect(limits.counted(slot)).toBe(3);
    // A no-ack consumer of the same channel takes no place, and gets nothing while the slot is full.
    send(controlRecord(0, { op: 'consume', queueId: 3, consumerId: 3, noAck: true, prefetch: 0, limitSlot: slot }));
    send(publishRecord([3], 'c0'));
    expect(deliveries()).toEqual([]);
    // The acceptor gives two places back: the shard asked to be told, and takes them.
    expect(limits.give(slot, 2)).toBe(true);
    send(settleRecord(R.SETTLE_ACK, [[1, first[0].msgId], [2, first[2].msgId]]));
    send(controlRecord(0, { op: 'globalLimit', consumerIds: [1, 2, 3], slot }));
    const second = deliveries();
    expect(second.filter((d) => d.counted)).toHaveLength(2);
    expect(limits.counted(slot)).toBe(3);
    // No limit: everything that waits goes, still counted (a limit set again starts from it).
    expect(limits.setLimit(slot, 0)).toBe(true);
    send(controlRecord(0, { op: 'globalLimit', consumerIds: [1, 2, 3], slot }));
    const rest = deliveries();
    expect([...first, ...second, ...rest].map((d) => d.body).sort()).toEqual(['a0', 'a1', 'b0', 'b1', 'b2', 'b3', 'b4', 'c0']);
    expect(limits.counted(slot)).toBe(5);
  });
});
