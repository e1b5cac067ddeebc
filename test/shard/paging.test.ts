/**
 * A durable queue longer than its in-memory window, inline (a Shard over a real
 * InlineSyncWriter on a temp dir): past the window persistent messages live only
 * in their segments and cost the heap nothing each; they come back in order,
 * interleaved with the transient ones, through requeues, restarts and purges.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Ring } from '../../src/shard/ring.js';
import { RingWriter } from '../../src/shard/ring-writer.js';
import { LocalDoorbell } from '../../src/shard/doorbell.js';
import { Shard } from '../../src/shard/shard.js';
import { PAGE_WINDOW_BYTES, PAGE_WINDOW_MESSAGES } from '../../src/shard/paged-backlog.js';
import { InlineSyncWriter } from '../../src/store/inline-sync-writer.js';
import * as R from '../../src/shard/records.js';
import { controlRecord, publishRecord, settleRecord } from './records.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** 1 KiB bodies "p 17 ....." (persistent) or "t 17 ....." (transient). */
const body = (kind: 'p' | 't', n: number) => `${kind} ${n} `.padEnd(1024, '.');
const view = new R.BlockView();

function newDir(): string {
  const d = fs.mkdtempSync(join(os.tmpdir(), 'warren-paging-'));
  dirs.push(d);
  return join(d, 'q');
}

interface Got {
  text: string;
  id: number;
  redelivered: boolean;
  messageCount: number;
}

/** An InlineSyncWriter whose I/O happens only while `open_`: a slow disk. */
class HeldWriter extends InlineSyncWriter {
  open_ = true;
  override flush(): void {
    if (this.open_) super.flush();
  }
}

/** A shard on queue dir `dir` (queue id 1), as a broker start would declare it. */
function shardOn(dir: string) {
  const out = Ring.allocate(1 << 20);
  const writer = new HeldWriter();
  const shard = new Shard(new RingWriter(out, new LocalDoorbell()), () => writer);
  const send = (record: Buffer) => shard.handle(record, 0, record.length);
  /** Ends a batch (the store syncs: paged messages leave memory); returns the GET_OKs written. */
  const endBatch = (): Got[] => {
    shard.deliver();
    shard.flushConfirms();
    const got: Got[] = [];
    out.publish(); // what the writer committed (its flush() would publish it)
    for (let at = out.peek(); at >= 0; at = out.peek()) {
      const buf = out.data;
      if (buf[at] === R.S2A_GET_OK) {
        view.read(buf, R.deliveredBlockAt(buf, at, R.GET_OK_HEADER));
        got.push({
          text: buf.toString('latin1', view.bodyAt, view.end).replace(/ \.*$/, ''),
          id: buf.readDoubleLE(at + 10),
          redelivered: R.isRedelivered(buf, at),
          messageCount: buf.readUInt32LE(at + 18),
        });
      }
      out.consume();
    }
    return got;
  };
  /** basic.get, one at a time */
  const get = (noAck: boolean): Got | undefined => {
    send(controlRecord(1, { op: 'get', queueId: 1, noAck }));
    return endBatch()[0];
  };
  /** basic.get until the queue is empty, 256 per batch (one fsync each); `check` runs after each batch */
  const getAll = (noAck: boolean, check = () => {}): Got[] => {
    const got: Got[] = [];
    for (;;) {
      for (let i = 0; i < 256; i++) send(controlRecord(1, { op: 'get', queueId: 1, noAck }));
      const batch = endBatch();
      got.push(...batch);
      check();
      if (batch.length < 256) return got;
    }
  };
  send(controlRecord(0, { op: 'declare', queueId: 1, name: 'q', dir }));
  endBatch();
  return { shard, writer, send, endBatch, get, getAll };
}

/** Publishes `count` numbered 1 KiB messages from `from`, every `transientEvery`th transient, syncing every 500. */
function publish(s: ReturnType<typeof shardOn>, from: number, count: number, transientEvery = 0): string[] {
  const sent: string[] = [];
  for (let n = from; n < from + count; n++) {
    const transient = transientEvery > 0 && n % transientEvery === 0;
    s.send(publishRecord([1], body(transient ? 't' : 'p', n), { flags: transient ? 0 : R.PUBLISH_PERSISTENT }));
    sent.push(`${transient ? 't' : 'p'} ${n}`);
    if (n % 500 === 0) s.endBatch();
  }
  s.endBatch();
  return sent;
}

