/**
 * The part of a durable queue past its in-memory window (RabbitMQ's lazy
 * queues, LavinMQ's segments): a backlog of persistent messages may be far
 * larger than the heap, so past the window they live only in the queue's
 * segment files and cost the heap nothing each: a count, and where the first
 * of them is on disk. They are read back in order, in large reads, when the
 * window drains below half.
 *
 * Past the window, in id order, a message is one of:
 * - on disk only (`onDisk`): persistent and durable; the SegmentReader knows
 *   where the next one is;
 * - read ahead (`readAhead`): read back from disk, not yet in the window;
 * - unsynced: persistent but not yet written by the sync worker, so kept in
 *   memory until `release` (the next fsync) pages it out; a reader only ever
 *   meets bytes already written;
 * - transient (`transients`): a transient message never goes to disk; it waits
 *   here, in memory, for its turn.
 * On disk and read-ahead ones are all older than the unsynced ones (a message
 * is released in append order), and transients fall anywhere between: the
 * next message is the lowest id at the heads of the lists.
 */
import { Deque } from './deque.js';
import { bodySize } from './lifecycle.js';
import type { QueueEntry } from './queue.js';
import { storedMessage } from './block-arena.js';
import { SEGMENT_SIZE } from '../store/queue-store.js';
import type { PagedOut } from '../store/recover.js';
import { SegmentLayout } from '../store/segment-layout.js';
import { SegmentReader, type ReadSink } from '../store/segment-reader.js';
import { log } from '../log/logger.js';

/**
 * A durable queue's in-memory window: this many ready messages, or this many
 * bytes of them, whichever comes first. Past it, persistent messages stay on
 * disk. Its cost is the heap of one window per long queue (about 4 MiB plus
 * ~200 bytes per message: ~5 MiB at 1 KiB); its refill, half a window in
 * 1 MiB reads, is ~2,000 deliveries' worth at 1 KiB, so the shard reads a few
 * times per second at full speed, not per message.
 */
export const PAGE_WINDOW_MESSAGES = 4096;
export const PAGE_WINDOW_BYTES = 4 * 1024 * 1024;

/** How a queue pages: its window, and the segment size its store writes (tests make both small). */
export interface Paging {
  messages: number;
  bytes: number;
  segmentSize: number;
}
export const PAGING: Paging = { messages: PAGE_WINDOW_MESSAGES, bytes: PAGE_WINDOW_BYTES, segmentSize: SEGMENT_SIZE };

interface Unsynced {
  entry: QueueEntry;
  /** the store command that appended it (Infinity until known) */
  seq: number;
  /** where its record is */
  segment: number;
  offset: number;
}

export class PagedBacklog implements ReadSink {
  private onDisk = 0;
  /** the body bytes of the `onDisk` ones (the management API's message_bytes_paged_out) */
  private onDiskBytes = 0;
  private readonly readAhead = new Deque<QueueEntry>();
  private readonly unsynced = new Deque<Unsynced>();
  private readonly transients = new Deque<QueueEntry>();
  private readonly layout: SegmentLayout;
  private readonly reader: SegmentReader;

  /**
   * `nextSeq`: the segment the store opens at its first append; `recovered`: the
   * segments found at start; `pagedOut`: what recovery left on disk.
   */
  constructor(
    dir: string,
    /** what to put before a warning in the log, e.g. "queue 'q'" */
    private readonly label: string,
    nextSeq: number,
    recovered: readonly number[],
    pagedOut: PagedOut | null,
    /** the queue's heap accounting: an entry comes into (1) or leaves (-1) memory */
    private readonly account: (entry: QueueEntry, sign: 1 | -1) => void,
    /** paged-out messages that could not be read back, and their body bytes: no longer in the queue */
    private readonly lost: (count: number, bodyBytes: number) => void,
    segmentSize = SEGMENT_SIZE,
  ) {
    this.layout = new SegmentLayout(nextSeq, segmentSize);
    this.reader = new SegmentReader(dir, label, recovered);
    if (pagedOut !== null) {
      this.onDisk = pagedOut.count;
      this.onDiskBytes = pagedOut.bodyBytes;
      this.reader.seek(pagedOut.seq, pagedOut.offset);
    }
  }

  /** messages past the window, on disk or in memory */
  get length(): number {
    return this.onDisk + this.readAhead.length + this.unsynced.length + this.transients.length;
  }

  /** messages on disk only, not in memory */
  get onDiskCount(): number {
    return this.onDisk;
  }

  get onDiskBodyBytes(): number {
    return this.onDiskBytes;
  }

  /** Calls `fn` on the entries held in memory (read back, waiting for their fsync, transient). */
  forEachInMemory(fn: (entry: QueueEntry) => void): void {
    this.readAhead.forEach(fn);
    this.unsynced.forEach((u) => fn(u.entry));
    this.transients.forEach(fn);
  }

  /** A message enqueued past the window (its heap is counted by the queue). */
  push(entry: QueueEntry): void {
    if (entry.persistent) this.unsynced.push({ entry, seq: Infinity, segment: 0, offset: 0 });
    else this.transients.push(entry);
  }

