#!/usr/bin/env node
/**
 * Builds the fixture state (tools/management-fixture-state.mjs) on a RabbitMQ
 * and writes its answer to each recorded request as OUT_DIR/<name>.json:
 * {"request": {...}, "status": ..., "body": ...}. Started by
 * tools/record-management-fixtures.sh, which runs a private RabbitMQ node:
 *   node tools/record-management-fixtures.mjs HTTP_URL AMQP_URL OUT_DIR
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXCHANGE, PUBLISHED, QUEUE, RECORDINGS, buildState, managementClient } from './management-fixture-state.mjs';

const [httpUrl, amqpUrl, outDir] = process.argv.slice(2);
if (!httpUrl || !amqpUrl || !outDir) {
  console.error('usage: node tools/record-management-fixtures.mjs HTTP_URL AMQP_URL OUT_DIR');
  process.exit(2);
}
const api = managementClient(httpUrl);
const connections = await buildState(api, amqpUrl);
// RabbitMQ's statistics (collect_statistics_interval = 500 ms) arrive a
// while after the state is built: wait until the queue's depth, the
// channels' and the exchange's message_stats show, then a few samples more
// for the rates.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ready = async () => {
  const queue = (await api('GET', `/api/queues/%2F/${QUEUE}`)).body;
  const channels = (await api('GET', '/api/channels')).body;
  const exchange = (await api('GET', `/api/exchanges/%2F/${EXCHANGE}`)).body;
  return queue.messages === PUBLISHED && channels.length === 2 && channels.every((c) => c.message_stats !== undefined) && exchange.message_stats !== undefined;
};
const deadline = Date.now() + 60_000;
while (!(await ready())) {
  if (Date.now() > deadline) throw new Error('RabbitMQ did not show the statistics within 60 s');
  await sleep(500);
}
await sleep(2000);
for (const [name, method, path, body, auth] of RECORDINGS) {
  const reply = await api(method, path, body, auth);
  const request = { method, path, ...(body === undefined ? {} : { body }), ...(auth === undefined ? {} : { user: auth.user }) };
  writeFileSync(join(outDir, `${name}.json`), `${JSON.stringify({ request, status: reply.status, body: reply.body }, null, 2)}\n`);
  console.log(`${reply.status} ${method} ${path} -> ${name}.json`);
}
for (const conn of connections) await conn.close();
