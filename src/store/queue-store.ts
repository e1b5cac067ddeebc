/**
 * One durable queue's messages on disk, for the thread that writes them (the
 * sync worker, or a test). No threads here: append/ack/delivered buffer their
 * records, sync() writes them and fdatasyncs each file it touched, once.
 *
 * The queue's directory holds segments `NNNNNNNNNN.seg` (MESSAGE records,
 * appended until a segment would pass segmentSize) and, beside each, an ack
 * file `NNNNNNNNNN.ack` (ACK and DELIVERED records for that segment's
 * messages). Keeping a segment's acks with it lets a segment go as soon as all
 * its messages are acked, whatever the others hold: the .seg is deleted first,
 * then its .ack (an .ack without its .seg is removed at recovery).
 *
 * Message ids must increase from append to append (the shard's per-queue ids
 * do), so the segment of an id is found by binary search.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { AppendFile } from './append-file.js';
import { ID_BYTES, KIND_ACK, KIND_DELIVERED, KIND_MESSAGE, KIND_TIMED, RECORD_HEADER, blockOffset, sealRecord, writeId } from './log-record.js';
import { startsNewSegment } from './segment-layout.js';
import { copyBytes } from '../protocol/copy-bytes.js';

export const SEGMENT_SIZE = 8 * 1024 * 1024;
const SEGMENT_CHUNK = 256 * 1024;
const ACK_CHUNK = 4096;

/** A segment as recovery found it, handed to the QueueStore that goes on writing. */
export interface SegmentState {
  seq: number;
  firstId: number;
  lastId: number;
  /** MESSAGE records in it */
  count: number;
  /** of those, acked */
  acked: number;
  bytes: number;
  ackBytes: number;
}

export const segmentPath = (dir: string, seq: number, ext: 'seg' | 'ack'): string => join(dir, `${String(seq).padStart(10, '0')}.${ext}`);

class Segment {
  readonly log: AppendFile;
  readonly acks: AppendFile;
  firstId = Infinity;
  lastId = -1;
  count = 0;
  acked = 0;
  /** acks and delivery marks to write into the ack file at the next sync */
  readonly pendingAcks: number[] = [];
  readonly pendingDelivered: number[] = [];

  constructor(dir: string, readonly seq: number, bytes: number, ackBytes: number) {
    this.log = new AppendFile(segmentPath(dir, seq, 'seg'), bytes, SEGMENT_CHUNK);
    this.acks = new AppendFile(segmentPath(dir, seq, 'ack'), ackBytes, ACK_CHUNK);
  }

  /** Turns the pending marks into one ACK and one DELIVERED record. */
  writeMarks(): void {
    writeIds(this.acks, KIND_ACK, this.pendingAcks);
    writeIds(this.acks, KIND_DELIVERED, this.pendingDelivered);
  }
}

function writeIds(file: AppendFile, kind: number, ids: number[]): void {
  if (ids.length === 0) return;
  const payload = ids.length * ID_BYTES;
  const b = file.reserve(RECORD_HEADER + payload);
  const at = file.at;
  b[at + 8] = kind;
  for (let i = 0; i < ids.length; i++) writeId(b, at + RECORD_HEADER + i * ID_BYTES, ids[i]);
  sealRecord(b, at, payload);
  ids.length = 0;
}

export class QueueStore {
  /** oldest first; the last one, once appended to, is `current` */
  private readonly segments: Segment[] = [];
  private current: Segment | null = null;
  private nextSeq: number;
  private lastId = -1;
  /** segments with records not yet synced */
  private readonly touched = new Set<Segment>();
  /** fdatasync calls made, directories included */
  fsyncs = 0;

  constructor(
    readonly dir: string,
    recovered: readonly SegmentState[] = [],
    readonly segmentSize = SEGMENT_SIZE,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    for (const s of recovered) {
      const seg = new Segment(dir, s.seq, s.bytes, s.ackBytes);
      seg.firstId = s.firstId;
      seg.lastId = s.lastId;
      seg.count = s.count;
      seg.acked = s.acked;
      this.segments.push(seg);
      this.lastId = s.lastId;
    }
    // Recovered segments are never appended to again: new messages start a new one.
    this.nextSeq = recovered.length > 0 ? recovered[recovered.length - 1].seq + 1 : 1;
  }

