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
import { controlRecord, creditRecord, directRecord, publishRecord } from './records.js';

type Out = { type: 'lease'; queueId: number; consumerId: number; position: number } | { type: 'deliver'; consumerId: number } | { type: number };

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
      if (buf[at] === R.S2A_LEASE) got.push({ type: 'lease', queueId: buf.readUInt32LE(at + 1), consumerId: buf.readUInt32LE(at + 5), position: buf.readDoubleLE(at + 9) });
      else if (buf[at] === R.S2A_DELIVER) got.push({ type: 'deliver', consumerId: buf.readUInt32LE(at + 2) });
      else got.push({ type: buf[at] });
      out.consume();
    }
    return got;
  };
  const queue = (id: number) => (shard as any).queues.get(id);
  return { send, run, queue };
}

const consume = (queueId: number, consumerId: number, noAck = true) => controlRecord(0, { op: 'consume', queueId, consumerId, noAck, prefetch: 0, globalPrefetch: 0 });
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
    expect(run()).toEqual([{ type: 'lease', queueId: 7, consumerId: 1, position: 2 }]);
    send(publishRecord([7], 'a')); // sent before the acceptor saw the offer: delivered as usual, no second offer
    expect(run()).toEqual([{ type: 'deliver', consumerId: 1 }]);
    send(leaseEnd(7)); // declined (a publish came after the offer's position)
    expect(run()).toEqual([{ type: 'lease', queueId: 7, consumerId: 1, position: 4 }]);
  });

  it('delivers a backlog first and offers after it, and not while the consumer is paused', () => {
    const { send, run } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    for (const body of ['a', 'b', 'c']) send(publishRecord([1], body));
    send(consume(1, 9));
    send(controlRecord(0, { op: 'flow', consumerIds: [9], active: false }));
    expect(run()).toEqual([]);
    send(controlRecord(0, { op: 'flow', consumerIds: [9], active: true }));
    expect(run()).toEqual([{ type: 'deliver', consumerId: 9 }, { type: 'deliver', consumerId: 9 }, { type: 'deliver', consumerId: 9 }, { type: 'lease', queueId: 1, consumerId: 9, position: 7 }]);
  });

  it('offers none to an acking consumer, to one of two, or on a queue with a TTL or priorities; one once the second consumer goes', () => {
    const { send, run } = setup();
    const classic = { type: 'classic', overflow: 'drop-head', singleActiveConsumer: false };
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'acking' }));
    send(controlRecord(0, { op: 'declare', queueId: 2, name: 'two' }));
    send(controlRecord(0, { op: 'declare', queueId: 3, name: 'ttl', config: { ...classic, messageTtl: 1000 } }));
    send(controlRecord(0, { op: 'declare', queueId: 4, name: 'prio', config: { ...classic, maxPriority: 3 } }));
    send(consume(1, 11, false));
    send(consume(2, 21));
    send(consume(2, 22));
    send(consume(3, 31));
    send(consume(4, 41));
    expect(run()).toEqual([]);
    send(controlRecord(0, { op: 'cancel', consumerId: 22 }));
    expect(run()).toEqual([{ type: 'lease', queueId: 2, consumerId: 21, position: 10 }]);
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
});
