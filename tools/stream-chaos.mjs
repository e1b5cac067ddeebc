// node tools/stream-chaos.mjs [SECONDS] [WORKERS] [SEED]: a warren (dist/, a data dir of its own,
// --workers WORKERS) with two streams, `keep` (no retention) and `trim` (x-max-length-bytes 24 MiB
// in 2 MiB segments), under two publishers with confirms (bodies from nothing to 600 KiB, so the
// logs soon leave memory for their segment files) and four readers that attach at random offsets
// (first, last, next, a number, a time), read at a random prefetch and end by cancel, channel
// close, connection close or a killed socket. It checks that an offset always holds the same
// message, that a reader's offsets only go up (one by one in `keep`), and at the end that a read
// of `keep` from its first offset holds every confirmed message once, each publisher's in order,
// and that `trim` kept, of each publisher, everything confirmed after the oldest message it kept.
// STREAM_CHAOS_KILLS=N also kills the broker (SIGKILL) N times and restarts it on the same data
// dir: a confirmed message must survive; an offset whose message was not confirmed may be reused.
// Exit 1 on any finding, the broker's output in /tmp/stream_chaos_WORKERS_SEED.log.
// Not a test: its timing differs from run to run (the seed fixes the choices, not the interleaving).
import { ChaosBroker, exitOnClientErrors, seeded, sleep } from './chaos-broker.mjs';

const [seconds = '60', workers = '0', seed0 = '1'] = process.argv.slice(2);
const { rnd, pick } = seeded(seed0);
const bounded = (promise) => Promise.race([promise.catch(() => undefined), sleep(5000)]);
exitOnClientErrors();

const KILLS = Number(process.env.STREAM_CHAOS_KILLS ?? 0);
const broker = new ChaosBroker(workers, `/tmp/stream_chaos_${workers}_${seed0}.log`, 'stream-chaos-');
await broker.start();

const STREAMS = {
  keep: { 'x-queue-type': 'stream' },
  trim: { 'x-queue-type': 'stream', 'x-max-length-bytes': 24 * 1024 * 1024, 'x-stream-max-segment-size-bytes': 2 * 1024 * 1024 },
};
{
  const c = await broker.connect();
  const ch = await c.createChannel();
  for (const [name, args] of Object.entries(STREAMS)) await ch.assertQueue(name, { durable: true, arguments: args });
  await c.close();
}

const errors = [];
const stats = { published: 0, confirmed: 0, nacked: 0, delivered: 0, sessions: 0, reused: 0, skipped: 0, kills: 0 };
const deadline = Date.now() + Number(seconds) * 1000;
let nextN = 0;
const confirmed = new Set(); // n
const unconfirmedAtKill = new Set(); // n published but not confirmed when a kill came
const streamOf = new Map(); // n -> stream
const publisherOf = new Map(); // n -> publisher
const atOffset = { keep: new Map(), trim: new Map() }; // offset -> n, as delivered
let epoch = 0; // kills so far
const inFlight = new Set();

// A body is `STREAM:N:` and padding.
function parse(msg) {
  const text = msg.content.toString('latin1', 0, 40);
  const [stream, n] = text.split(':');
  return { stream, n: Number(n) };
}


async function publisher(who) {
  while (Date.now() < deadline) {
    let conn;
    try {
      let ch;
      [conn, ch] = await broker.confirmChannel();
      const count = Math.floor(rnd() * 3000) + 1;
      const pending = [];
      for (let i = 0; i < count && Date.now() < deadline; i++) {
        const n = nextN++;
        const stream = pick(Object.keys(STREAMS));
        const size = rnd() < 0.02 ? 100_000 + Math.floor(rnd() * 500_000) : Math.floor(rnd() * 4096);
        streamOf.set(n, stream);
        publisherOf.set(n, who);
        inFlight.add(n);
        pending.push(new Promise((resolve) => ch.sendToQueue(stream, Buffer.concat([Buffer.from(`${stream}:${n}:`), Buffer.alloc(size, 120)]), { persistent: true }, (err) => {
          inFlight.delete(n);
          if (err) stats.nacked++;
          else if (!unconfirmedAtKill.has(n)) { confirmed.add(n); stats.confirmed++; }
          resolve();
        })).catch(() => undefined));
        stats.published++;
        if (i % 200 === 199) await Promise.race([Promise.all(pending.splice(0)), sleep(5000)]);
      }
      await Promise.race([Promise.all(pending), sleep(10000)]);
      if (rnd() < 0.2) conn.connection.stream.destroy();
      else await bounded(conn.close());
    } catch (e) { if (!/closed|ECONNREFUSED/.test(String(e))) console.log('publisher', String(e)); if (conn) await bounded(conn.close()); }
    await sleep(rnd() * 100);
  }
}

let highest = 0;
function offsetSpec() {
  const r = rnd();
  if (r < 0.25) return 'first';
  if (r < 0.35) return 'last';
  if (r < 0.45) return 'next';
  if (r < 0.85) return Math.floor(rnd() * (highest + 50));
  return { '!': 'timestamp', value: Math.floor(Date.now() / 1000 - rnd() * 30) };
}

