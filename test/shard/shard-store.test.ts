/**
 * The shard and its store, inline: confirms wait for the fsync, acks reach the
 * disk once (a requeue appends nothing), a no-ack delivery is acked on disk only
 * once written. The store is a real InlineSyncWriter on a temp dir whose
 * flush() the test holds back, to stand for a slow disk.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { Shard } from '../../src/shard/shard.js';
import { InlineSyncWriter } from '../../src/store/inline-sync-writer.js';
import { recoverQueue } from '../../src/store/recover.js';
import * as R from '../../src/shard/records.js';
import { controlRecord, creditRecord, publishRecord, settleRecord } from './records.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});





/** An InlineSyncWriter whose I/O happens only while `disk` is open. */
class HeldWriter extends InlineSyncWriter {
  open_ = true;
  override flush(): void {
    if (this.open_) super.flush();
  }
}

function setup() {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'warren-shard-store-'));
  dirs.push(dir);
  const out = Ring.allocate(1 << 16);
  const writer = new HeldWriter();
  const shard = new Shard(new RingWriter(out, new LocalDoorbell()), () => writer);
  const send = (record: Buffer) => shard.handle(record, 0, record.length);
  /** Ends a batch; returns the CONFIRM counts (stored, refused) per channel it wrote. */
  const endBatch = (): { stored: number; refused: number }[] => {
    shard.deliver();
    shard.flushConfirms();
    const confirms: { stored: number; refused: number }[] = [];
    out.publish(); // what the writer committed (its flush() would publish it)
    for (let at = out.peek(); at >= 0; at = out.peek()) {
      const buf = out.data;
      if (buf[at] === R.S2A_CONFIRM) {
        for (let i = 0, p = at + R.CONFIRM_HEADER; i < buf.readUInt32LE(at + 1); i++, p += R.CONFIRM_ENTRY) {
          confirms.push({ stored: buf.readUInt32LE(p + 4), refused: buf.readUInt32LE(p + 8) });
        }
      }
      out.consume();
    }
    return confirms;
  };
  /** What a restart would find: the unacked messages' bodies and delivered marks. */
  const onDisk = () => {
    // recoverQueue tidies what it reads (an all-acked segment goes): read a copy, not the files in use.
    const copy = fs.mkdtempSync(join(os.tmpdir(), 'warren-shard-store-copy-'));
    dirs.push(copy);
    fs.cpSync(dir, copy, { recursive: true });
    return recoverQueue(copy).messages.map((m) => ({ body: m.block.toString('utf8', m.block.length - 4), delivered: m.delivered }));
  };
  return { dir, writer, send, endBatch, onDisk };
}

const PERSISTENT_CONFIRM = R.PUBLISH_PERSISTENT | R.PUBLISH_CONFIRM;

