#!/usr/bin/env node
/** `warren` / `npm start`: run a broker with embedded defaults. */
import { parseArgs } from 'node:util';
import { startBroker } from '../index.js';
import { VERSION } from '../version.js';

const started = performance.now();

const USAGE = `Usage: warren [options]
  --host ADDR        listen address (repeatable; default 127.0.0.1 and ::1)
  --port N           AMQP port (default 5672; 0 picks a free one)
  --workers N        shard worker threads (default cores - 1; 0 = run inline)
  --heartbeat S      heartbeat the server proposes, seconds (default 60)
  --max-message-size BYTES  largest message body (default 16777216)
  --memory-high-watermark F|BYTES  block publishers above this memory: a fraction of RAM (default 0.4) or bytes (2GB, 512MiB)
  --help             this text`;

const { values } = parseArgs({
  options: {
    host: { type: 'string', multiple: true },
    port: { type: 'string' },
    workers: { type: 'string' },
    heartbeat: { type: 'string' },
    'max-message-size': { type: 'string' },
    'memory-high-watermark': { type: 'string' },
    help: { type: 'boolean' },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`warren: --${name} needs a non-negative integer, got '${value}'\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const broker = await startBroker({
  host: values.host,
  port: integer('port', values.port),
  workers: integer('workers', values.workers),
  heartbeat: integer('heartbeat', values.heartbeat),
  maxMessageSize: integer('max-message-size', values['max-message-size']),
  memoryHighWatermark: values['memory-high-watermark'],
});

const hosts = [broker.broker.options.host].flat().join(', ');
const ms = (performance.now() - started).toFixed(1);
console.log(`warren ${VERSION} listening on ${hosts} port ${broker.port} (${broker.broker.links.length} shard(s), workers=${broker.broker.options.workers}) ready in ${ms} ms`);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`warren: ${signal}, stopping`);
  await broker.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
