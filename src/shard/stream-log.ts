/**
 * A stream queue's messages (x-queue-type stream), as RabbitMQ 3.10 keeps
 * them for AMQP 0-9-1 clients: an append-only log that each consumer reads
 * from an offset of its own, taking nothing out. Offsets number the messages
 * from 0 and stay with them; retention drops the oldest, never renumbers.
 *
 * Chunks: RabbitMQ writes what reaches a stream together as one chunk, and
 * hands a consumer whole chunks, checking its prefetch only where one begins.
 * Here a chunk is what one shard batch appended (its records share the batch's
 * time, which is also the chunk's timestamp for a timestamp offset).
 *
 * Segments and retention: RabbitMQ writes a stream in segment files of
 * x-stream-max-segment-size-bytes (500 MB by default) and applies retention
 * only when one fills and the next begins: whole oldest segments go while the
 * stream is larger than x-max-length-bytes, or while their newest message is
 * older than x-max-age. The same here, counting a message's block bytes (a
 * segment file also holds RabbitMQ's own headers: its segments fill a little
 * sooner). RabbitMQ also spends offsets on records of its own at each segment
 * start; here offsets go one per message.
 *
 * Memory and disk: a stored stream's records are written to its queue's store
 * (TIMED records, id = offset + 1, the chunk's time where a queue's message
 * keeps its deadline), in store segments of their own size (8 MiB), which are
 * unrelated to the retention segments above. The log holds its records in
 * runs, one per store segment: a run stays in memory while it is being
 * written and while the newer ones hold less than a window; then, once on
 * disk, it keeps only its bounds, and a consumer that reads it reads the
 * segment file, a large read at a time (StreamCursor). A stream without disk
 * (an in-memory broker) is one run, held whole: the memory alarm bounds it.
 */
import { storedMessage } from './block-arena.js';
import { Deque } from './deque.js';
import { bodySize } from './lifecycle.js';
import type { StoredMessage } from './queue.js';
import { SegmentLayout } from '../store/segment-layout.js';
import { StreamCursor } from './stream-cursor.js';
import { SegmentReader, type ReadSink } from '../store/segment-reader.js';

/** Where a consumer starts (x-stream-offset); a timestamp is in ms since the epoch. */
export type StreamOffset = 'first' | 'last' | 'next' | { offset: number } | { timestamp: number };

export interface StreamRecord {
  readonly message: StoredMessage;
  readonly offset: number;
  /** when its chunk was appended, ms since the epoch */
  readonly time: number;
  /** the first record of its chunk */
  readonly chunkStart: boolean;
}

export interface Retention {
  /** x-max-length-bytes */
  maxBytes?: number;
  /** x-max-age, ms */
  maxAge?: number;
  /** x-stream-max-segment-size-bytes */
  segmentBytes: number;
}

/** RabbitMQ's default x-stream-max-segment-size-bytes. */
export const DEFAULT_SEGMENT_BYTES = 500_000_000;

/** Where a stored stream's records go on disk, and how much of them stays in memory. */
export interface StreamDisk {
  dir: string;
  /** what to put before a warning in the log, e.g. "stream 's'" */
  label: string;
  /** the store segment its first append opens (the last one recovered + 1, or 1) */
  nextSeq: number;
  /** the store's segment size, which the log mirrors (SegmentLayout) */
  segmentSize: number;
  /** block bytes of the newest runs kept in memory beside the one being written */
  windowBytes: number;
}

/** What the log tells its queue. */
export interface StreamHost {
  /** a record's message came into memory (1) or left it (-1) */
  held(message: StoredMessage, sign: 1 | -1): void;
  /** records came into the log (`count` > 0: appended or restored) or retention took them out (< 0), with `bodyBytes` of bodies */
  counted(count: number, bodyBytes: number): void;
  /** retention dropped the records of offsets [from, to) */
  dropped(from: number, to: number): void;
}

/** The records of one store segment (of the whole log, without disk). */
interface Run {
  /** its store segment; 0: not on disk */
  readonly seq: number;
  /** in memory, contiguous from firstOffset; null: on disk only */
  records: Deque<StreamRecord> | null;
  firstOffset: number;
  /** one past its last record */
  endOffset: number;
  lastTime: number;
  /** block bytes of its records in memory */
  bytes: number;
  /** the store command of its last append: it is on disk once the store's durable reaches it */
  command: number;
}