describe('Shard with a store', () => {
  it('holds a persistent publish confirm, and the channel\'s later ones, until the fsync', () => {
    const { dir, writer, send, endBatch, onDisk } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q', dir }));
    writer.open_ = false;
    send(publishRecord([1], 'p  1', { flags: PERSISTENT_CONFIRM, channelRef: 7 }));
    send(publishRecord([1], 't  2', { flags: R.PUBLISH_CONFIRM, channelRef: 7 })); // transient, behind it
    send(publishRecord([1], 'p  3', { flags: PERSISTENT_CONFIRM, channelRef: 8 })); // another channel
    expect(endBatch()).toEqual([]);
    expect(onDisk()).toEqual([]);
    writer.open_ = true;
    expect(endBatch()).toEqual([{ stored: 2, refused: 0 }, { stored: 1, refused: 0 }]);
    expect(onDisk().map((m) => m.body)).toEqual(['p  1', 'p  3']); // the transient one never touches the disk
  });

  it('without PUBLISH_PERSISTENT, or into a queue without a directory, confirms at once and writes nothing', () => {
    const { dir, writer, send, endBatch, onDisk } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'durable', dir }));
    send(controlRecord(0, { op: 'declare', queueId: 2, name: 'transient' }));
    writer.open_ = false;
    send(publishRecord([2], 'p  1', { flags: PERSISTENT_CONFIRM, channelRef: 7 }));
    send(publishRecord([1], 't  2', { flags: R.PUBLISH_CONFIRM, channelRef: 7 }));
    expect(endBatch()).toEqual([{ stored: 2, refused: 0 }]);
    writer.open_ = true;
    endBatch();
    expect(onDisk()).toEqual([]);
  });

  it('acks reach the disk once: a requeue appends nothing, a later ack removes the message', () => {
    const { dir, send, endBatch, onDisk } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q', dir }));
    for (let i = 1; i <= 3; i++) send(publishRecord([1], `p  ${i}`, { flags: R.PUBLISH_PERSISTENT, channelRef: 7 }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 5, noAck: false, prefetch: 0, limitSlot: -1 }));
    endBatch();
    expect(onDisk()).toEqual(['p  1', 'p  2', 'p  3'].map((body) => ({ body, delivered: true })));
    send(settleRecord(R.SETTLE_REQUEUE, [[1, 2]])); // back in the queue, redelivered at once
    send(settleRecord(R.SETTLE_ACK, [[1, 1]]));
    endBatch();
    expect(onDisk().map((m) => m.body)).toEqual(['p  2', 'p  3']);
    send(settleRecord(R.SETTLE_ACK, [[1, 2]]));
    send(settleRecord(R.SETTLE_DROP, [[1, 3]])); // rejected without requeue
    endBatch();
    expect(onDisk()).toEqual([]);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.seg'))).toHaveLength(1); // the current segment stays, nothing else
  });

  it('a no-ack delivery leaves the disk only once the acceptor wrote it; a cancel before that keeps it', () => {
    const { dir, send, endBatch, onDisk } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q', dir }));
    for (let i = 1; i <= 3; i++) send(publishRecord([1], `p  ${i}`, { flags: R.PUBLISH_PERSISTENT, channelRef: 7 }));
    send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 5, noAck: true, prefetch: 0, limitSlot: -1 }));
    endBatch();
    expect(onDisk().map((m) => m.body)).toEqual(['p  1', 'p  2', 'p  3']);
    send(creditRecord([[5, 1]])); // the first one reached its connection
    send(controlRecord(0, { op: 'cancel', consumerId: 5 })); // the others go back to the queue
    endBatch();
    expect(onDisk()).toEqual(['p  2', 'p  3'].map((body) => ({ body, delivered: false })));
  });

  it('get, purge and delete: no-ack get acks, get marks delivered, purge acks, delete removes the directory', () => {
    const { dir, send, endBatch, onDisk } = setup();
    send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q', dir }));
    for (let i = 1; i <= 4; i++) send(publishRecord([1], `p  ${i}`, { flags: R.PUBLISH_PERSISTENT, channelRef: 7 }));
    send(controlRecord(0, { op: 'get', queueId: 1, noAck: true }));
    send(controlRecord(0, { op: 'get', queueId: 1, noAck: false }));
    endBatch();
    expect(onDisk()).toEqual([{ body: 'p  2', delivered: true }, { body: 'p  3', delivered: false }, { body: 'p  4', delivered: false }]);
    send(controlRecord(0, { op: 'purge', queueId: 1 }));
    endBatch();
    expect(onDisk()).toEqual([{ body: 'p  2', delivered: true }]); // unacked: not purged
    send(controlRecord(0, { op: 'delete', queueId: 1 }));
    endBatch();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('a declare recovers the directory: ids go on after the recovered ones, delivered ones redelivered', () => {
    const first = setup();
    first.send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q', dir: first.dir }));
    for (let i = 1; i <= 3; i++) first.send(publishRecord([1], `p  ${i}`, { flags: R.PUBLISH_PERSISTENT, channelRef: 7 }));
    first.send(controlRecord(0, { op: 'get', queueId: 1, noAck: false }));
    first.send(controlRecord(0, { op: 'stop' }));
    first.endBatch();

    const out = Ring.allocate(1 << 16);
    const shard = new Shard(new RingWriter(out, new LocalDoorbell()), () => new InlineSyncWriter());
    const send = (record: Buffer) => shard.handle(record, 0, record.length);
    send(controlRecord(0, { op: 'declare', queueId: 9, name: 'q', dir: first.dir }));
    send(publishRecord([9], 'p  4', { flags: R.PUBLISH_PERSISTENT, channelRef: 7 }));
    send(controlRecord(0, { op: 'consume', queueId: 9, consumerId: 1, noAck: false, prefetch: 0, limitSlot: -1 }));
    shard.deliver();
    const got: { id: number; redelivered: boolean; body: string }[] = [];
    out.publish(); // what the writer committed (its flush() would publish it)
    for (let at = out.peek(); at >= 0; at = out.peek()) {
      const buf = out.data;
      if (buf[at] === R.S2A_DELIVER) {
        got.push({ id: buf.readDoubleLE(at + 10), redelivered: buf[at + 1] === 1, body: buf.toString('utf8', at + out.recordSize - 4, at + out.recordSize) });
      }
      out.consume();
    }
    expect(got).toEqual([
      { id: 1, redelivered: true, body: 'p  1' },
      { id: 2, redelivered: false, body: 'p  2' },
      { id: 3, redelivered: false, body: 'p  3' },
      { id: 4, redelivered: false, body: 'p  4' },
    ]);
  });
});
