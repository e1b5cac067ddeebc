import amqp from 'amqplib';
const url = process.argv[2]; const N = +process.argv[3] || 200000;
const c = await amqp.connect(url);
const c2 = await amqp.connect(url);
const ch = await c.createChannel();
const cc = await c2.createChannel();
const q = (await ch.assertQueue('', { exclusive: false, autoDelete: true })).queue;
let n = 0; const body = Buffer.alloc(16);
const t0 = performance.now();
const done = new Promise(r => cc.consume(q, m => { if (++n === N) r(); }, { noAck: true }));
let i = 0;
async function pub() { while (i < N) { if (!ch.publish('', q, body)) await new Promise(r => ch.once('drain', r)); i++; } }
await pub();
await done;
const s = (performance.now() - t0) / 1000;
console.log(`${N} msgs in ${s.toFixed(2)} s = ${(N / s / 1000).toFixed(1)}k msg/s`);
await c.close(); await c2.close();