/** A window's worth of 1 KiB messages: the byte limit comes first. */
const WINDOW = Math.min(PAGE_WINDOW_MESSAGES, Math.floor(PAGE_WINDOW_BYTES / 1024));

describe('a durable queue longer than its window', () => {
  it('keeps only about a window in memory and gives back every message, in order, once', () => {
    const s = shardOn(newDir());
    const total = 6 * WINDOW;
    const sent = publish(s, 1, total, 10);
    const transients = sent.filter((t) => t.startsWith('t')).length;
    // In memory: the window, and the transient ones (never on disk); not the paged-out persistent ones.
    expect(s.shard.backlog.entries).toBeLessThanOrEqual(WINDOW + transients);
    expect(s.shard.backlog.bytes).toBeLessThan((WINDOW + transients) * 1300);
    const got = s.getAll(true, () => expect(s.shard.backlog.entries).toBeLessThanOrEqual(WINDOW + transients));
    expect(got.map((g) => g.text)).toEqual(sent);
    expect(got.map((g) => g.messageCount)).toEqual(sent.map((_, i) => total - i - 1)); // the paged ones count too
    expect(s.shard.backlog.entries).toBe(0);
  });

  it('with a consumer, it stops its publishers at its window (not at 10,000 messages), so being behind does not page', () => {
    const s = shardOn(newDir());
    s.send(controlRecord(0, { op: 'consume', queueId: 1, consumerId: 1, noAck: false, prefetch: 1, limitSlot: -1 }));
    s.endBatch(); // the consumer takes its one message's credit: one is out, the rest ready
    publish(s, 1, WINDOW + 1);
    const queue = [...s.shard.backlog.flowChanged][0];
    expect([queue?.id, queue?.congested]).toEqual([1, true]);
    // A queue without a data dir keeps the broker-wide mark (10,000): the same count leaves it flowing.
    const plain = new Shard(new RingWriter(Ring.allocate(1 << 20), new LocalDoorbell()));
    const send = (record: Buffer) => plain.handle(record, 0, record.length);
    send(controlRecord(0, { op: 'declare', queueId: 2, name: 'plain' }));
    send(controlRecord(0, { op: 'consume', queueId: 2, consumerId: 2, noAck: false, prefetch: 1, limitSlot: -1 }));
    for (let n = 1; n <= WINDOW + 2; n++) send(publishRecord([2], body('p', n), { flags: R.PUBLISH_PERSISTENT }));
    expect(plain.backlog.flowChanged.size).toBe(0);
  });

  it('a simulated restart (dropTransient) keeps the persistent messages, paged or in the window, and drops the transient ones', () => {
    const s = shardOn(newDir());
    const sent = publish(s, 1, 3 * WINDOW, 4);
    const transients = sent.filter((t) => t.startsWith('t')).length;
    s.send(controlRecord(0, { op: 'dropTransient', queueIds: [1] }));
    s.endBatch();
    const kept = sent.filter((t) => t.startsWith('p'));
    const got = s.getAll(true);
    expect(got.map((g) => g.text)).toEqual(kept);
    // The counts left with the transient ones: 3 x WINDOW - transients were there.
    expect(got[0].messageCount).toBe(3 * WINDOW - transients - 1);
    expect(s.shard.backlog.entries).toBe(0);
    expect(s.shard.backlog.bytes).toBe(0);
  });

  it('a requeue during paging puts messages back at their place, before the paged ones', () => {
    const s = shardOn(newDir());
    const total = 3 * WINDOW;
    const sent = publish(s, 1, total);
    const held = [s.get(false)!, s.get(false)!, s.get(false)!]; // p 1..3, unacked
    const next = s.get(true)!; // p 4, gone
    expect(next.text).toBe('p 4');
    s.send(settleRecord(R.SETTLE_REQUEUE, [[1, held[2].id], [1, held[0].id]]));
    s.send(settleRecord(R.SETTLE_ACK, [[1, held[1].id]]));
    s.endBatch();
    const rest = s.getAll(true);
    expect(rest.map((g) => g.text)).toEqual(['p 1', 'p 3', ...sent.slice(4)]);
    expect(rest.slice(0, 2).every((g) => g.redelivered)).toBe(true);
    expect(rest.slice(2).some((g) => g.redelivered)).toBe(false);
  });

  it('past the window, messages not yet on disk wait in memory and are handed out from there, in order', () => {
    const s = shardOn(newDir());
    s.writer.open_ = false; // nothing becomes durable: nothing may be read back from disk yet
    const sent = publish(s, 1, 2 * WINDOW, 7);
    expect(s.shard.backlog.entries).toBe(sent.length); // all in memory, waiting for the fsync
    const early: Got[] = [];
    while (early.length < WINDOW + 10) {
      // past the window: from memory
      for (let i = 0; i < 256; i++) s.send(controlRecord(1, { op: 'get', queueId: 1, noAck: true }));
      early.push(...s.endBatch());
    }
    expect(early.map((g) => g.text)).toEqual(sent.slice(0, early.length));
    const more = publish(s, 2 * WINDOW + 1, 2 * WINDOW, 7);
    s.writer.open_ = true;
    s.endBatch(); // durable now: past the window they leave the heap
    expect(s.shard.backlog.entries).toBeLessThanOrEqual(WINDOW + more.filter((t) => t.startsWith('t')).length);
    expect(s.getAll(true).map((g) => g.text)).toEqual([...sent.slice(early.length), ...more]);
  });

  it('a restart loads only the window; the rest is read back in turn, redelivered where it had been delivered', () => {
    const dir = newDir();
    const first = shardOn(dir);
    const total = 5 * WINDOW;
    const sent = publish(first, 1, total, 9); // transient ones do not survive
    const persistent = sent.filter((t) => t.startsWith('p'));
    const acked = [first.get(true)!, first.get(true)!];
    const delivered = [first.get(false)!, first.get(false)!]; // unacked at the "crash"
    expect([...acked, ...delivered].map((g) => g.text)).toEqual(persistent.slice(0, 4));
    first.endBatch();

    const second = shardOn(dir); // the first one is never closed: as after a crash
    expect(second.shard.backlog.entries).toBeLessThanOrEqual(WINDOW);
    const got = second.getAll(false);
    expect(got.map((g) => g.text)).toEqual(persistent.slice(2));
    expect(got.map((g) => g.redelivered)).toEqual(persistent.slice(2).map((_, i) => i < 2));
    expect(got[0].messageCount).toBe(persistent.length - 3);
  });

  it('purge drops the paged messages on disk without reading them back; paging goes on after it; delete removes the directory', () => {
    const dir = newDir();
    const s = shardOn(dir);
    publish(s, 1, 4 * WINDOW, 10);
    s.get(false); // one unacked: a purge keeps it
    const segments = () => fs.readdirSync(dir).filter((f) => f.endsWith('.seg'));
    expect(segments().length).toBeGreaterThan(1);
    s.send(controlRecord(0, { op: 'purge', queueId: 1 }));
    s.endBatch();
    expect(s.shard.backlog.entries).toBe(0);
    expect(segments()).toEqual(['0000000001.seg']); // the unacked one's; the paged-out ones' segments went whole
    // Paging goes on after the purge, in new segments the shard finds again.
    const sent = publish(s, 100_000, 3 * WINDOW);
    expect(s.shard.backlog.entries).toBeLessThanOrEqual(WINDOW);
    expect(s.getAll(false).map((g) => g.text)).toEqual(sent);
    const after = shardOn(dir); // what a restart would find
    const got = after.getAll(true);
    expect(got.map((g) => g.text)).toEqual(['p 1', ...sent]);
    expect(got.map((g) => g.redelivered)).toEqual([true, ...sent.map(() => true)]);

    s.send(controlRecord(0, { op: 'delete', queueId: 1 }));
    s.endBatch();
    expect(fs.existsSync(dir)).toBe(false);
  });
  it('once read back, a segment is not held open: deleted when its messages are acked, it leaves the disk at once', () => {
    const dir = newDir();
    const s = shardOn(dir);
    const sent = publish(s, 1, 3 * WINDOW);
    expect(s.getAll(true).map((g) => g.text)).toEqual(sent); // read back from disk, all acked
    const segments = () => fs.readdirSync(dir).filter((f) => f.endsWith('.seg'));
    const readFrom = segments().at(-1)!; // the segment still appended to, where the reading ended
    // Within the window (no paging, the reader stays where it is) until that segment is full and, all acked, deleted.
    for (let n = sent.length + 1; segments().includes(readFrom); n += 1000) {
      publish(s, n, 1000);
      expect(s.getAll(true)).toHaveLength(1000);
    }
    const held = fs.readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        return [fs.readlinkSync(`/proc/self/fd/${fd}`)];
      } catch {
        return []; // the directory's own fd, gone by now
      }
    });
    expect(held.filter((target) => target.startsWith(dir) && target.endsWith('(deleted)'))).toEqual([]);
  });
});