function noteDelivery(session, msg) {
  const { stream, n } = parse(msg);
  const offset = Number(msg.properties.headers['x-stream-offset']);
  stats.delivered++;
  highest = Math.max(highest, offset);
  if (stream !== session.stream) errors.push(`session ${session.n} on ${session.stream} got ${n} of ${stream} at ${offset}`);
  const known = atOffset[session.stream].get(offset);
  if (known !== undefined && known !== n) {
    // a kill may lose what was not yet confirmed: its offset goes to the next message
    if (KILLS > 0 && !confirmed.has(known)) stats.reused++;
    else errors.push(`${session.stream} offset ${offset} held ${known}, now ${n} (session ${session.n}, epoch ${session.epoch})`);
  }
  atOffset[session.stream].set(offset, n);
  if (session.last !== undefined) {
    if (offset <= session.last) errors.push(`session ${session.n} on ${session.stream}: offset ${offset} after ${session.last}`);
    else if (offset !== session.last + 1) {
      if (session.stream === 'keep') errors.push(`session ${session.n} on keep: offset ${offset} after ${session.last} (from ${JSON.stringify(session.spec)})`);
      else stats.skipped++;
    }
  }
  session.last = offset;
}

let sessionCount = 0;
async function reader() {
  while (Date.now() < deadline) {
    let conn;
    const session = { n: ++sessionCount, stream: pick(Object.keys(STREAMS)), spec: offsetSpec(), epoch };
    stats.sessions++;
    try {
      conn = await broker.connect();
      const ch = await conn.createChannel();
      ch.on('error', (e) => console.log('reader channel error', String(e)));
      await ch.prefetch(Math.floor(rnd() * 300) + 1);
      const ackEach = rnd() < 0.7;
      let unacked = [];
      const { consumerTag } = await ch.consume(session.stream, (msg) => {
        if (msg === null) return;
        noteDelivery(session, msg);
        if (ackEach) ch.ack(msg);
        else if (unacked.push(msg) >= 20) { ch.ack(msg, true); unacked = []; }
      }, { arguments: { 'x-stream-offset': session.spec } });
      await sleep(rnd() * 2000);
      const end = rnd();
      if (end < 0.3) { await bounded(ch.cancel(consumerTag)); await sleep(50); await bounded(conn.close()); }
      else if (end < 0.5) { await bounded(ch.close()); await bounded(conn.close()); }
      else if (end < 0.8) await bounded(conn.close());
      else conn.connection.stream.destroy();
    } catch (e) { if (!/closed|ECONNRESET|ECONNREFUSED/.test(String(e))) console.log('reader', String(e)); if (conn) await bounded(conn.close()); }
    await sleep(rnd() * 100);
  }
}

async function killer() {
  for (let k = 0; k < KILLS; k++) {
    await sleep((Number(seconds) * 1000) / (KILLS + 1) * (0.5 + rnd()));
    if (Date.now() > deadline - 2000) break;
    for (const n of inFlight) unconfirmedAtKill.add(n);
    await broker.kill();
    epoch++;
    stats.kills++;
    await broker.restart();
  }
}

await Promise.all([publisher(0), publisher(1), reader(), reader(), reader(), reader(), killer()]);
await sleep(500);

// The final reads: every message from the first offset, until nothing comes for a second.
async function readAll(stream) {
  const conn = await broker.connect();
  const ch = await conn.createChannel();
  await ch.prefetch(1000);
  const got = [];
  let lastAt = Date.now();
  await ch.consume(stream, (msg) => {
    if (msg === null) return;
    got.push({ n: parse(msg).n, offset: Number(msg.properties.headers['x-stream-offset']) });
    lastAt = Date.now();
    ch.ack(msg);
  }, { arguments: { 'x-stream-offset': 'first' } });
  while (Date.now() - lastAt < 1500) await sleep(200);
  await conn.close();
  return got;
}
for (const stream of Object.keys(STREAMS)) {
  const got = await readAll(stream);
  const seen = new Set();
  for (let i = 0; i < got.length; i++) {
    const { n, offset } = got[i];
    if (seen.has(n)) errors.push(`${stream}: ${n} twice in the final read`);
    seen.add(n);
    if (i > 0 && offset !== got[i - 1].offset + 1) errors.push(`${stream}: final read offset ${offset} after ${got[i - 1].offset}`);
    const known = atOffset[stream].get(offset);
    if (known !== undefined && known !== n && confirmed.has(known)) errors.push(`${stream}: offset ${offset} held confirmed ${known}, the final read ${n}`);
  }
  const oldest = [Infinity, Infinity]; // the oldest message of each publisher kept
  for (const { n } of got) oldest[publisherOf.get(n)] = Math.min(oldest[publisherOf.get(n)], n);
  let missing = 0;
  for (const n of confirmed) {
    if (streamOf.get(n) !== stream || seen.has(n)) continue;
    if (stream === 'keep' || n > oldest[publisherOf.get(n)]) { if (missing++ < 10) errors.push(`${stream}: confirmed ${n} missing from the final read`); }
  }
  for (const who of [0, 1]) {
    const mine = got.filter(({ n }) => publisherOf.get(n) === who).map(({ n }) => n);
    for (let i = 1; i < mine.length; i++) if (mine[i] < mine[i - 1]) { errors.push(`${stream}: publisher ${who}'s ${mine[i]} after ${mine[i - 1]}`); break; }
  }
  stats[`${stream}Final`] = got.length;
  if (missing > 10) errors.push(`${stream}: ${missing} confirmed messages missing in all`);
}
broker.stop();
console.log(JSON.stringify(stats));
if (broker.died) errors.push('the broker died (see the log)');
for (const e of errors.slice(0, 40)) console.log('FINDING', e);
console.log(errors.length === 0 ? 'OK' : `${errors.length} findings`);
process.exit(errors.length === 0 ? 0 : 1);
