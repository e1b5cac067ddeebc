/**
 * Every record type that crosses a ring, with maximal field sizes, through
 * real SharedArrayBuffer rings: the acceptor's records are written into the
 * shard's input ring and read by a ShardRunner there, and the shard's records
 * are read back from its output ring in place, as ShardLink reads them.
 * (Records handed to a Shard as plain Buffers would not catch decoders that
 * refuse SharedArrayBuffer views, as msgpackr's native string decoder does.)
 */
import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { ShardRunner } from '../../src/shard/shard-runner.js';
import * as R from '../../src/shard/records.js';
import { block, controlRecord, publishRecord, settleRecord, shortstr } from './records.js';
import { CREDIT_WINDOW, ENTRY_OVERHEAD } from '../../src/shard/queue.js';

const MAX_U32 = 0xffffffff;
const MAX_QUEUES = 0xffff; // PUBLISH's u16 queue count

/** Longest legal shortstr contents: 255 bytes of 2-, 3- and 4-byte characters. */
const NAMES = ['é'.repeat(127) + 'x', '€'.repeat(85), '😀'.repeat(63) + 'abc', 'q'.repeat(255)];
for (const name of NAMES) if (Buffer.byteLength(name) !== 255) throw new Error(`test name of ${Buffer.byteLength(name)} bytes`);

/** Properties of the largest size a 128 KiB frame carries: a headers table of long strings. */
function bigProperties(): Buffer {
  const entries: Buffer[] = [];
  for (let i = 0; i < 100; i++) {
    const value = Buffer.from('ü'.repeat(500));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(value.length);
    entries.push(shortstr(NAMES[i % NAMES.length]), Buffer.from('S'), len, value);
  }
  const table = Buffer.concat(entries);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(table.length);
  return Buffer.concat([Buffer.from([0x20, 0x00]), size, table]);
}

interface Harness {
  /** Returns the record's address in the ring (its byteOffset in the shared memory). */
  write(record: Buffer): number;
  /** Runs the shard until it is idle; returns copies of the records it wrote, decoded where they carry msgpack, and where they were. */
  run(): { type: number; record: Buffer; reply?: any; address: number }[];
}

function harness(): Harness {
  const toShard = Ring.allocate(16 << 20);
  const fromShard = Ring.allocate(16 << 20);
  const bell = new LocalDoorbell();
  const runner = new ShardRunner(toShard, fromShard, bell);
  const writer = new RingWriter(toShard, bell);
  return {
    write(record) {
      writer.begin(record.length);
      const address = writer.buf.byteOffset + writer.offset;
      record.copy(writer.buf, writer.offset);
      writer.end();
      writer.flush();
      expect(writer.backlogged).toBe(false);
      return address;
    },
    run() {
      const out: { type: number; record: Buffer; reply?: any; address: number }[] = [];
      for (let busy = true; busy; ) {
        busy = runner.work();
        for (let at = fromShard.peek(); at >= 0; at = fromShard.peek()) {
          const end = at + fromShard.recordSize;
          const type = fromShard.data[at];
          // decoded in place, from the shared memory, as ShardLink does
          const reply = type === R.S2A_REPLY ? R.unpackControl(fromShard.data, at + R.CONTROL_HEADER, end) : undefined;
          out.push({ type, record: Buffer.from(fromShard.data.subarray(at, end)), reply, address: fromShard.data.byteOffset + at });
          fromShard.consume();
        }
      }
      return out;
    },
  };
}