/** A retention segment: its first offset and what it holds. */
interface Segment {
  firstOffset: number;
  count: number;
  bytes: number;
  bodyBytes: number;
  /** its newest record's time */
  lastTime: number;
}

export class StreamLog {
  /** oldest first; the last one is being appended to */
  private readonly runs = new Deque<Run>();
  /** oldest first; the last one is being written */
  private readonly segments = new Deque<Segment>();
  private nextOffset = 0;
  private lastChunkStart = 0;
  private lastTime = NaN;
  /** the records in the log, their block and body bytes */
  private count = 0;
  private bytes = 0;
  private bodyBytes = 0;
  /** of those, the ones in memory */
  private heldCount = 0;
  private heldBytes = 0;
  private heldBodyBytes = 0;
  private disk: StreamDisk | null = null;
  /** where the store puts its appends; null: they are not stored */
  private layout: SegmentLayout | null = null;

  constructor(
    public retention: Retention,
    private readonly host: StreamHost,
  ) {}

  get length(): number {
    return this.count;
  }

  /** records on disk only, and their body bytes */
  get pagedOut(): number {
    return this.count - this.heldCount;
  }

  get pagedOutBodyBytes(): number {
    return this.bodyBytes - this.heldBodyBytes;
  }

  /** Its appends go to the store from now on, after what was recovered there (restoreOnDisk). */
  storeAt(disk: StreamDisk): void {
    this.disk = disk;
    this.layout = new SegmentLayout(disk.nextSeq, disk.segmentSize);
  }

  /** Its appends are no longer stored (the disk failed): they stay in memory. */
  keepInMemory(): void {
    this.layout = null;
  }

  /**
   * Appends a message at `time` (the batch's time: a new time begins a chunk).
   * `write` puts a stored log's record on disk, returning the store's command
   * (before retention, which may drop it: its ack must follow its append).
   * Then, if the record filled its retention segment, retention runs.
   */
  append(message: StoredMessage, time: number, write?: (record: StreamRecord) => number): StreamRecord {
    const offset = this.nextOffset;
    const record: StreamRecord = { message, offset, time, chunkStart: this.startsChunk(time) };
    const blockBytes = message.block.length;
    let seq = 0;
    if (this.layout !== null) {
      this.layout.place(blockBytes, true);
      seq = this.layout.seq;
    }
    let run = this.runs.at(this.runs.length - 1);
    if (run === undefined || run.seq !== seq || run.records === null) {
      run = { seq, records: new Deque(), firstOffset: offset, endOffset: offset, lastTime: time, bytes: 0, command: 0 };
      this.runs.push(run);
    }
    run.records!.push(record);
    run.endOffset = offset + 1;
    run.lastTime = time;
    run.bytes += blockBytes;
    const body = bodySize(message.block);
    this.hold(record, 1, body);
    const full = this.add(offset, time, blockBytes, body);
    // (counted first: a write that throws leaves the log whole)
    if (write !== undefined) run.command = write(record);
    if (full) this.roll(time);
    return record;
  }

  /**
   * A record found on disk at declare, in order, in store segment `seq`: the
   * log knows of it without holding it. No retention runs.
   */
  restoreOnDisk(seq: number, offset: number, time: number, blockBytes: number, bodyBytes: number): void {
    let run = this.runs.at(this.runs.length - 1);
    if (run === undefined || run.seq !== seq) {
      run = { seq, records: null, firstOffset: offset, endOffset: offset, lastTime: time, bytes: 0, command: 0 };
      this.runs.push(run);
    }
    run.endOffset = offset + 1;
    run.lastTime = time;
    if (this.add(offset, time, blockBytes, bodyBytes)) this.startSegment(this.nextOffset, time);
  }

  /** Recovery found offsets below `offset` on disk, dropped ones too: new ones start at it. */
  startAt(offset: number): void {
    this.nextOffset = Math.max(this.nextOffset, offset);
  }

