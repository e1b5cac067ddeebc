/** The shard's side of publisher confirms: one CONFIRM record per batch, counts per channel, in order. */
import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { Shard } from '../../src/shard/shard.js';
import { ConfirmBatch } from '../../src/shard/confirm-batch.js';
import * as R from '../../src/shard/records.js';
import { controlRecord, publishRecord } from './records.js';


const declareRecord = (queueId: number) => controlRecord(0, { op: 'declare', queueId, name: `q${queueId}` });

/** The records in a ring, CONFIRM ones decoded to [channelRef, stored, refused] entries; others by type. */
function records(out: Ring): (number | number[][])[] {
  const got: (number | number[][])[] = [];
  out.publish(); // what the writer committed (its flush() would publish it)
  for (let at = out.peek(); at >= 0; at = out.peek()) {
    const buf = out.data;
    if (buf[at] === R.S2A_CONFIRM) {
      const entries: number[][] = [];
      for (let i = 0, p = at + R.CONFIRM_HEADER; i < buf.readUInt32LE(at + 1); i++, p += R.CONFIRM_ENTRY) {
        entries.push([buf.readUInt32LE(p), buf.readUInt32LE(p + 4), buf.readUInt32LE(p + 8)]);
      }
      expect(out.recordSize).toBe(R.CONFIRM_HEADER + entries.length * R.CONFIRM_ENTRY);
      got.push(entries);
    } else {
      got.push(buf[at]);
    }
    out.consume();
  }
  return got;
}

function setup() {
  const out = Ring.allocate(1 << 16);
  const writer = new RingWriter(out, new LocalDoorbell());
  const shard = new Shard(writer);
  const send = (record: Buffer) => shard.handle(record, 0, record.length);
  return { out, writer, shard, send };
}

describe('Shard confirms', () => {
  it('reports the confirm-mode publishes of a batch in one CONFIRM record, per channel', () => {
    const { out, shard, send } = setup();
    send(declareRecord(1));
    send(declareRecord(2));
    shard.flushConfirms();
    expect(records(out)).toEqual([]); // control records need no confirm
    for (let i = 0; i < 100; i++) send(publishRecord([1], `a${i}`, { flags: R.PUBLISH_CONFIRM, channelRef: 10 }));
    for (let i = 0; i < 50; i++) send(publishRecord([1, 2], `b${i}`, { flags: R.PUBLISH_CONFIRM, channelRef: 11 }));
    for (let i = 0; i < 7; i++) send(publishRecord([2], `c${i}`, { flags: R.PUBLISH_CONFIRM, channelRef: 10 }));
    for (let i = 0; i < 30; i++) send(publishRecord([1], `d${i}`, { flags: 0, channelRef: 12 })); // not in confirm mode: no entry
    send(publishRecord([99], 'deleted queue', { flags: R.PUBLISH_CONFIRM, channelRef: 13 })); // queue gone in flight: acked, as RabbitMQ does
    shard.flushConfirms();
    expect(records(out)).toEqual([[[10, 107, 0], [11, 50, 0], [13, 1, 0]]]);
    shard.flushConfirms();
    expect(records(out)).toEqual([]); // a new batch starts empty
  });

  it('writes the CONFIRM of an immediate publish after its IMMEDIATE answer (return before ack)', () => {
    const { out, shard, send } = setup();
    send(declareRecord(1));
    send(publishRecord([1], 'nobody consumes', { flags: R.PUBLISH_CONFIRM | R.PUBLISH_IMMEDIATE, channelRef: 10 }));
    shard.flushConfirms();
    expect(records(out)).toEqual([R.S2A_IMMEDIATE, [[10, 1, 0]]]);
  });

  it('keeps stored and refused runs of one channel in order', () => {
    const out = Ring.allocate(1 << 16);
    const writer = new RingWriter(out, new LocalDoorbell());
    const batch = new ConfirmBatch();
    batch.stored(1);
    batch.stored(2);
    batch.stored(1);
    batch.refused(1);
    batch.refused(1);
    batch.stored(2);
    batch.stored(1); // after 1's refusals: a new entry, so the order survives
    batch.write(writer);
    expect(records(out)).toEqual([[[1, 2, 2], [2, 2, 0], [1, 1, 0]]]);
  });
});