  /**
   * Every append to the queue's store comes here, in order, with its command's
   * sequence number: the layout follows the store's. Returns true if the entry
   * waits in memory for that command to be durable (see release).
   */
  appended(entry: QueueEntry, seq: number): boolean {
    this.layout.place(entry.message.block.length, entry.expiresAt !== 0);
    const last = this.unsynced.at(this.unsynced.length - 1);
    if (last === undefined || last.entry !== entry) return false;
    last.seq = seq;
    last.segment = this.layout.seq;
    last.offset = this.layout.offset;
    return true;
  }

  /** Pages out the unsynced messages now on disk (commands up to `durable`); returns true if some still wait. */
  release(durable: number): boolean {
    for (let u = this.unsynced.at(0); u !== undefined && u.seq <= durable; u = this.unsynced.at(0)) {
      this.unsynced.shift();
      // Disk-only messages are contiguous in the segments: the reader goes on from the first.
      if (this.onDisk === 0) this.reader.seek(u.segment, u.offset);
      this.onDisk++;
      this.onDiskBytes += bodySize(u.entry.message.block);
      this.account(u.entry, -1);
    }
    return this.unsynced.length > 0;
  }

  /**
   * Removes and returns the next message, reading from disk when its turn
   * came: up to `messages` messages and about `bytes` bytes in one go (the
   * window's room). Undefined when nothing is left.
   */
  shift(messages: number, bytes: number): QueueEntry | undefined {
    if (this.readAhead.length === 0 && this.onDisk > 0) this.readBack(messages, bytes);
    const transient = this.transients.at(0);
    const read = this.readAhead.at(0);
    if (read !== undefined) return transient !== undefined && transient.id < read.id ? this.transients.shift() : this.readAhead.shift();
    const unsynced = this.unsynced.at(0);
    if (unsynced !== undefined && (transient === undefined || unsynced.entry.id < transient.id)) return this.unsynced.shift()!.entry;
    return this.transients.shift();
  }

  /** A message read back (SegmentReader's sink): it is in memory again, with the deadline it was given. */
  onRead(id: number, block: Buffer, delivered: boolean, expiresAt: number): void {
    const entry: QueueEntry = { message: storedMessage(block), id, redelivered: delivered, persistent: true, expiresAt, returns: 0, consumer: null };
    this.onDiskBytes -= bodySize(block);
    this.account(entry, 1);
    this.readAhead.push(entry);
  }

  /**
   * Purges everything, on disk too, without reading it all back: `ack` gets each
   * persistent message in memory and those left in the reader's segment (read
   * to its end, at most one segment), then every later segment is dropped whole.
   * All the queue's other messages are older than the on-disk ones, so those
   * segments hold nothing else but unsynced ones, purged here too.
   */
  purge(ack: (id: number) => void, dropFrom: (segment: number) => void): void {
    for (let i = 0; i < this.readAhead.length; i++) ack(this.readAhead.at(i)!.id);
    for (let i = 0; i < this.unsynced.length; i++) ack(this.unsynced.at(i)!.entry.id);
    if (this.onDisk > 0) {
      const inSegment = this.reader.read(this.onDisk, Infinity, { onRead: (id) => ack(id) }, true);
      if (inSegment < this.onDisk) {
        const next = this.reader.segment + 1;
        this.layout.dropFrom(next);
        dropFrom(next);
      }
    }
    this.discard();
  }

  /** Drops the transient messages past the window (a simulated restart), each through `dropped`; returns how many. */
  dropTransients(dropped: (entry: QueueEntry) => void): number {
    const count = this.transients.length;
    for (let e = this.transients.shift(); e !== undefined; e = this.transients.shift()) {
      this.account(e, -1);
      dropped(e);
    }
    return count;
  }

  /** Forgets everything (queue deleted): what was in memory leaves the accounting. */
  discard(): void {
    for (let e = this.readAhead.shift(); e !== undefined; e = this.readAhead.shift()) this.account(e, -1);
    for (let u = this.unsynced.shift(); u !== undefined; u = this.unsynced.shift()) this.account(u.entry, -1);
    for (let e = this.transients.shift(); e !== undefined; e = this.transients.shift()) this.account(e, -1);
    this.onDisk = this.onDiskBytes = 0;
    this.reader.close();
  }

  private readBack(messages: number, bytes: number): void {
    const n = this.reader.read(Math.min(Math.max(messages, 1), this.onDisk), Math.max(bytes, 1), this);
    this.onDisk -= n;
    // Its segment goes once its messages are acked, and the close of the last fd of a
    // deleted file frees its pages (about 1.5 ms for 8 MiB): close it now, while it is not.
    if (this.onDisk === 0) this.reader.close();
    if (this.reader.ended) {
      // The reader logged why; the queue goes on without them rather than stall.
      log.error(`${this.label}: ${this.onDisk} paged-out messages could not be read back and are dropped`);
      this.lost(this.onDisk, this.onDiskBytes);
      this.onDisk = this.onDiskBytes = 0;
    }
  }
}
