// An acking consumer's own rate, without a publisher beside it: `node dist/bench/drain.js URL [count] [prefetch]`.
// Fills one fresh queue at URL (any broker) with `count` messages of 16 B (default 1,000,000; the
// pipelined driver with confirms), then one pipelined consumer with acks (prefetch 100 as in the
// `acks` scenario, a multiple ack every half window) reads them all and checks the count. Prints
// the drain's rate and its deliveries per 250 ms (a slow start or a stall shows there). The
// `acks` scenario's rows mix this round trip with taking in a publisher's chunks on the same
// broker thread; this separates the two. Not a timed test.
import amqp from 'amqplib';
import { pipelinedDriver } from './drivers/pipelined.js';

const url = process.argv[2];
if (url === undefined) {
  console.error('usage: node dist/bench/drain.js URL [count] [prefetch]');
  process.exit(2);
}
const count = Number(process.argv[3] ?? 1_000_000);
const prefetch = Number(process.argv[4] ?? 100);
const IN_FLIGHT = 5000;

const conn = await amqp.connect(url);
const ch = await conn.createChannel();
const queue = `warren-bench-drain-${process.pid}`;
await ch.assertQueue(queue, { durable: false });
try {
  const publisher = await pipelinedDriver.openPublisher(url, { exchange: '', routingKeys: [queue], size: 16, persistent: false, confirm: true, inFlight: IN_FLIGHT, rate: 0 });
  for (let i = 1; i <= count; i++) {
    if (!publisher.publish(0, 0)) await publisher.writable();
    if (i - publisher.confirmed() >= IN_FLIGHT) await publisher.waitConfirmed(i - IN_FLIGHT / 2);
  }
  await publisher.waitConfirmed(count);
  await publisher.close();
  const { messageCount } = await ch.checkQueue(queue);

  let got = 0;
  let done!: () => void;
  const drained = new Promise<void>((resolve) => (done = resolve));
  const perQuarter: number[] = [];
  let lastMark = 0;
  const start = process.hrtime.bigint();
  const marks = setInterval(() => {
    perQuarter.push(got - lastMark);
    lastMark = got;
  }, 250);
  const consumer = await pipelinedDriver.openConsumer(url, { queues: [queue], noAck: false, prefetch }, () => {
    if (++got === messageCount) done();
  });
  await drained;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearInterval(marks);
  await consumer.close();
  console.log(`per 250 ms: ${perQuarter.map((n) => `${(n / 1000).toFixed(0)}k`).join(' ')}`);
  console.log(`filled ${messageCount}, drained ${got} in ${seconds.toFixed(2)} s: ${(got / seconds / 1000).toFixed(1)}k msgs/s (prefetch ${prefetch})`);
} finally {
  await ch.deleteQueue(queue);
  await conn.close();
}