  /**
   * The store made its commands up to `durable` durable: whole runs written
   * and durable leave memory, oldest first, while the newer ones hold at least
   * the window. Returns true if one waits for a later fsync.
   */
  release(durable: number): boolean {
    const layout = this.layout;
    if (layout === null) return false;
    // The runs in memory are the newest few: find the first of them from the end.
    let i = this.runs.length;
    while (i > 0 && this.runs.at(i - 1)!.records !== null) i--;
    for (; i < this.runs.length; i++) {
      const run = this.runs.at(i)!;
      const records = run.records!;
      if (run.seq === 0 || run.seq === layout.seq || this.heldBytes - run.bytes < this.disk!.windowBytes) return false;
      if (run.command > durable) return true;
      records.forEach((record) => this.hold(record, -1));
      run.records = null;
      run.bytes = 0;
    }
    return false;
  }

  /** Where a consumer with `spec` starts reading. */
  seek(spec: StreamOffset): number {
    const first = this.count === 0 ? this.nextOffset : this.runs.at(0)!.firstOffset;
    if (spec === 'first') return first;
    if (spec === 'next') return this.nextOffset;
    if (spec === 'last') return this.count === 0 ? this.nextOffset : Math.max(this.lastChunkStart, first);
    // Past the end, it waits for that offset: what comes before it is skipped, as RabbitMQ does.
    if ('offset' in spec) return Math.max(spec.offset, first);
    // The first chunk appended at or after the time; none: only what comes next.
    const i = indexWhere(this.runs, (run) => run.lastTime >= spec.timestamp);
    const run = this.runs.at(i);
    if (run === undefined) return this.nextOffset;
    if (run.records !== null) return run.records.at(indexWhere(run.records, (r) => r.time >= spec.timestamp))!.offset;
    const cursor = new StreamCursor(run.firstOffset);
    for (let record = this.read(cursor); record !== undefined; record = this.read(cursor)) {
      if (record.time >= spec.timestamp) return record.offset;
      cursor.offset = record.offset + 1;
    }
    return this.nextOffset;
  }

  /**
   * The record at the cursor's offset, or the next one there is (retention
   * dropped that far, or a damaged part was skipped): the cursor moves to it.
   * Undefined past the end. From a run on disk only, the cursor reads ahead.
   */
  read(cursor: StreamCursor): StreamRecord | undefined {
    for (;;) {
      if (this.count === 0 || cursor.offset >= this.nextOffset) return undefined;
      const i = this.runOf(cursor.offset);
      const run = this.runs.at(i)!;
      if (cursor.offset < run.firstOffset) cursor.offset = run.firstOffset;
      if (cursor.offset >= run.endOffset) {
        const next = this.runs.at(i + 1);
        if (next === undefined) return undefined;
        cursor.offset = next.firstOffset;
        continue;
      }
      if (run.records !== null) {
        cursor.clear();
        return run.records.at(cursor.offset - run.firstOffset);
      }
      const record = this.readFromDisk(cursor, run, i);
      if (record !== undefined) {
        cursor.offset = record.offset;
        return record;
      }
      cursor.offset = run.endOffset; // the rest of its segment could not be read (logged)
    }
  }

  /** Calls `visit` on each message held in memory. */
  forEachMessage(visit: (message: StoredMessage) => void): void {
    this.runs.forEach((run) => run.records?.forEach((record) => visit(record.message)));
  }

  /** Every record leaves (the queue is deleted, its disk with it); returns how many there were. */
  clear(): number {
    const count = this.count;
    this.runs.forEach((run) => run.records?.forEach((record) => this.hold(record, -1)));
    this.runs.clear();
    this.segments.clear();
    this.count = this.bytes = this.bodyBytes = 0;
    return count;
  }

  /** Whether a record at `time` begins a chunk. */
  private startsChunk(time: number): boolean {
    return this.count === 0 || time !== this.lastTime;
  }

  /** Counts a new record at the log's end; returns true if its retention segment is full. */
  private add(offset: number, time: number, blockBytes: number, bodyBytes: number): boolean {
    if (this.startsChunk(time)) this.lastChunkStart = offset;
    this.lastTime = time;
    if (this.segments.length === 0) this.startSegment(offset, time);
    this.nextOffset = offset + 1;
    const segment = this.segments.at(this.segments.length - 1)!;
    segment.count++;
    segment.bytes += blockBytes;
    segment.bodyBytes += bodyBytes;
    segment.lastTime = time;
    this.count++;
    this.bytes += blockBytes;
    this.bodyBytes += bodyBytes;
    this.host.counted(1, bodyBytes);
    return segment.bytes >= this.retention.segmentBytes;
  }

