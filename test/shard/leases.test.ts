/**
 * The shard's side of leases (docs/ARCHITECTURE.md, "Leases"), inline: when it
 * offers a LEASE, what it names, when it does not, and what DIRECT and
 * LEASE_END records do.
 */
import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { Shard } from '../../src/shard/shard.js';
import * as R from '../../src/shard/records.js';
import { controlRecord, creditRecord, directRecord, publishRecord, settleRecord } from './records.js';

type Out = { type: 'lease'; queueId: number; consumerId: number; position: number; nextId: number; room: number } | { type: 'deliver'; consumerId: number } | { type: number };

function setup() {
  const out = Ring.allocate(1 << 16);
  const shard = new Shard(new RingWriter(out, new LocalDoorbell()));
  const send = (record: Buffer) => shard.handle(record, 0, record.length);
  /** Runs deliveries (offers come at their end) and returns the records written. */
  const run = (): Out[] => {
    shard.deliver();
    out.publish();
    const got: Out[] = [];
    for (let at = out.peek(); at >= 0; at = out.peek()) {
      const buf = out.data;
      if (buf[at] === R.S2A_LEASE) {
        const [queueId, consumerId, position, nextId, room] = [buf.readUInt32LE(at + 1), buf.readUInt32LE(at + 5), buf.readDoubleLE(at + 9), buf.readDoubleLE(at + 17), buf.readUInt32LE(at + 25)];
        got.push({ type: 'lease', queueId, consumerId, position, nextId, room });
      }
      else if (buf[at] === R.S2A_DELIVER) got.push({ type: 'deliver', consumerId: buf.readUInt32LE(at + 2) });
      else got.push({ type: buf[at] });
      out.consume();
    }
    return got;
  };
  const queue = (id: number) => (shard as any).queues.get(id);
  return { send, run, queue };
}

