/**
 * A stream consumer's place in its log, and the records it read ahead from a
 * segment file (StreamLog.read fills it). A consumer stalled on its prefetch
 * keeps what it read ahead for when it goes on, so a shard bounds what its
 * cursors hold together (ReadAheadBudget): past the bound, the cursors that
 * read least recently put theirs back, their readers rewound to the first
 * record they had not handed out, and read it again when they go on. And the
 * more cursors hold some, the less each reads at once, so that they fit.
 */
import { Deque } from './deque.js';
import type { StreamRecord } from './stream-log.js';
import { MIN_READ_BYTES, READ_BYTES, SegmentReader } from '../store/segment-reader.js';

export class StreamCursor {
  /** what it read ahead, in order, all from `readerSeq`, and where each record begins there */
  private readonly ahead = new Deque<StreamRecord>();
  private readonly positions = new Deque<number>();
  private aheadBytes = 0;
  reader: SegmentReader | null = null;
  /** the store segment `reader` is in, and the offset after the last record it read there */
  readerSeq = 0;
  readerNext = 0;
  /** the time of the last record read from disk: a new time begins a chunk */
  lastTime = NaN;
  /**
   * The offset that goes on with the chunk its consumer was handed last (-1:
   * its next record begins a chunk): only that record may come past its
   * prefetch. One that retention moved it to, in the middle of a chunk, begins
   * one for it.
   */
  chunkNext = -1;

  constructor(
    /** the offset it reads next */
    public offset: number,
    /** null: a cursor of the log's own, for a moment (a timestamp's seek) */
    private readonly budget: ReadAheadBudget | null = null,
  ) {}

  /** block bytes read ahead */
  get held(): number {
    return this.aheadBytes;
  }

  /** how much to read at once */
  get readBytes(): number {
    return this.budget?.readBytes ?? READ_BYTES;
  }

  /** The first record read ahead at or past its offset; the ones before it are let go. */
  peek(): StreamRecord | undefined {
    const ahead = this.ahead;
    while (ahead.length > 0 && ahead.at(0)!.offset < this.offset) this.shift();
    return ahead.at(0);
  }

  /** A record read from its reader's segment at byte `position`. */
  push(record: StreamRecord, position: number): void {
    this.ahead.push(record);
    this.positions.push(position);
    this.aheadBytes += record.message.block.length;
  }

  /** A read is over: the budget hears of what it holds now. */
  filled(): void {
    this.budget?.filled(this);
  }

  /** Lets go of what it read ahead (it reads on elsewhere). */
  clear(): void {
    if (this.ahead.length === 0) return;
    this.ahead.clear();
    this.positions.clear();
    this.release();
  }

  /** Lets go of what it read ahead, its reader rewound to read it again. */
  putBack(): void {
    const head = this.peek();
    if (head === undefined) return;
    this.reader!.seek(this.readerSeq, this.positions.at(0)!);
    this.readerNext = head.offset;
    // (NaN equals no time: the record begins a chunk again)
    this.lastTime = head.chunkStart ? NaN : head.time;
    this.clear();
  }

  /** Its consumer went. */
  close(): void {
    this.clear();
    this.reader?.close();
  }

  private shift(): void {
    this.aheadBytes -= this.ahead.shift()!.message.block.length;
    this.positions.shift();
    if (this.ahead.length === 0) this.release();
  }

  private release(): void {
    this.aheadBytes = 0;
    this.budget?.released(this);
  }
}

/** A shard's bound: 256 cursors reading 64 KiB at a time fit in it. */
export const READ_AHEAD_BYTES = 32 * 1024 * 1024;

/** A shard's bound on what its stream cursors hold read ahead, together. */
export class ReadAheadBudget {
  private heldBytes = 0;
  /** the cursors holding some, least recently filled first, with what each held then (an upper bound: they hand records out) */
  private readonly holders = new Map<StreamCursor, number>();

  constructor(private readonly limit: number) {}

  /** A cursor's reads: a share of the bound, between a 64 KiB and a 1 MiB read. */
  get readBytes(): number {
    return Math.min(READ_BYTES, Math.max(MIN_READ_BYTES, Math.floor(this.limit / (2 * (this.holders.size + 1)))));
  }

  get held(): number {
    return this.heldBytes;
  }

  filled(cursor: StreamCursor): void {
    this.released(cursor);
    if (cursor.held === 0) return;
    this.holders.set(cursor, cursor.held);
    this.heldBytes += cursor.held;
    // The oldest go back first; the one that just read keeps its read.
    for (const other of this.holders.keys()) {
      if (this.heldBytes <= this.limit || other === cursor) break;
      other.putBack();
    }
  }

  released(cursor: StreamCursor): void {
    this.heldBytes -= this.holders.get(cursor) ?? 0;
    this.holders.delete(cursor);
  }
}
