/**
 * Reads a queue's paged-out messages back from its segments, in order, from a
 * position the shard knows (segment, byte offset), in large sequential reads.
 * It is only pointed at bytes already written (the shard pages a message out
 * once the sync worker made it durable) and asked for no more messages than it
 * knows are there, so it never meets a record still being written.
 *
 * Segments recovered at start may hold acked messages between the unacked ones,
 * and delivery marks: their ack file is read when the reader enters one. A
 * segment written in this run holds no acked message past the window.
 */
import fs from 'node:fs';
import { crc32 } from './crc32.js';
import { ID_BYTES, KIND_ACK, KIND_DELIVERED, RECORD_HEADER, blockOffset, isMessage, readId, recordDeadline, scanRecords } from './log-record.js';
import { segmentPath } from './queue-store.js';
import { log } from '../log/logger.js';

/**
 * One read's size. Reads happen on the shard thread between deliveries: 1 MiB
 * (about 900 messages of 1 KiB) per read keeps their number, and so the
 * shard's stalls, small, and a page cache hit costs well under a millisecond.
 */
export const READ_BYTES = 1024 * 1024;

/** The smallest read: a smaller `bytes` still reads this much, so a read rarely ends inside a record it then reads again. */
export const MIN_READ_BYTES = 64 * 1024;

/** Shared by the readers of this thread: one shard's reads never overlap. */
let scratch: Buffer | null = null;

export interface ReadSink {
  /** An unacked message read back; `block` is the reader's own copy; `expiresAt`: its deadline, 0 for none; `position`: its record's byte in the segment. */
  onRead(id: number, block: Buffer, delivered: boolean, expiresAt: number, position: number): void;
}

export class SegmentReader {
  private seq = 0;
  private offset = 0;
  private fd = -1;
  /** the current segment's acked and delivered ids, when it was recovered at start */
  private acked: Set<number> | null = null;
  private delivered: Set<number> | null = null;
  /** the last read ran out of segments (a missing or damaged file): what was asked for is not there */
  ended = false;

  constructor(
    private readonly dir: string,
    /** what to put before a warning in the log, e.g. "queue 'q'" */
    private readonly label: string,
    /** the segments recovered at start, ascending: past them, segments follow one another (seq + 1) */
    private readonly recovered: readonly number[] = [],
  ) {}

  /** the segment the next record is read from */
  get segment(): number {
    return this.seq;
  }

  /** The next record to read is at `offset` in segment `seq`. */
  seek(seq: number, offset: number): void {
    if (seq !== this.seq) this.enter(seq);
    this.offset = offset;
  }

  /**
   * Reads the next unacked messages, at most `count` and about `bytes` bytes of
   * records (a file read is no larger, or 64 KiB, unless one record is), handing each to
   * `sink`; returns how many. Fewer than asked (not for want of `bytes`) sets
   * `ended`: the segments ran out, which is logged.
   * `withinSegment`: stop at the end of the current segment instead.
   */
  read(count: number, bytes: number, sink: ReadSink, withinSegment = false): number {
    this.ended = false;
    let n = 0;
    let got = 0;
    while (n < count && got < bytes) {
      if (this.fd < 0 && !this.open()) return n;
      let buf = (scratch ??= Buffer.allocUnsafe(READ_BYTES));
      const want = Math.min(buf.length, Math.max(bytes - got, MIN_READ_BYTES));
      let len: number;
      try {
        len = fs.readSync(this.fd, buf, 0, want, this.offset);
        const size = len >= RECORD_HEADER ? RECORD_HEADER + buf.readUInt32LE(0) : 0;
        // A record larger than a read is read alone (unless its length is garbage: past the end of the file).
        if (size > want && size <= fs.fstatSync(this.fd).size - this.offset) {
          if (size > buf.length) buf = Buffer.allocUnsafe(size);
          len = fs.readSync(this.fd, buf, 0, size, this.offset);
        }
      } catch (err) {
        this.warn(`cannot read it back: ${(err as Error).message}`);
        this.ended = true;
        return n;
      }
      let at = 0;
      let bad = false;
      while (at + RECORD_HEADER <= len && n < count && got < bytes) {
        const size = RECORD_HEADER + buf.readUInt32LE(at);
        if (at + size > len) break;
        const handed = this.take(buf, at, size, sink);
        if (handed < 0) {
          bad = true;
          break;
        }
        n += handed;
        got += handed * size;
        at += size;
      }
      this.offset += at;
      if (bad) this.warn(`a record failing its CRC at byte ${this.offset}; skipped the rest of this segment`);
      else if (at === 0 && len > 0) this.warn(`a torn record at byte ${this.offset}; skipped the rest of this segment`);
      if (bad || at === 0) {
        // This segment ends here.
        if (withinSegment) return n;
        this.next();
      }
    }
    return n;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  /** Hands the MESSAGE record buf[at..at + size) to the sink unless acked: 1 handed, 0 skipped, -1 damaged. */
  private take(buf: Buffer, at: number, size: number, sink: ReadSink): number {
    if (crc32(buf, at + 8, at + size) !== buf.readUInt32LE(at + 4)) return -1;
    const kind = buf[at + 8];
    if (!isMessage(kind)) return 0;
    const id = readId(buf, at + RECORD_HEADER);
    if (this.acked !== null && this.acked.has(id)) return 0;
    const block = Buffer.from(buf.subarray(at + RECORD_HEADER + blockOffset(kind), at + size));
    sink.onRead(id, block, this.delivered !== null && this.delivered.has(id), recordDeadline(buf, kind, at + RECORD_HEADER), this.offset + at);
    return 1;
  }

  private open(): boolean {
    try {
      this.fd = fs.openSync(segmentPath(this.dir, this.seq, 'seg'), 'r');
      return true;
    } catch (err) {
      this.warn(`cannot read it back: ${(err as Error).message}`);
      this.ended = true;
      return false;
    }
  }

  /** On to the segment after the current one. */
  private next(): void {
    const later = this.recovered.find((s) => s > this.seq);
    this.enter(later ?? this.seq + 1);
    this.offset = 0;
  }

  private enter(seq: number): void {
    this.close();
    this.seq = seq;
    this.acked = null;
    this.delivered = null;
    if (this.recovered.includes(seq)) this.readMarks();
  }

  /** A recovered segment's ack file (its tail may be being appended to: a torn end is only the newest marks). */
  private readMarks(): void {
    const path = segmentPath(this.dir, this.seq, 'ack');
    if (!fs.existsSync(path)) return;
    const buf = fs.readFileSync(path);
    const acked = (this.acked = new Set<number>());
    const delivered = (this.delivered = new Set<number>());
    scanRecords(buf, (kind, at, end) => {
      const into = kind === KIND_ACK ? acked : kind === KIND_DELIVERED ? delivered : null;
      if (into !== null) for (let p = at; p + ID_BYTES <= end; p += ID_BYTES) into.add(readId(buf, p));
    });
  }

  private warn(text: string): void {
    log.error(`${this.label}: ${segmentPath(this.dir, this.seq, 'seg')}: ${text}`);
  }
}
