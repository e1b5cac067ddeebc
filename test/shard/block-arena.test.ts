/**
 * A few messages kept while their neighbours are consumed must not keep the
 * neighbours' memory: the shard's BlockArena copies them out of sparse
 * buffers. Inline (a Shard, no threads), with the process's ArrayBuffer bytes
 * measured after a full GC, and every kept message read back intact.
 */
import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { Shard } from '../../src/shard/shard.js';
import * as R from '../../src/shard/records.js';
import { controlRecord, creditRecord, publishRecord } from './records.js';
import { arrayBufferBytesAfterGc } from '../helpers.js';

const KEPT = 1; // plain queue: a consumer that never acks holds 50, the rest wait
const PRIORITY = 2; // priority queue, no consumer
const DRAINED = 3; // a no-ack consumer takes everything
const MESSAGES = 200_000;
const KEEP_EVERY = 100;

/** A shard whose arena passes after 1 MiB of blocks, and a reader of what it writes back. */
function setup() {
  const out = Ring.allocate(1 << 22);
  const shard = new Shard(new RingWriter(out, new LocalDoorbell()), undefined, 1 << 20);
  const view = new R.BlockView();
  const send = (record: Buffer) => shard.handle(record, 0, record.length);
  /** Ends a batch as the runner does; returns the bodies delivered or got, and credits the no-ack consumer. */
  const endBatch = (): string[] => {
    shard.deliver();
    shard.compactBlocks();
    out.publish();
    const bodies: string[] = [];
    let drained = 0;
    for (let at = out.peek(); at >= 0; at = out.peek()) {
      const buf = out.data;
      const type = buf[at];
      if (type === R.S2A_DELIVER || type === R.S2A_GET_OK) {
        const v = view.read(buf, at + (type === R.S2A_DELIVER ? R.DELIVER_HEADER : R.GET_OK_HEADER));
        const body = buf.toString('latin1', v.bodyAt, v.end);
        if (type === R.S2A_DELIVER && buf.readUInt32LE(at + 2) === 3) drained++;
        else bodies.push(body);
      }
      out.consume();
    }
    if (drained > 0) send(creditRecord([[3, drained]]));
    return bodies;
  };
  const get = (queueId: number): string | undefined => {
    send(controlRecord(1, { op: 'get', queueId, noAck: true }));
    return endBatch()[0];
  };
  return { shard, send, endBatch, get };
}

describe('BlockArena', () => {
  it('frees the buffers of consumed messages that a kept one shared, and keeps its bytes intact', async () => {
    const { shard, send, endBatch, get } = setup();
    send(controlRecord(0, { op: 'declare', queueId: KEPT, name: 'kept' }));
    send(controlRecord(0, { op: 'declare', queueId: PRIORITY, name: 'prio', config: { type: 'classic', overflow: 'drop-head', singleActiveConsumer: false, maxPriority: 3 } }));
    send(controlRecord(0, { op: 'declare', queueId: DRAINED, name: 'drained' }));
    send(controlRecord(0, { op: 'consume', queueId: KEPT, consumerId: 1, noAck: false, prefetch: 50, globalPrefetch: 0 }));
    send(controlRecord(0, { op: 'consume', queueId: DRAINED, consumerId: 3, noAck: true, prefetch: 0, globalPrefetch: 0 }));
    const before = await arrayBufferBytesAfterGc();

    const heldByConsumer: string[] = [];
    for (let n = 0; n < MESSAGES; n++) {
      const queueId = n % KEEP_EVERY === 0 ? KEPT : n % KEEP_EVERY === 1 ? PRIORITY : DRAINED;
      send(publishRecord([queueId], `message ${n}`));
      if (n % 500 === 499) heldByConsumer.push(...endBatch());
    }
    heldByConsumer.push(...endBatch());
    const grown = (await arrayBufferBytesAfterGc()) - before;

    const kept = 2 * (MESSAGES / KEEP_EVERY);
    expect(shard.compaction.passes).toBeGreaterThan(shard.compaction.fullPasses);
    expect(shard.compaction.moved).toBeGreaterThan(0);
    // 4,000 blocks of about 30 bytes. Without the passes each held one 8 KiB pool: 32 MB.
    expect(grown).toBeLessThan(4 * 1024 * 1024);

    // Everything kept comes back, in order: the 50 the consumer holds, then the rest, then the priority queue's.
    expect(heldByConsumer).toEqual(Array.from({ length: 50 }, (_, i) => `message ${i * KEEP_EVERY}`));
    send(controlRecord(0, { op: 'cancel', consumerId: 1 }));
    endBatch();
    const back: string[] = [];
    for (let body = get(KEPT); body !== undefined; body = get(KEPT)) back.push(body);
    for (let body = get(PRIORITY); body !== undefined; body = get(PRIORITY)) back.push(body);
    expect(back.length).toBe(kept);
    expect(back).toEqual([
      ...Array.from({ length: kept / 2 }, (_, i) => `message ${i * KEEP_EVERY}`),
      ...Array.from({ length: kept / 2 }, (_, i) => `message ${i * KEEP_EVERY + 1}`),
    ]);
  });

  it('frees buffers that emptied after a pass saw them well used (a full pass), and keeps the bytes intact', async () => {
    const { shard, send, endBatch, get } = setup();
    send(controlRecord(0, { op: 'declare', queueId: KEPT, name: 'kept' }));
    send(controlRecord(0, { op: 'declare', queueId: PRIORITY, name: 'held-then-purged' }));
    send(controlRecord(0, { op: 'declare', queueId: DRAINED, name: 'drained' }));
    send(controlRecord(0, { op: 'consume', queueId: DRAINED, consumerId: 3, noAck: true, prefetch: 0, globalPrefetch: 0 }));
    const filler = '.'.repeat(180);
    // 1 in 10 to 'kept', the rest held: every buffer is well used when the young passes look.
    // (The records are made first: made in between, they would share the buffers, and a young pass move them.)
    const keptRecords = Array.from({ length: 10_000 }, (_, i) => publishRecord([KEPT], `message ${i * 10} ${filler}`));
    const heldRecord = publishRecord([PRIORITY], `held ${filler}`);
    for (let n = 0; n < 100_000; n++) {
      send(n % 10 === 0 ? keptRecords[n / 10] : heldRecord);
      if (n % 500 === 499) endBatch();
    }
    endBatch();
    const movedBefore = shard.compaction.moved;
    const fullBefore = shard.compaction.fullPasses;
    const before = await arrayBufferBytesAfterGc();
    send(controlRecord(1, { op: 'purge', queueId: PRIORITY }));
    // Now 'kept' holds a tenth of each of its buffers: traffic elsewhere brings a full pass.
    const otherRecord = publishRecord([DRAINED], `other ${filler}`);
    for (let n = 0; n < 1_000_000; n++) {
      send(otherRecord);
      if (n % 500 === 499) endBatch();
    }
    endBatch();
    const grown = (await arrayBufferBytesAfterGc()) - before;

    expect(movedBefore).toBeLessThan(1000); // the passes before the purge emptied next to nothing (a buffer at the edge of each)
    expect(shard.compaction.fullPasses).toBeGreaterThan(fullBefore);
    // 'kept' holds 10,000 blocks of ~200 bytes (2 MB) in the 20 MB of buffers the purged ones shared.
    expect(grown).toBeLessThan(-8 * 1024 * 1024);
    const back: string[] = [];
    for (let body = get(KEPT); body !== undefined; body = get(KEPT)) back.push(body);
    expect(back).toEqual(Array.from({ length: 10_000 }, (_, i) => `message ${i * 10} ${filler}`));
  });
});
