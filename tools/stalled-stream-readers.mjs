// node tools/stalled-stream-readers.mjs [CONSUMERS] [WORKERS]: the memory of a warren (dist/, a data
// dir of its own) holding 100,000 persistent 1 KiB messages in a stream, before and after CONSUMERS
// consumers (prefetch 1, never acking) start reading it from READ_FROM (default `first`; `next`
// reads nothing): its resident set.
import amqp from 'amqplib';
import { readFileSync } from 'node:fs';
import { ChaosBroker, sleep } from './chaos-broker.mjs';

const [consumers = '300', workers = '0'] = process.argv.slice(2);
const broker = new ChaosBroker(workers, '/tmp/stalled_stream_readers.log', 'stalled-readers-');
await broker.start();
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${broker.child.pid}/status`, 'utf8'))[1]) / 1024;
const conn = await amqp.connect(broker.url);
const ch = await conn.createConfirmChannel();
await ch.assertQueue('s', { durable: true, arguments: { 'x-queue-type': 'stream' } });
const body = Buffer.alloc(1000, 97);
for (let i = 1; i <= 100_000; i++) {
  ch.sendToQueue('s', body, { persistent: true });
  if (i % 1000 === 0) await ch.waitForConfirms();
}
await sleep(2000);
console.log(`after publishing: rss ${rssMiB().toFixed(0)} MiB`);
const readers = await conn.createChannel();
await readers.prefetch(1);
let got = 0;
for (let i = 0; i < Number(consumers); i++) await readers.consume('s', () => { got++; }, { arguments: { 'x-stream-offset': process.env.READ_FROM ?? 'first' } });
await sleep(3000);
console.log(`${consumers} consumers, ${got} deliveries: rss ${rssMiB().toFixed(0)} MiB`);
await conn.close();
broker.stop();
