/**
 * Where a queue's appends land in its segments: the rule QueueStore follows,
 * and a mirror of it for the shard. The shard appends through another thread
 * (the sync worker) yet must know where a message it pages out lies, to read it
 * back later; both sides follow this one rule from the same start, so the
 * mirror needs no answer from the writer.
 */
import { DEADLINE_BYTES, ID_BYTES, RECORD_HEADER } from './log-record.js';

/** Whether a record of `recordBytes` starts a new segment after one holding `count` records in `size` bytes. */
export function startsNewSegment(count: number, size: number, recordBytes: number, segmentSize: number): boolean {
  return count > 0 && size + recordBytes > segmentSize;
}

/** The bytes of the record of a block of `blockBytes`: a MESSAGE, or TIMED when it has a deadline. */
export const messageRecordBytes = (blockBytes: number, timed: boolean): number => RECORD_HEADER + ID_BYTES + (timed ? DEADLINE_BYTES : 0) + blockBytes;

export class SegmentLayout {
  /** the segment the last append went into (0: none yet) */
  seq = 0;
  /** where the last append's record starts in it */
  offset = 0;
  private size = 0;
  private count = 0;

  /** `nextSeq`: the segment the first append opens (QueueStore: the last recovered one + 1, or 1). */
  constructor(
    private nextSeq: number,
    private readonly segmentSize: number,
  ) {}

  /** As QueueStore.dropFrom: if the current segment is dropped, the next append opens a new one. */
  dropFrom(seq: number): void {
    if (this.seq >= seq) this.seq = 0;
  }

  /** Places the next append, a block of `blockBytes` (`timed`: with a deadline): `seq` and `offset` then say where its record is. */
  place(blockBytes: number, timed: boolean): void {
    const bytes = messageRecordBytes(blockBytes, timed);
    if (this.seq === 0 || startsNewSegment(this.count, this.size, bytes, this.segmentSize)) {
      this.seq = this.nextSeq++;
      this.size = 0;
      this.count = 0;
    }
    this.offset = this.size;
    this.size += bytes;
    this.count++;
  }
}
