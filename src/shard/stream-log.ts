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
 * The whole log is held in memory (and, for a stored queue, on disk as its
 * messages are): the memory alarm bounds a stream without retention.
 */
import { Deque } from './deque.js';
import type { StoredMessage } from './queue.js';

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

interface Segment {
  firstOffset: number;
  bytes: number;
  /** its newest record's time */
  lastTime: number;
}

export class StreamLog {
  private readonly records = new Deque<StreamRecord>();
  /** oldest first; the last one is being written */
  private readonly segments = new Deque<Segment>();
  private nextOffset = 0;
  private lastChunkStart = 0;
  /** the block bytes of all records */
  private bytes = 0;

  constructor(
    public retention: Retention,
    /** a record left the log (retention, or the queue went) */
    private readonly released: (record: StreamRecord) => void,
  ) {}

  get length(): number {
    return this.records.length;
  }

  /**
   * Appends a message at `time` (the batch's time: a new time begins a chunk).
   * A segment filled by it ends, and retention runs.
   */
  append(message: StoredMessage, time: number): StreamRecord {
    const record = this.add(message, this.nextOffset, time);
    if (this.segments.at(this.segments.length - 1)!.bytes >= this.retention.segmentBytes) this.roll(time);
    return record;
  }

  /** A record read back from disk at declare, in order: no retention runs. */
  restore(message: StoredMessage, offset: number, time: number): StreamRecord {
    const record = this.add(message, offset, time);
    if (this.segments.at(this.segments.length - 1)!.bytes >= this.retention.segmentBytes) this.startSegment(this.nextOffset, time);
    return record;
  }

  /** Recovery found offsets below `offset` on disk, dropped ones too: new ones start at it. */
  startAt(offset: number): void {
    this.nextOffset = Math.max(this.nextOffset, offset);
  }

  /** Where a consumer with `spec` starts reading. */
  seek(spec: StreamOffset): number {
    const first = this.records.at(0)?.offset ?? this.nextOffset;
    if (spec === 'first') return first;
    if (spec === 'next') return this.nextOffset;
    if (spec === 'last') return this.records.length === 0 ? this.nextOffset : this.lastChunkStart;
    // Past the end, it waits for that offset: what comes before it is skipped, as RabbitMQ does.
    if ('offset' in spec) return Math.max(spec.offset, first);
    // The first chunk appended at or after the time; none: only what comes next.
    const i = this.indexWhere((r) => r.time >= spec.timestamp);
    return i < this.records.length ? this.records.at(i)!.offset : this.nextOffset;
  }

  /** The record at `offset`, or the oldest one if retention dropped that far; undefined past the end. */
  at(offset: number): StreamRecord | undefined {
    const records = this.records;
    if (records.length === 0 || offset >= this.nextOffset) return undefined;
    const first = records.at(0)!;
    if (offset <= first.offset) return first;
    // Offsets are contiguous unless recovery skipped a damaged part: then search.
    const direct = records.at(offset - first.offset);
    if (direct !== undefined && direct.offset === offset) return direct;
    return records.at(this.indexWhere((r) => r.offset >= offset));
  }

  /** Calls `visit` on each message held. */
  forEachMessage(visit: (message: StoredMessage) => void): void {
    this.records.forEach((record) => visit(record.message));
  }

  /** Every record leaves, each passed to `visit` (not `released`: the queue is deleted, its disk with it); returns how many there were. */
  clear(visit: (record: StreamRecord) => void): number {
    const count = this.records.length;
    for (let record = this.records.shift(); record !== undefined; record = this.records.shift()) visit(record);
    this.segments.clear();
    this.bytes = 0;
    return count;
  }

  private add(message: StoredMessage, offset: number, time: number): StreamRecord {
    const last = this.records.at(this.records.length - 1);
    const chunkStart = last === undefined || last.time !== time;
    const record: StreamRecord = { message, offset, time, chunkStart };
    if (chunkStart) this.lastChunkStart = offset;
    this.records.push(record);
    if (this.segments.length === 0) this.startSegment(offset, time);
    this.nextOffset = offset + 1;
    const segment = this.segments.at(this.segments.length - 1)!;
    segment.bytes += message.block.length;
    segment.lastTime = time;
    this.bytes += message.block.length;
    return record;
  }

  private startSegment(firstOffset: number, time: number): void {
    this.segments.push({ firstOffset, bytes: 0, lastTime: time });
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
      for (let record = this.records.at(0); record !== undefined && record.offset < end; record = this.records.at(0)) {
        this.records.shift();
        this.bytes -= record.message.block.length;
        this.released(record);
      }
    }
  }

  /** The index of the first record for which `test` holds (records.length if none); `test` must be monotonic in the log's order. */
  private indexWhere(test: (record: StreamRecord) => boolean): number {
    let low = 0;
    let high = this.records.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (test(this.records.at(mid)!)) high = mid;
      else low = mid + 1;
    }
    return low;
  }
}
