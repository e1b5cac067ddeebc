#!/usr/bin/env node
// Shoots docs/dashboard.png for the README: starts a broker (dist/, so build
// first) with a small simulated workload, lets the dashboard chart it for a
// while, then screenshots the page in Debian's chromium.
//   node tools/dashboard-screenshot.mjs [seconds=100] [out=docs/dashboard.png]
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { chromium } from 'playwright-core';
import { startBroker } from '../dist/src/index.js';

const seconds = Number(process.argv[2] ?? 100);
const out = process.argv[3] ?? fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const broker = await startBroker({ port: 0, host: '127.0.0.1', workers: 2, managementPort: 0 });
const connections = [];
const open = async (name) => {
  const conn = await amqp.connect(broker.url, { clientProperties: { connection_name: name } });
  connections.push(conn);
  return conn;
};

// Producers publish at a rate that swells and ebbs; consumers ack after `workMs` each.
const timers = [];
let stopping = false;
async function producer(name, queue, perSecond) {
  const ch = await (await open(name)).createChannel();
  await ch.assertQueue(queue, { durable: false });
  let n = 0;
  const started = Date.now();
  timers.push(
    setInterval(() => {
      const swell = 1 + 0.6 * Math.sin((Date.now() - started) / 4000 + queue.length);
      for (let i = 0; i < (perSecond * swell) / 20; i++) ch.sendToQueue(queue, Buffer.from(`${queue}-${n++}`));
    }, 50),
  );
}
async function consumer(name, queue, prefetch, workMs) {
  const ch = await (await open(name)).createChannel();
  await ch.assertQueue(queue, { durable: false });
  await ch.prefetch(prefetch);
  await ch.consume(queue, (msg) => setTimeout(() => stopping || ch.ack(msg), workMs));
}

await producer('order-service', 'orders', 400);
await consumer('order-worker', 'orders', 50, 5);
await producer('mailer', 'emails', 120);
await consumer('smtp-relay', 'emails', 10, 90);
await producer('uploader', 'thumbnails', 60);
await producer('audit-log', 'audit', 30);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`http://127.0.0.1:${broker.managementPort}/`);
  await page.fill('#username', 'guest');
  await page.fill('#password', 'guest');
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#queues tbody tr');
  await sleep(seconds * 1000);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  stopping = true;
  await browser.close();
  for (const t of timers) clearInterval(t);
  for (const c of connections) await c.close().catch(() => {});
  await broker.close();
}
