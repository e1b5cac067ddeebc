#!/usr/bin/env node
/**
 * Compares warren's management API with a RabbitMQ's for the same state: both
 * get the same requests (declare, bind, publish, get, errors), and the script
 * prints, per request, the status codes and the JSON keys one has and the
 * other lacks. With the two AMQP URLs as well, it then opens a connection to
 * each (a consumer with prefetch, a confirm channel), waits for RabbitMQ's
 * stats interval and compares connections, channels, consumers and the queue.
 * Run by hand, not by CI (a warren started with --management-port, a RabbitMQ
 * with rabbitmq_management):
 *   node tools/compare-management.mjs http://guest:guest@127.0.0.1:15672 http://guest:guest@127.0.0.1:15699 \
 *     [amqp://guest:guest@127.0.0.1:5672 amqp://guest:guest@127.0.0.1:5699]
 */
import amqp from 'amqplib';
import { managementClient } from './management-fixture-state.mjs';

const [warrenUrl, rabbitUrl, warrenAmqp, rabbitAmqp] = process.argv.slice(2);
if (!warrenUrl || !rabbitUrl) {
  console.error('usage: node tools/compare-management.mjs WARREN_URL RABBITMQ_URL');
  process.exit(2);
}

/** Dotted key paths of a JSON value (arrays: their first element). */
function keys(value, prefix = '', out = new Set()) {
  if (Array.isArray(value)) return value.length > 0 ? keys(value[0], `${prefix}[]`, out) : out;
  if (value === null || typeof value !== 'object') return out;
  for (const [k, v] of Object.entries(value)) {
    const path = prefix === '' ? k : `${prefix}.${k}`;
    out.add(path);
    if (k !== 'arguments' && k !== 'client_properties' && k !== 'headers') keys(v, path, out);
  }
  return out;
}

const warren = managementClient(warrenUrl);
const rabbit = managementClient(rabbitUrl);
const run = `cmp-${Date.now()}`;
const steps = [
  ['PUT', `/api/queues/%2F/${run}-q`, { durable: true, auto_delete: false, arguments: { 'x-max-length': 100 } }],
  ['PUT', `/api/queues/%2F/${run}-q`, { durable: true, auto_delete: false, arguments: { 'x-max-length': 100 } }],
  ['PUT', `/api/queues/%2F/${run}-q`, { durable: false, auto_delete: false, arguments: { 'x-max-length': 100 } }],
  ['PUT', `/api/exchanges/%2F/${run}-x`, { type: 'topic', durable: true }],
  ['PUT', '/api/exchanges/%2F/amq.nope', { type: 'topic', durable: true }],
  ['POST', `/api/bindings/%2F/e/${run}-x/q/${run}-q`, { routing_key: 'a.*', arguments: {} }],
  ['GET', `/api/bindings/%2F/e/${run}-x/q/${run}-q`],
  ['POST', `/api/exchanges/%2F/${run}-x/publish`, { properties: { delivery_mode: 2, headers: { n: 1 } }, routing_key: 'a.b', payload: 'hello', payload_encoding: 'string' }],
  ['POST', `/api/exchanges/%2F/${run}-x/publish`, { properties: {}, routing_key: 'zzz', payload: 'lost', payload_encoding: 'string' }],
  ['POST', `/api/queues/%2F/${run}-q/get`, { count: 2, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: 50000 }],
  ['GET', `/api/queues/%2F/${run}-q`],
  ['GET', '/api/exchanges/%2F/amq.default'],
  ['GET', `/api/exchanges/%2F/${run}-x`],
  ['GET', '/api/queues?page=1&page_size=2'],
  ['GET', '/api/overview'],
  ['GET', '/api/nodes'],
  ['GET', '/api/vhosts'],
  ['GET', '/api/whoami'],
  ['GET', '/api/aliveness-test/%2F'],
  ['GET', '/api/health/checks/alarms'],
  ['GET', '/api/definitions'],
  ['GET', '/api/queues/%2F/no-such-queue'],
  ['PUT', `/api/queues/%2F/${run}-bad`, '{"durable": tru'],
  ['DELETE', `/api/queues/%2F/${run}-q?if-empty=true`],
  ['DELETE', `/api/queues/%2F/${run}-q/contents`],
  ['DELETE', `/api/exchanges/%2F/${run}-x`],
  ['DELETE', `/api/queues/%2F/${run}-q`],
];
async function compare(steps) {
for (const [method, path, body] of steps) {
  const [w, r] = await Promise.all([warren(method, path, body), rabbit(method, path, body)]);
  const wk = keys(w.body);
  const rk = keys(r.body);
  const onlyRabbit = [...rk].filter((k) => !wk.has(k));
  const onlyWarren = [...wk].filter((k) => !rk.has(k));
  const same = w.status === r.status && onlyRabbit.length === 0 && onlyWarren.length === 0;
  console.log(`${same ? 'same' : 'DIFF'} ${method} ${path}: status warren ${w.status} rabbitmq ${r.status}`);
  if (w.location !== r.location) console.log(`  Location: warren ${w.location} rabbitmq ${r.location}`);
  if (onlyRabbit.length > 0) console.log(`  only RabbitMQ: ${onlyRabbit.join(', ')}`);
  if (onlyWarren.length > 0) console.log(`  only warren: ${onlyWarren.join(', ')}`);
  if (w.status >= 400 || r.status >= 400) console.log(`  warren: ${JSON.stringify(w.body)}\n  rabbitmq: ${JSON.stringify(r.body)}`);
}
}

await compare(steps);
if (warrenAmqp !== undefined && rabbitAmqp !== undefined) {
  const q = `${run}-consumed`;
  const conns = [];
  for (const url of [warrenAmqp, rabbitAmqp]) {
    const conn = await amqp.connect(url);
    conns.push(conn);
    const ch = await conn.createChannel();
    await ch.prefetch(3);
    await ch.assertQueue(q, { durable: false });
    await ch.consume(q, () => {}, { noAck: false });
    const confirm = await conn.createConfirmChannel();
    for (let i = 0; i < 5; i++) confirm.sendToQueue(q, Buffer.from(String(i)));
    await confirm.waitForConfirms();
  }
  // RabbitMQ's statistics arrive every 5 s.
  await new Promise((resolve) => setTimeout(resolve, 6000));
  await compare([
    ['GET', '/api/connections'],
    ['GET', '/api/channels'],
    ['GET', '/api/consumers'],
    ['GET', `/api/queues/%2F/${q}`],
    ['GET', '/api/overview'],
  ]);
  for (const conn of conns) await conn.close();
  await Promise.all([warren('DELETE', `/api/queues/%2F/${q}`), rabbit('DELETE', `/api/queues/%2F/${q}`)]);
}