const consume = (queueId: number, consumerId: number, noAck = true, prefetch = 0, limitSlot = -1) => controlRecord(0, { op: 'consume', queueId, consumerId, noAck, prefetch, limitSlot });
const UNLIMITED = R.UNLIMITED_ROOM;
const leaseEnd = (queueId: number) => {
  const buf = Buffer.alloc(R.LEASE_END_SIZE);
  buf[0] = R.A2S_LEASE_END;
  buf.writeUInt32LE(queueId, 1);
  return buf;
};
describe('Shard leases (inline)', () => {
  it("offers an empty queue's only no-ack consumer's lease once, naming the records it handled, and again after LEASE_END", () => {
    const { send, run } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 7, name: 'q' }));
    send(consume(7, 1));
    expect(run()).toEqual([{ type: 'lease', queueId: 7, consumerId: 1, position: 2, nextId: 1, room: UNLIMITED }]);
    send(publishRecord([7], 'a')); // sent before the acceptor saw the offer: delivered as usual, no second offer
    expect(run()).toEqual([{ type: 'deliver', consumerId: 1 }]);
    send(leaseEnd(7)); // declined (a publish came after the offer's position)
    expect(run()).toEqual([{ type: 'lease', queueId: 7, consumerId: 1, position: 4, nextId: 2, room: UNLIMITED }]);
  });

  it('delivers a backlog first and offers after it, and not while the consumer is paused', () => {
    const { send, run } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    for (const body of ['a', 'b', 'c']) send(publishRecord([1], body));
    send(consume(1, 9));
    send(controlRecord(0, { op: 'flow', consumerIds: [9], active: false }));
    expect(run()).toEqual([]);
    send(controlRecord(0, { op: 'flow', consumerIds: [9], active: true }));
    expect(run()).toEqual([{ type: 'deliver', consumerId: 9 }, { type: 'deliver', consumerId: 9 }, { type: 'deliver', consumerId: 9 }, { type: 'lease', queueId: 1, consumerId: 9, position: 7, nextId: 4, room: UNLIMITED }]);
  });

  it('offers none to one of two consumers, one whose channel has a global prefetch (its shards keep it), or on a queue with a TTL or priorities; one once the second consumer goes', () => {
    const { send, run } = setup();
    const classic = { type: 'classic', overflow: 'drop-head', singleActiveConsumer: false };
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'global' }));
    send(controlRecord(0, { op: 'declare', queueId: 2, name: 'two' }));
    send(controlRecord(0, { op: 'declare', queueId: 3, name: 'ttl', config: { ...classic, messageTtl: 1000 } }));
    send(controlRecord(0, { op: 'declare', queueId: 4, name: 'prio', config: { ...classic, maxPriority: 3 } }));
    send(consume(1, 11, false, 0, 10));
    send(consume(2, 21));
    send(consume(2, 22));
    send(consume(3, 31));
    send(consume(4, 41));
    expect(run()).toEqual([]);
    send(controlRecord(0, { op: 'cancel', consumerId: 22 }));
    expect(run()).toEqual([{ type: 'lease', queueId: 2, consumerId: 21, position: 10, nextId: 1, room: UNLIMITED }]);
    send(controlRecord(0, { op: 'globalLimit', consumerIds: [11], slot: 10 })); // a wake-up from its channel's limit
    expect(run()).toEqual([]);
  });

  it("offers an acking consumer's lease with the queue's next id and the room under its prefetch, none while it is full", () => {
    const { send, run, queue } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 3, name: 'q' }));
    for (const body of ['a', 'b']) send(publishRecord([3], body));
    send(consume(3, 30, false, 3));
    expect(run()).toEqual([{ type: 'deliver', consumerId: 30 }, { type: 'deliver', consumerId: 30 }, { type: 'lease', queueId: 3, consumerId: 30, position: 4, nextId: 3, room: 1 }]);
    // the acceptor delivered one under the lease as id 3: unacked here, the prefetch full
    send(publishRecord([3], 'c', { msgIds: [3] }));
    expect([queue(3).messageCount, queue(3).unackedCount, queue(3).published, queue(3).delivered]).toEqual([0, 3, 3, 3]);
    send(leaseEnd(3)); // its room used up
    send(publishRecord([3], 'd'));
    expect(run()).toEqual([]);
    expect(queue(3).messageCount).toBe(1);
    send(creditRecord([[30, 2]]));
    send(settleRecord(R.SETTLE_ACK, [[3, 1], [3, 3]]));
    // 'd' (id 4) goes out through the shard, then the queue is empty with room for one
    expect(run()).toEqual([{ type: 'deliver', consumerId: 30 }, { type: 'lease', queueId: 3, consumerId: 30, position: 9, nextId: 5, room: 1 }]);
    expect([queue(3).unackedCount, queue(3).acked]).toEqual([2, 2]);
  });

  it('keeps a message delivered under a lease as unacked: a requeue puts it back redelivered, in id order with a later publish', () => {
    const { send, run, queue } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 6, name: 'q' }));
    send(consume(6, 60, false));
    expect(run()).toEqual([{ type: 'lease', queueId: 6, consumerId: 60, position: 2, nextId: 1, room: UNLIMITED }]);
    // a fanout to the leased queue and to one without consumers, in one record
    send(controlRecord(0, { op: 'declare', queueId: 8, name: 'idle' }));
    send(publishRecord([6, 8], 'x', { msgIds: [1, 0] }));
    send(publishRecord([6], 'y', { msgIds: [2] }));
    expect([queue(6).messageCount, queue(6).unackedCount, queue(8).messageCount]).toEqual([0, 2, 1]);
    send(leaseEnd(6));
    send(settleRecord(R.SETTLE_REQUEUE, [[6, 2], [6, 1]]));
    send(controlRecord(0, { op: 'cancel', consumerId: 60 }));
    expect(run()).toEqual([]);
    send(publishRecord([6], 'z'));
    const taken = [queue(6).take(), queue(6).take(), queue(6).take()].map((e: any) => [e.id, e.redelivered, e.message.block.subarray(-1).toString()]);
    expect(taken).toEqual([[1, true, 'x'], [2, true, 'y'], [3, false, 'z']]);
  });

  it('counts DIRECT deliveries as published and delivered no-ack; credit and unknown queues change nothing else', () => {
    const { send, run, queue } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 5, name: 'q' }));
    send(consume(5, 50));
    run();
    send(directRecord([[5, 1000], [99, 3]]));
    send(creditRecord([]));
    expect(run()).toEqual([]);
    expect([queue(5).published, queue(5).deliveredNoAck, queue(5).messageCount]).toEqual([1000, 1000, 0]);
  });

  it('keeps a congested queue whose one consumer takes without a limit (no-ack, or acks with no prefetch) congested until it is empty, then offers the lease', () => {
    // (one whose consumer has a prefetch clears below half: shard.test.ts)
    for (const [queueId, noAck] of [[5, true], [6, false]] as const) {
      const { send, run, queue } = setup();
      send(controlRecord(0, { op: 'declare', queueId, name: 'q' }));
      for (let i = 0; i < 10_001; i++) send(publishRecord([queueId], `m${i}`)); // no consumer yet: it fills freely
      send(consume(queueId, 1, noAck));
      expect([queue(queueId).congested, queue(queueId).messageCount]).toEqual([true, 10_001]);
      let lowestWhileCongested = Infinity;
      let last: Out[] = [];
      for (let round = 0; queue(queueId).congested; round++) {
        expect(round).toBeLessThan(500);
        lowestWhileCongested = Math.min(lowestWhileCongested, queue(queueId).messageCount);
        last = run();
        send(creditRecord([[1, last.filter((o) => o.type === 'deliver').length]]));
      }
      expect(lowestWhileCongested).toBeLessThan(4_000); // past half, still congested
      expect(queue(queueId).messageCount).toBe(0);
      expect(last.at(-1)).toMatchObject({ type: 'lease', queueId, consumerId: 1, nextId: 10_002 });
    }
  });
});
