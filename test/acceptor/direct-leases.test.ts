/**
 * DirectLeases' answers to a shard's offer (src/acceptor/direct-leases.ts):
 * taken, declined for the consumer's sake (LEASE_END, quiet), or declined as
 * stale (LEASE_END that rings the shard, so it offers again before the next
 * publish instead of after it; a quiet one left a lease that never came back
 * to a consumer whose queue then stayed idle).
 */
import { describe, expect, it } from 'vitest';
import type { ConsumerRef } from '../../src/acceptor/consumer-registry.js';
import { DirectLeases } from '../../src/acceptor/direct-leases.js';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import * as R from '../../src/shard/records.js';
import { CountingBell, readAll } from '../shard/ring-support.js';

const QUEUE = 7;

/** Just what the lease decision reads of a consumer. */
function consumer(over: { paused?: boolean; consumers?: number; state?: string } = {}): ConsumerRef {
  return {
    id: 1,
    noAck: true,
    queue: { id: QUEUE, consumerCount: over.consumers ?? 1 },
    channel: { state: over.state ?? 'open', consumersPaused: over.paused ?? false, limitSlot: -1 },
  } as unknown as ConsumerRef;
}

function setup() {
  const ring = Ring.allocate(4096);
  const bell = new CountingBell();
  const writer = new RingWriter(ring, bell);
  const leases = new DirectLeases(writer);
  /** record types written since the last call, and whether the batch rang the shard */
  const written = () => {
    const before = bell.rung;
    writer.flush();
    return { types: readAll(ring), rang: bell.rung > before };
  };
  /** a publish into the shard's ring, as ShardLink writes one: the fence moves past it */
  const publish = () => {
    writer.begin(1);
    writer.buf[writer.offset] = R.A2S_PUBLISH;
    writer.end();
    leases.fenced(0);
  };
  return { leases, writer, written, publish };
}

describe('DirectLeases: answers to an offer', () => {
  it('takes an offer made after the last publish, writing nothing', () => {
    const { leases, writer, written, publish } = setup();
    publish();
    written();
    leases.offered(QUEUE, consumer(), writer.records, 0, R.UNLIMITED_ROOM);
    expect([leases.holds(QUEUE), written()]).toEqual([true, { types: [], rang: false }]);
  });

  it('declines a stale offer (a publish went in after it) with a LEASE_END that rings the shard', () => {
    const { leases, writer, written, publish } = setup();
    const position = writer.records;
    publish();
    written();
    leases.offered(QUEUE, consumer(), position, 0, R.UNLIMITED_ROOM);
    expect([leases.holds(QUEUE), written()]).toEqual([false, { types: [R.A2S_LEASE_END], rang: true }]);
  });

  it.each([
    ['paused', { paused: true }],
    ['one of two', { consumers: 2 }],
    ['on a closing channel', { state: 'closing' }],
  ])('declines for a consumer %s with a quiet LEASE_END (the record that changes it wakes the shard)', (_, over) => {
    const { leases, writer, written } = setup();
    leases.offered(QUEUE, consumer(over), writer.records, 0, R.UNLIMITED_ROOM);
    expect([leases.holds(QUEUE), written()]).toEqual([false, { types: [R.A2S_LEASE_END], rang: false }]);
  });

  it('declines quietly for a consumer no longer known, stale or not', () => {
    const { leases, writer, written, publish } = setup();
    const position = writer.records;
    publish();
    written();
    leases.offered(QUEUE, undefined, position, 0, R.UNLIMITED_ROOM);
    expect(written()).toEqual({ types: [R.A2S_LEASE_END], rang: false });
  });

  it('gives a held lease back quietly, before the record that ends it', () => {
    const { leases, writer, written } = setup();
    leases.offered(QUEUE, consumer(), writer.records, 0, R.UNLIMITED_ROOM);
    leases.end(QUEUE);
    expect([leases.holds(QUEUE), written()]).toEqual([false, { types: [R.A2S_LEASE_END], rang: false }]);
    leases.end(QUEUE);
    expect(written().types).toEqual([]);
  });
});
