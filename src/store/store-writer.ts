/**
 * What a shard calls to keep its durable queues' persistent messages on disk.
 * Every call is one command with the next sequence number (`written` after the
 * call); `durable` says up to which command everything is on disk (fdatasync
 * returned). Commands are applied in order, so "durable >= seq of a publish's
 * append" means that message is safe and its confirm may go out.
 *
 * Two implementations: SyncWriter (a worker thread does the I/O; the shard never
 * waits for the disk) and InlineSyncWriter (the I/O happens in flush(), in the
 * caller's thread: for tests and --workers 0).
 */
import type { SegmentState } from './queue-store.js';

export interface StoreWriter {
  /** Starts writing queue `handle` into `dir`, after what recoverQueue(dir) found there. */
  open(handle: number, dir: string, segments?: SegmentState[], segmentSize?: number): number;
  /** Appends message `id` (ids increase per queue) whose block is buf[start..end), copied at once, with its deadline (0: none). */
  append(handle: number, id: number, buf: Buffer, start: number, end: number, expiresAt?: number): number;
  /** An appended message was acked or dropped (purge, delete-on-ack of no-ack delivery). */
  ack(handle: number, id: number): number;
  /**
   * The appended messages of ids [from, to), contiguous within each segment
   * (a stream's), went at once: segments wholly inside go without an ack each.
   */
  ackRange(handle: number, from: number, to: number): number;
  /** An appended message was handed to a consumer: after a crash it comes back redelivered. */
  delivered(handle: number, id: number): number;
  /**
   * Every segment from `segment` on (and so every message in them) is purged:
   * their files go. The next append opens a new segment.
   */
  dropFrom(handle: number, segment: number): number;
  /** The queue stops (broker shutdown): its files stay. */
  close(handle: number): number;
  /** The queue was deleted: its directory goes. */
  destroy(handle: number): number;
  /** Syncs and closes every queue and ends the I/O: done once `durable` reaches the returned number. */
  requestStop(): number;
  /** Ends a shard batch: hands the batch's commands over (one group commit). */
  flush(): void;
  /** commands wait in memory for room in the ring: the shard should hold back new publishes */
  readonly backlogged: boolean;
  /** sequence number of the last command given */
  readonly written: number;
  /** every command up to this one is on disk */
  readonly durable: number;
  /** fdatasync calls so far */
  readonly fsyncs: number;
  /** what the queues' files take, as of the last sync (SyncWriter: rounded up to KiB) */
  readonly diskBytes: number;
  /** the disk failed (a write or fsync threw): nothing more becomes durable */
  readonly failed: boolean;
}