  /** Appends message `id` (greater than any before) whose block is buf[start..end), with its deadline (0: none). */
  append(id: number, buf: Buffer, start: number, end: number, expiresAt = 0): void {
    if (!(id > this.lastId)) throw new Error(`store: message id ${id} after ${this.lastId}`);
    this.lastId = id;
    const kind = expiresAt === 0 ? KIND_MESSAGE : KIND_TIMED;
    const payload = blockOffset(kind) + end - start;
    let seg = this.current;
    // The shard mirrors this placement (SegmentLayout) to find paged-out messages again.
    if (seg === null || startsNewSegment(seg.count, seg.log.size, RECORD_HEADER + payload, this.segmentSize)) seg = this.rollOver();
    const b = seg.log.reserve(RECORD_HEADER + payload);
    const at = seg.log.at;
    b[at + 8] = kind;
    writeId(b, at + RECORD_HEADER, id);
    if (expiresAt !== 0) b.writeDoubleLE(expiresAt, at + RECORD_HEADER + ID_BYTES);
    copyBytes(buf, start, end, b, at + RECORD_HEADER + blockOffset(kind));
    sealRecord(b, at, payload);
    if (seg.count === 0) seg.firstId = id;
    seg.lastId = id;
    seg.count++;
    this.touched.add(seg);
  }

  /**
   * Message `id` was acked (or dropped): it will not come back. Only for ids that
   * were appended (persistent messages), each once: the counts decide when a
   * segment goes, and an id between two appended ones would count wrongly.
   */
  ack(id: number): void {
    const seg = this.segmentOf(id);
    if (seg === null) return; // not a persistent message of this queue
    seg.acked++;
    if (seg.acked === seg.count && seg !== this.current) this.removeSegment(seg);
    else {
      seg.pendingAcks.push(id);
      this.touched.add(seg);
    }
  }

  /**
   * The messages of ids [from, to) went at once (a stream's retention; ids are
   * contiguous within each of its segments, and none of these was acked
   * before): a segment wholly inside goes without its acks, one across an end
   * gets an ack for each of its ids inside.
   */
  ackRange(from: number, to: number): void {
    for (const seg of this.segments.filter((s) => s.lastId >= from && s.firstId < to)) {
      if (seg.firstId >= from && seg.lastId < to && seg !== this.current) this.removeSegment(seg);
      else for (let id = Math.max(from, seg.firstId); id < Math.min(to, seg.lastId + 1); id++) this.ack(id);
    }
  }

  /** Message `id` was handed to a consumer: after a crash it comes back redelivered. */
  delivered(id: number): void {
    const seg = this.segmentOf(id);
    if (seg === null) return;
    seg.pendingDelivered.push(id);
    this.touched.add(seg);
  }

  /**
   * The messages of every segment from `seq` on were purged: those segments go
   * whole (no acks needed). The next append opens a new segment, as the shard's
   * SegmentLayout expects.
   */
  dropFrom(seq: number): void {
    for (let i = this.segments.length - 1; i >= 0 && this.segments[i].seq >= seq; i--) this.removeSegment(this.segments[i]);
    if (this.current !== null && this.current.seq >= seq) this.current = null;
  }

  /** Writes what was appended and marked, one fdatasync per file touched; returns how many. */
  sync(): number {
    let n = 0;
    for (const seg of this.touched) {
      seg.writeMarks();
      if (seg.log.sync()) n++;
      if (seg.acks.sync()) n++;
    }
    this.touched.clear();
    this.fsyncs += n;
    return n;
  }

  /** Bytes of this queue's files, counting those still buffered. */
  get diskBytes(): number {
    let bytes = 0;
    for (const seg of this.segments) bytes += seg.log.size + seg.acks.size;
    return bytes;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Syncs and closes the files (the queue stops, its data stays). */
  close(): void {
    this.sync();
    for (const seg of this.segments) {
      seg.log.close();
      seg.acks.close();
    }
  }

  /** The queue was deleted: its directory goes. */
  destroy(): void {
    for (const seg of this.segments) {
      seg.log.close();
      seg.acks.close();
    }
    this.segments.length = 0;
    this.touched.clear();
    this.current = null;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Ends the current segment (synced, closed; deleted if all acked) and starts the next. */
  private rollOver(): Segment {
    const old = this.current;
    if (old !== null) {
      old.writeMarks();
      if (old.log.sync()) this.fsyncs++;
      if (old.acks.sync()) this.fsyncs++;
      this.touched.delete(old);
      old.log.close();
      if (old.acked === old.count) this.removeSegment(old);
    }
    const seg = new Segment(this.dir, this.nextSeq++, 0, 0);
    seg.log.create();
    syncDir(this.dir); // the new file's name survives a power cut, not only its bytes
    this.fsyncs++;
    this.segments.push(seg);
    this.current = seg;
    return seg;
  }

  private removeSegment(seg: Segment): void {
    seg.log.remove();
    seg.acks.remove();
    this.touched.delete(seg);
    this.segments.splice(this.segments.indexOf(seg), 1);
  }

  /** The segment holding message `id`, or null. */
  private segmentOf(id: number): Segment | null {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (segs[mid].firstId <= id) lo = mid + 1;
      else hi = mid - 1;
    }
    const seg = hi >= 0 ? segs[hi] : null;
    return seg !== null && id <= seg.lastId ? seg : null;
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