describe('ring records with maximal fields', () => {
  const message = block(NAMES[0], NAMES[2], bigProperties(), Buffer.alloc(1 << 20, 0xab));

  it('CONTROL and REPLY carry 255-byte multi-byte names and u32 ids in both directions', () => {
    const h = harness();
    NAMES.forEach((name, i) => h.write(controlRecord(MAX_U32 - i, { op: 'declare', queueId: MAX_U32 - i, name })));
    h.write(controlRecord(MAX_U32, { op: 'flow', consumerIds: Array.from({ length: 10_000 }, (_, i) => MAX_U32 - i), active: false }));
    h.write(controlRecord(MAX_U32 - 10, { op: 'count', queueId: MAX_U32 }));
    const replies = h.run();
    expect(replies.map((r) => [r.type, r.record.readUInt32LE(1), r.reply])).toEqual([
      ...NAMES.map((_, i) => [R.S2A_REPLY, MAX_U32 - i, { messageCount: 0 }]),
      [R.S2A_REPLY, MAX_U32 - 10, { messageCount: 0 }],
    ]);

    // The shard's replies go through the same decoder: a reply with long names, read from a ring.
    const ring = Ring.allocate(1 << 16);
    const payload = R.packControl({ names: NAMES, nested: { name: NAMES[1] } });
    const at = ring.reserve(payload.length);
    payload.copy(ring.data, at);
    ring.commit();
    ring.publish();
    expect(R.unpackControl(ring.data, ring.peek(), ring.peek() + ring.recordSize)).toEqual({ names: NAMES, nested: { name: NAMES[1] } });
  });

  it(`PUBLISH to ${MAX_QUEUES} queues with 255-byte names, large properties and a 1 MiB body; GET_OK and SETTLE back`, () => {
    const h = harness();
    const ids = Array.from({ length: MAX_QUEUES }, (_, i) => MAX_U32 - i);
    for (let i = 0; i < ids.length; i++) {
      h.write(controlRecord(0, { op: 'declare', queueId: ids[i], name: NAMES[i % NAMES.length] }));
      if (i % 4096 === 4095) h.run(); // keep the input ring from filling
    }
    expect(h.run()).toEqual([]); // requestId 0: no replies
    h.write(publishRecord(ids, message));
    h.write(controlRecord(7, { op: 'get', queueId: ids[0], noAck: false }));
    h.write(controlRecord(8, { op: 'get', queueId: ids[MAX_QUEUES - 1], noAck: true }));
    const [first, last] = h.run();
    for (const [got, requestId, queueId] of [[first, 7, ids[0]], [last, 8, ids[MAX_QUEUES - 1]]] as const) {
      expect(got.type).toBe(R.S2A_GET_OK);
      expect(got.record.readUInt32LE(2)).toBe(requestId);
      expect(got.record.readUInt32LE(6)).toBe(queueId);
      expect(got.record.readUInt32LE(18)).toBe(0); // messages left
      const blockAt = R.deliveredBlockAt(got.record, 0, R.GET_OK_HEADER);
      expect(got.record.subarray(blockAt, R.blockEnd(got.record, blockAt)).equals(message)).toBe(true);
    }

    // A SETTLE of 65535 entries (only the first is unacked): requeued, it is there again.
    const msgId = first.record.readDoubleLE(10);
    h.write(settleRecord(R.SETTLE_REQUEUE, ids.map((id) => [id, msgId])));
    h.write(controlRecord(9, { op: 'count', queueId: ids[0] }));
    h.write(controlRecord(10, { op: 'count', queueId: ids[1] }));
    const replies = h.run().filter((r) => r.type === R.S2A_REPLY); // a MEMORY record may come too
    expect(replies.map((r) => [r.record.readUInt32LE(1), r.reply])).toEqual([
      [9, { messageCount: 1 }],
      [10, { messageCount: 1 }],
    ]);
  });

  it('DELIVER and IMMEDIATE carry the largest block and u32 ids', () => {
    const h = harness();
    h.write(controlRecord(0, { op: 'declare', queueId: MAX_U32, name: NAMES[2] }));
    h.write(publishRecord([MAX_U32], message, { flags: R.PUBLISH_IMMEDIATE, channelRef: MAX_U32, publishId: MAX_U32 - 1 })); // no consumer yet
    h.write(controlRecord(0, { op: 'consume', queueId: MAX_U32, consumerId: MAX_U32, noAck: true, prefetch: 0xffff, limitSlot: 0xffff }));
    h.write(publishRecord([MAX_U32], message, { flags: R.PUBLISH_MANDATORY }));
    const [immediate, deliver] = h.run();
    expect([immediate.type, immediate.record[1], immediate.record.readUInt32LE(2), immediate.record.readUInt32LE(6)]).toEqual([
      R.S2A_IMMEDIATE, 0, MAX_U32, MAX_U32 - 1,
    ]);
    expect(immediate.record.subarray(R.IMMEDIATE_HEADER).equals(message)).toBe(true);
    expect([deliver.type, deliver.record.readUInt32LE(2), deliver.record.readUInt32LE(6)]).toEqual([R.S2A_DELIVER, MAX_U32, MAX_U32]);
    const blockAt = R.deliveredBlockAt(deliver.record, 0, R.DELIVER_HEADER);
    const delivered = deliver.record.subarray(blockAt, R.blockEnd(deliver.record, blockAt));
    expect(delivered.equals(message)).toBe(true);
    const v = new R.BlockView().read(delivered, 0);
    expect(delivered.toString('utf8', v.start + 1, v.routingKeyAt)).toBe(NAMES[0]);
    expect(delivered.toString('utf8', v.routingKeyAt + 1, v.propertiesAt - 4)).toBe(NAMES[2]);
    expect(v.bodySize).toBe(1 << 20);
  });

  it('CREDIT, CONFIRM, QUEUE_FLOW and MEMORY carry u32 ids at their maximum', () => {
    const h = harness();
    const small = block(NAMES[1], NAMES[2], Buffer.from([0, 0]), Buffer.from('x'));
    h.write(controlRecord(0, { op: 'declare', queueId: MAX_U32, name: NAMES[0] }));
    h.write(controlRecord(0, { op: 'consume', queueId: MAX_U32, consumerId: MAX_U32, noAck: true, prefetch: 0, limitSlot: -1 }));
    // Past the congestion mark even with a full credit window out.
    const published = 10_000 + CREDIT_WINDOW + 100;
    for (let i = 0; i < published; i++) h.write(publishRecord([MAX_U32], small, { flags: R.PUBLISH_CONFIRM, channelRef: MAX_U32 }));
    const first = h.run();
    const of = (records: typeof first, type: number) => records.filter((r) => r.type === type);
    const delivers = of(first, R.S2A_DELIVER);
    expect(delivers.length).toBe(CREDIT_WINDOW);
    expect(delivers.every((d) => d.record.readUInt32LE(2) === MAX_U32 && d.record.readUInt32LE(6) === MAX_U32)).toBe(true);
    let stored = 0;
    for (const { record } of of(first, R.S2A_CONFIRM)) {
      for (let i = 0, p = R.CONFIRM_HEADER; i < record.readUInt32LE(1); i++, p += R.CONFIRM_ENTRY) {
        expect([record.readUInt32LE(p), record.readUInt32LE(p + 8)]).toEqual([MAX_U32, 0]);
        stored += record.readUInt32LE(p + 4);
      }
    }
    expect(stored).toBe(published);
    expect(of(first, R.S2A_QUEUE_FLOW).map(({ record }) => [record[1], record.readUInt32LE(2)])).toEqual([[1, MAX_U32]]);
    const memory = of(first, R.S2A_MEMORY).at(-1)!.record;
    expect(memory.readDoubleLE(2)).toBeGreaterThan((published - CREDIT_WINDOW) * ENTRY_OVERHEAD);

    // The acceptor wrote the whole window: the shard sends the next one.
    const credit = Buffer.alloc(R.COUNTS_HEADER + R.COUNTS_ENTRY);
    credit[0] = R.A2S_CREDIT;
    credit.writeUInt32LE(1, 1);
    credit.writeUInt32LE(MAX_U32, R.COUNTS_HEADER);
    credit.writeUInt32LE(CREDIT_WINDOW, R.COUNTS_HEADER + 4);
    h.write(credit);
    expect(of(h.run(), R.S2A_DELIVER).length).toBe(CREDIT_WINDOW);
  });
});

