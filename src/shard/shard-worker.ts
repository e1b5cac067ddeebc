/** Worker-thread entry: runs one shard over the rings the acceptor created. */
import { parentPort, workerData } from 'node:worker_threads';
import { Ring } from './ring.js';
import { SharedDoorbell } from './doorbell.js';
import { ShardRunner } from './shard-runner.js';

export interface ShardWorkerData {
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
  shardBell: SharedArrayBuffer;
  acceptorBell: SharedArrayBuffer;
}

const data = workerData as ShardWorkerData;
const runner = new ShardRunner(
  new Ring(data.input),
  new Ring(data.output),
  new SharedDoorbell(data.shardBell),
  new SharedDoorbell(data.acceptorBell),
);
runner.start();
// A pending Atomics.waitAsync does not keep a worker alive; this listener does.
parentPort!.on('message', (message) => {
  if (message === 'stop') {
    runner.stop();
    parentPort!.close();
  }
});
