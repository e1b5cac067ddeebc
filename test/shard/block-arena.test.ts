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
import { controlRecord, creditRecord, publishRecord, settleRecord } from './records.js';
import { arrayBufferBytesAfterGc } from '../helpers.js';

const KEPT = 1; // plain queue: a consumer that never acks holds 50, the rest wait
const PRIORITY = 2; // priority queue, no consumer
const DRAINED = 3; // its consumer takes everything
const MESSAGES = 200_000;
const KEEP_EVERY = 100;

/** A shard whose arena passes after 1 MiB of blocks, and a reader of what it writes back. */
function setup() {
  const out = Ring.allocate(1 << 22);
  const shard = new Shard(new RingWriter(out, new LocalDoorbell()), undefined, 1 << 20);
  const view = new R.BlockView();
  const send = (record: Buffer) => shard.handle(record, 0, record.length);
  /** Ends a batch as the runner does; returns the bodies delivered or got outside DRAINED, and credits its consumer (whose message ids go to `drainedIds`). */
  const endBatch = (drainedIds?: number[]): string[] => {
    shard.deliver();
    shard.compactBlocks();
    out.publish();
    const bodies: string[] = [];
    let drained = 0;
    for (let at = out.peek(); at >= 0; at = out.peek()) {
      const buf = out.data;
      const type = buf[at];
      if (type === R.S2A_DELIVER || type === R.S2A_GET_OK) {
        const v = view.read(buf, R.deliveredBlockAt(buf, at, type === R.S2A_DELIVER ? R.DELIVER_HEADER : R.GET_OK_HEADER));
        const body = buf.toString('latin1', v.bodyAt, v.end);
        if (type === R.S2A_DELIVER && buf.readUInt32LE(at + 2) === 3) {
          drained++;
          drainedIds?.push(buf.readDoubleLE(at + 10));
        } else bodies.push(body);
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
    send(controlRecord(0, { op: 'consume', queueId: KEPT, consumerId: 1, noAck: false, prefetch: 50, limitSlot: -1 }));
    send(controlRecord(0, { op: 'consume', queueId: DRAINED, consumerId: 3, noAck: true, prefetch: 0, limitSlot: -1 }));
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
    expect(shard.compaction.passes).toBeGreaterThan(0);
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

  it('frees buffers that empty long after their messages came (a purge), with no traffic after, and keeps the bytes intact', async () => {
    const { shard, send, endBatch, get } = setup();
    send(controlRecord(0, { op: 'declare', queueId: KEPT, name: 'kept' }));
    send(controlRecord(0, { op: 'declare', queueId: PRIORITY, name: 'held-then-purged' }));
    const filler = '.'.repeat(180);
    // 1 in 10 to 'kept', the rest held: no buffer is sparse until the purge.
    const keptRecords = Array.from({ length: 10_000 }, (_, i) => publishRecord([KEPT], `message ${i * 10} ${filler}`));
    const heldRecord = publishRecord([PRIORITY], `held ${filler}`);
    for (let n = 0; n < 100_000; n++) {
      send(n % 10 === 0 ? keptRecords[n / 10] : heldRecord);
      if (n % 500 === 499) endBatch();
    }
    endBatch();
    expect(shard.compaction.passes).toBe(0);
    const before = await arrayBufferBytesAfterGc();
    send(controlRecord(1, { op: 'purge', queueId: PRIORITY }));
    endBatch();
    const grown = (await arrayBufferBytesAfterGc()) - before;

    expect(shard.compaction.passes).toBe(1);
    // 'kept' holds 10,000 blocks of ~200 bytes (2 MB) in the 20 MB of buffers the purged ones shared.
    expect(grown).toBeLessThan(-8 * 1024 * 1024);
    const back: string[] = [];
    for (let body = get(KEPT); body !== undefined; body = get(KEPT)) back.push(body);
    expect(back).toEqual(Array.from({ length: 10_000 }, (_, i) => `message ${i * 10} ${filler}`));
  });

  it('frees the buffers of messages acked long after they came, whatever the lag', async () => {
    const { shard, send, endBatch, get } = setup();
    send(controlRecord(0, { op: 'declare', queueId: KEPT, name: 'kept' }));
    send(controlRecord(0, { op: 'declare', queueId: DRAINED, name: 'drained' }));
    send(controlRecord(0, { op: 'consume', queueId: DRAINED, consumerId: 3, noAck: false, prefetch: 0, limitSlot: -1 }));
    const filler = '.'.repeat(180);
    const before = await arrayBufferBytesAfterGc();
    // Each batch's deliveries are acked 40 batches later: some 4 MB stay unacked, four times
    // the least waste worth a pass here, so every buffer is well used while its messages are new.
    const LAG = 40;
    const unacked: number[][] = [];
    const ack = (ids: number[]) => send(settleRecord(R.SETTLE_ACK, ids.map((id) => [DRAINED, id])));
    for (let n = 0; n < MESSAGES; n++) {
      send(publishRecord([n % 8 === 0 ? KEPT : DRAINED], `message ${n} ${filler}`));
      if (n % 500 === 499) {
        const ids: number[] = [];
        endBatch(ids);
        unacked.push(ids);
        if (unacked.length > LAG) ack(unacked.shift()!);
      }
    }
    for (const ids of unacked) ack(ids);
    endBatch();
    const grown = (await arrayBufferBytesAfterGc()) - before;

    // Each kept block moves about once: from the buffer it was copied to, to one packed with kept ones.
    expect(shard.compaction.moved).toBeGreaterThan(MESSAGES / 8 / 2);
    expect(shard.compaction.moved).toBeLessThan(MESSAGES / 8 * 1.5);
    // 25,000 kept blocks of ~230 bytes (5.7 MB), in 46 MB of buffers without the passes.
    expect(grown).toBeLessThan(12 * 1024 * 1024);
    const back: string[] = [];
    for (let body = get(KEPT); body !== undefined; body = get(KEPT)) back.push(body.slice(0, body.indexOf(' ', 8)));
    expect(back).toEqual(Array.from({ length: MESSAGES / 8 }, (_, i) => `message ${i * 8}`));
  });

  it('lets go of the buffers of a queue deleted with unacked messages', async () => {
    const { send, endBatch } = setup();
    send(controlRecord(0, { op: 'declare', queueId: DRAINED, name: 'deleted' }));
    send(controlRecord(0, { op: 'consume', queueId: DRAINED, consumerId: 3, noAck: false, prefetch: 0, limitSlot: -1 }));
    const filler = '.'.repeat(180);
    for (let n = 0; n < 40_000; n++) {
      send(publishRecord([DRAINED], `message ${n} ${filler}`));
      if (n % 500 === 499) endBatch();
    }
    endBatch();
    const before = await arrayBufferBytesAfterGc();
    send(controlRecord(1, { op: 'delete', queueId: DRAINED }));
    endBatch();
    const grown = (await arrayBufferBytesAfterGc()) - before;
    // 40,000 unacked blocks of ~230 bytes: 9 MB that go with the queue.
    expect(grown).toBeLessThan(-6 * 1024 * 1024);
  });
});