describe('bodies placed for their copies (alignPad)', () => {
  it("a PUBLISH's pad and slack are left out of the block, and its DELIVER places the body as the PUBLISH did, mod 8", () => {
    const h = harness();
    h.write(controlRecord(0, { op: 'declare', queueId: 1, name: 'q' }));
    h.write(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: true, prefetch: 0, limitSlot: -1 }));
    for (const size of [200, 256, 1000, 1001, 40_000]) {
      for (let pad = 0; pad < 8; pad++) {
        const body = Buffer.alloc(size, `${size}/${pad} `);
        const message = block('ex', 'rk', Buffer.from([0x80, 0, 2]), body);
        const header = R.publishRecordSize(1, 0);
        // pad bytes before the block and the rest of the slack after it, filled with what would spoil a body
        const record = Buffer.alloc(header + pad + message.length + 7 - pad, 0xee);
        R.writePublishHeader(record, 0, pad << R.PUBLISH_PAD_SHIFT, 0, 0, [1]);
        message.copy(record, header + pad);
        const publishedBody = h.write(record) + header + pad + message.length - size;
        const [deliver] = h.run().filter((r) => r.type === R.S2A_DELIVER);
        const blockAt = R.deliveredBlockAt(deliver.record, 0, R.DELIVER_HEADER);
        const delivered = deliver.record.subarray(blockAt, R.blockEnd(deliver.record, blockAt));
        expect(delivered.equals(message)).toBe(true);
        const deliveredBody = deliver.address + blockAt + message.length - size;
        // below 256 bytes a copy is quick at any placement, and no record carries slack for it
        if (size >= 256) expect((deliveredBody - publishedBody) & 7).toBe(0);
        else expect(deliver.record.length).toBe(R.DELIVER_HEADER + message.length);
      }
    }
  });
});
