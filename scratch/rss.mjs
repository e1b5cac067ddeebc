import { startBroker } from '/work/wt/flow/dist/src/index.js';
import amqp from 'amqplib';
const b = await startBroker({ port: 0, host: '127.0.0.1', workers: Number(process.argv[2] ?? 1) });
const mb = () => (process.memoryUsage.rss() / 2 ** 20).toFixed(0);
console.log('start', mb());
const c = await amqp.connect(b.url);
const ch = await c.createChannel();
await ch.assertQueue('q');
const body = Buffer.alloc(Number(process.argv[3] ?? 1000));
for (let i = 0; i < 300_000; i++) if (!ch.sendToQueue('q', body)) await new Promise((r) => ch.once('drain', r));
console.log('count', (await ch.checkQueue('q')).messageCount, 'rss', mb());
await ch.purgeQueue('q');
for (let i = 0; i < 10; i++) { await new Promise((r) => setTimeout(r, 1000)); console.log(i, mb()); }
await c.close(); await b.close();
