/**
 * Records on the ring from a shard (SyncWriter) to its sync worker. Every record
 * is one command and counts one in the "durable up to" figure. Little-endian.
 *
 *   OPEN (1)       u8 op, u32 handle, msgpack { dir, segments, segmentSize }
 *   APPEND (2)     u8 op, u32 handle, f64 msgId, u8 pad, u8 tail, f64 expiresAt (0: none), pad bytes, block, tail bytes
 *                  (the pad places the block to agree mod 8 with where the shard copies it from: alignPad)
 *   ACK (3)        u8 op, u32 handle, f64 msgId
 *   DELIVERED (4)  u8 op, u32 handle, f64 msgId
 *   CLOSE (5)      u8 op, u32 handle: sync and close the files, keep them
 *   DESTROY (6)    u8 op, u32 handle: the queue was deleted, remove its directory
 *   STOP (7)       u8 op: sync everything and end the worker
 *   DROP_FROM (8)  u8 op, u32 handle, f64 segment: every segment from this one on was purged: remove them
 *   ACK_RANGE (9)  u8 op, u32 handle, f64 fromId, f64 toId: the messages of ids [fromId, toId) went at once (a stream's retention)
 */
import type { SegmentState } from './queue-store.js';

export const OP_OPEN = 1;
export const OP_APPEND = 2;
export const OP_ACK = 3;
export const OP_DELIVERED = 4;
export const OP_CLOSE = 5;
export const OP_DESTROY = 6;
export const OP_STOP = 7;
export const OP_DROP_FROM = 8;
export const OP_ACK_RANGE = 9;

export const HANDLE_HEADER = 5;
/** APPEND, ACK, DELIVERED: the handle header then an f64 id */
export const ID_HEADER = 13;
/** ACK_RANGE: the id header then the f64 end of the range */
export const RANGE_HEADER = ID_HEADER + 8;
/** APPEND: the id header, the bytes left unused before the block and after it, the deadline */
export const APPEND_HEADER = ID_HEADER + 2 + 8;

export interface OpenCommand {
  dir: string;
  segments: SegmentState[];
  segmentSize: number;
}

/** Int32 words of the status SharedArrayBuffer, written by the worker. */
export const STATUS_DURABLE = 0;
export const STATUS_FSYNCS = 1;
export const STATUS_FAILED = 2;
/** the queues' files, in KiB rounded up (an Int32 word: up to 2 TiB) */
export const STATUS_DISK_KIB = 3;
export const STATUS_BYTES = 16;