  /** A record's message comes into memory (1) or leaves it (-1). */
  private hold(record: StreamRecord, sign: 1 | -1, body = bodySize(record.message.block)): void {
    this.heldCount += sign;
    this.heldBytes += sign * record.message.block.length;
    this.heldBodyBytes += sign * body;
    this.host.held(record.message, sign);
  }

  private startSegment(firstOffset: number, time: number): void {
    this.segments.push({ firstOffset, count: 0, bytes: 0, bodyBytes: 0, lastTime: time });
  }

  /** A new segment begins; whole old ones go while the stream is over its size, or they are past its age. */
  private roll(now: number): void {
    this.startSegment(this.nextOffset, now);
    const { maxBytes, maxAge } = this.retention;
    while (this.segments.length > 1) {
      const oldest = this.segments.at(0)!;
      const oversize = maxBytes !== undefined && this.bytes > maxBytes;
      const expired = maxAge !== undefined && oldest.lastTime < now - maxAge;
      if (!oversize && !expired) return;
      this.segments.shift();
      const end = this.segments.at(0)!.firstOffset;
      this.count -= oldest.count;
      this.bytes -= oldest.bytes;
      this.bodyBytes -= oldest.bodyBytes;
      this.dropBelow(end);
      this.host.counted(-oldest.count, -oldest.bodyBytes);
      this.host.dropped(oldest.firstOffset, end);
    }
  }

  /** The records below `end` leave the runs. */
  private dropBelow(end: number): void {
    for (let run = this.runs.at(0); run !== undefined && run.firstOffset < end; run = this.runs.at(0)) {
      const records = run.records;
      if (records !== null) {
        for (let record = records.at(0); record !== undefined && record.offset < end; record = records.at(0)) {
          records.shift();
          run.bytes -= record.message.block.length;
          this.hold(record, -1);
        }
      }
      if (run.endOffset > end) {
        run.firstOffset = end;
        return;
      }
      this.runs.shift();
    }
  }

  /** The index of the run holding `offset`: the last one starting at or before it (the first one if none does). */
  private runOf(offset: number): number {
    const last = this.runs.length - 1;
    if (offset >= this.runs.at(last)!.firstOffset) return last;
    return Math.max(indexWhere(this.runs, (run) => run.firstOffset > offset) - 1, 0);
  }

  /**
   * The cursor's next record in run `i`, on disk only: from what it read
   * ahead, or read on from its segment file (from the file's start when the
   * cursor is not already there).
   */
  private readFromDisk(cursor: StreamCursor, run: Run, i: number): StreamRecord | undefined {
    const head = cursor.peek();
    if (head !== undefined && head.offset < run.endOffset) return head;
    cursor.clear();
    const disk = this.disk!;
    const reader = (cursor.reader ??= new SegmentReader(disk.dir, disk.label));
    if (cursor.readerSeq !== run.seq || cursor.readerNext > cursor.offset) {
      reader.seek(run.seq, 0);
      cursor.readerSeq = run.seq;
      cursor.readerNext = 0;
      cursor.lastTime = this.runs.at(i - 1)?.lastTime ?? NaN;
    }
    const sink: ReadSink = {
      onRead: (id, block, _delivered, time, position) => {
        const offset = id - 1;
        const chunkStart = time !== cursor.lastTime;
        cursor.lastTime = time;
        cursor.readerNext = offset + 1;
        if (offset >= cursor.offset && offset < run.endOffset) cursor.push({ message: storedMessage(block), offset, time, chunkStart }, position);
      },
    };
    // Each read closes the file after it: a consumer that goes away leaves nothing open.
    const bytes = cursor.readBytes;
    while (cursor.peek() === undefined && reader.read(Infinity, bytes, sink, true) > 0) reader.close();
    reader.close();
    cursor.filled();
    return cursor.peek();
  }
}

/** The index of the first item for which `test` holds (length if none); `test` must be monotonic in the deque's order. */
function indexWhere<T>(items: Deque<T>, test: (item: T) => boolean): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (test(items.at(mid)!)) high = mid;
    else low = mid + 1;
  }
  return low;
}
