// Micro-benchmark of requeue in a shard queue: `node dist/bench/requeue.js [counts...]`.
// Takes N messages as a consumer would, puts them back the ways clients do, then
// redelivers them all; prints milliseconds for each step. Not a timed test.
import { Backlog, ShardQueue, type QueueEntry } from '../src/shard/queue.js';
import { storedMessage } from '../src/shard/block-arena.js';

type Pattern = { name: string; batches: (taken: QueueEntry[]) => QueueEntry[][] };

const PATTERNS: Pattern[] = [
  // channel close / basic.recover: one SETTLE record, in tag order
  { name: 'one batch in order', batches: (taken) => [taken] },
  // basic.nack per message, in order
  { name: 'one by one in order', batches: (taken) => taken.map((e) => [e]) },
  // basic.nack per message, newest first
  { name: 'one by one, newest first', batches: (taken) => taken.map((e) => [e]).reverse() },
  // two channels that shared the queue round-robin, closed one after the other
  {
    name: 'two interleaved channels',
    batches: (taken) => [taken.filter((e) => e.id % 2 === 1), taken.filter((e) => e.id % 2 === 0)],
  },
];

function run(count: number, pattern: Pattern): { requeueMs: number; redeliverMs: number } {
  const queue = new ShardQueue(1, 'bench', new Backlog());
  const message = storedMessage(Buffer.alloc(32));
  for (let i = 0; i < count; i++) queue.enqueue(message);
  const taken: QueueEntry[] = [];
  for (let entry = queue.take(); entry !== undefined; entry = queue.take()) {
    queue.track(entry, null);
    taken.push(entry);
  }
  const batches = pattern.batches(taken);
  const t0 = performance.now();
  for (const batch of batches) {
    for (const entry of batch) queue.settle(entry.id);
    queue.requeue(batch);
  }
  const t1 = performance.now();
  let previous = 0;
  for (let entry = queue.take(); entry !== undefined; entry = queue.take()) {
    if (entry.id <= previous) throw new Error(`out of order: ${entry.id} after ${previous}`);
    previous = entry.id;
  }
  const t2 = performance.now();
  if (queue.messageCount !== 0) throw new Error('messages left behind');
  return { requeueMs: t1 - t0, redeliverMs: t2 - t1 };
}

const counts = process.argv.slice(2).map(Number);
for (const count of counts.length > 0 ? counts : [100_000, 200_000, 1_000_000]) {
  for (const pattern of PATTERNS) {
    const { requeueMs, redeliverMs } = run(count, pattern);
    console.log(`${String(count).padStart(9)}  ${pattern.name.padEnd(26)}  requeue ${requeueMs.toFixed(1).padStart(7)} ms  redeliver ${redeliverMs.toFixed(1).padStart(7)} ms`);
  }
}
