/**
 * Worker-thread entry: runs one shard over the rings the acceptor created.
 *
 * The shard has nothing but its ring to wait for, so it blocks in Atomics.wait
 * between batches: a futex wake-up is several times quicker than waitAsync's
 * trip through the event loop. The acceptor ends it with worker.terminate().
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Ring } from './ring.js';
import { SharedDoorbell } from './doorbell.js';
import { ShardRunner } from './shard-runner.js';
import { ChannelLimits } from './channel-limits.js';
import { SyncWriter } from '../store/sync-writer.js';
import { log } from '../log/logger.js';
import { postLogLines } from '../log/worker-log.js';

export interface ShardWorkerData {
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
  shardBell: SharedArrayBuffer;
  acceptorBell: SharedArrayBuffer;
  /** the channels' global prefetch limits (ChannelLimits) */
  limits: SharedArrayBuffer;
}

const data = workerData as ShardWorkerData;
// The shard's log lines (connectionLog shares log's sinks) reach amq.rabbitmq.log through the acceptor.
postLogLines(log, parentPort!);
const bell = new SharedDoorbell(data.shardBell);
// The store's own thread rings this shard's bell when an fsync made confirms safe.
const openStore = () => SyncWriter.start(data.shardBell);
const runner = new ShardRunner(new Ring(data.input), new Ring(data.output), new SharedDoorbell(data.acceptorBell), undefined, openStore, new ChannelLimits(data.limits));
for (;;) {
  if (runner.work()) continue;
  const token = bell.arm();
  if (runner.work()) {
    bell.disarm();
    continue;
  }
  // Until rung, or until a message or queue expires.
  bell.sleepSync(token, Math.max(0, runner.nextDeadline() - Date.now()));
}
