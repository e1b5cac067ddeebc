/**
 * Worker-thread entry: the disk I/O of one shard's durable queues. Takes every
 * command waiting in the ring (up to BATCH), applies it, fdatasyncs each file
 * the batch touched once, then publishes the new durable count and rings the
 * shard. The more the shard writes while an fsync runs, the bigger the next
 * batch: group commit. Between batches it blocks in Atomics.wait.
 */
import fs from 'node:fs';
import { workerData } from 'node:worker_threads';
import { Ring } from '../shard/ring.js';
import { SharedDoorbell } from '../shard/doorbell.js';
import { StoreSet } from './store-set.js';
import { PIECE, PieceAssembler } from '../shard/pieces.js';
import type { SyncWorkerData } from './sync-writer.js';
import * as C from './sync-commands.js';

/** Commands per batch at most, so that a fast producer still sees progress. */
const BATCH = 65536;

const data = workerData as SyncWorkerData;
const ring = new Ring(data.ring);
const bell = new SharedDoorbell(data.workerBell);
const wake = new SharedDoorbell(data.wake);
const status = new Int32Array(data.status);
const stores = new StoreSet();
/** a command larger than the ring (a large message's APPEND), arriving in pieces */
const pieces = new PieceAssembler();
let durable = 0;

/** One batch; returns -1 after STOP, else the number of records taken from the ring. */
function batch(): number {
  let records = 0;
  /** whole commands applied: what `durable` counts (a large one comes in several records) */
  let commands = 0;
  let stop = false;
  while (records < BATCH && !stop) {
    const at = ring.peek();
    if (at < 0) break;
    if (ring.data[at] !== PIECE) {
      stop = stores.apply(ring.data, at, at + ring.recordSize);
      commands++;
    } else {
      const whole = pieces.take(ring.data, at, at + ring.recordSize);
      if (whole !== null) {
        stop = stores.apply(whole, 0, whole.length);
        commands++;
      }
    }
    ring.consume(); // the bytes were copied into the stores' write buffers
    records++;
  }
  if (records === 0) return 0;
  ring.release();
  if (ring.producerBlocked) wake.ring(); // room for the shard's overflow, before the fsync
  if (commands === 0) return records; // pieces of a command still arriving
  if (stop) stores.closeAll();
  else stores.sync();
  durable += commands;
  Atomics.store(status, C.STATUS_FSYNCS, stores.fsyncs);
  Atomics.store(status, C.STATUS_DISK_KIB, Math.ceil(stores.diskBytes / 1024));
  Atomics.store(status, C.STATUS_DURABLE, durable | 0);
  wake.ring();
  return stop ? -1 : records;
}

try {
  for (;;) {
    const n = batch();
    if (n < 0) break;
    if (n > 0) continue;
    const token = bell.arm();
    if (!ring.isEmpty()) {
      bell.disarm();
      continue;
    }
    bell.sleepSync(token);
  }
} catch (err) {
  // Nothing more becomes durable; the shard sees FAILED and refuses what waits.
  fs.writeSync(2, `warren: sync worker failed, persistent messages are no longer written: ${(err as Error).stack ?? err}\n`);
  Atomics.store(status, C.STATUS_FAILED, 1);
  wake.ring();
}
