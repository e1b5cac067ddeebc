// node tools/chaos.mjs [SECONDS] [WORKERS] [SEED]: a warren (dist/, a data dir of its own, --workers
// WORKERS) under three publishers with confirms, four consumers that ack, nack, reject, hold,
// recover, cancel, close or kill their connection at random, and a basic.get client, on
// CHAOS_QUEUES (default 4) queues; then one consumer drains every queue and the run checks that
// every confirmed message came out, none was delivered twice without redelivered, none settled
// twice (but after its settling connection was killed or recovered), and the broker lived.
// CHAOS_KILLS=N also kills the broker (SIGKILL) N times and restarts it on the same data dir: then
// every queue is durable and only persistent messages must survive a kill.
// Exit 1 on any finding; the history of each offending message and the consumers' timeline around
// the first are printed, the broker's output is in /tmp/chaos_broker_WORKERS_SEED.log.
// Not a test: its timing differs from run to run (the seed fixes the choices, not the interleaving).
import amqp from 'amqplib';
import { execSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { ChaosBroker, exitOnClientErrors, seeded, sleep } from './chaos-broker.mjs';

const [seconds = '60', workers = '0', seed0 = '1'] = process.argv.slice(2);
const { rnd, pick } = seeded(seed0);
// An amqplib close, cancel or recover on a connection a broker kill took may never settle:
// the actors go on after 5 s (the broker has no socket left for it to wait on).
// They are counted (stats.stuck): without kills, any is worth a look.
let stuck = 0;
const bounded = (promise) => {
  let settled = false;
  const done = promise.catch(() => undefined).finally(() => { settled = true; });
  return Promise.race([done, sleep(5000).then(() => { if (!settled) stuck++; })]);
};
exitOnClientErrors();

const KILLS = Number(process.env.CHAOS_KILLS ?? 0);
const broker = new ChaosBroker(workers, `/tmp/chaos_broker_${workers}_${seed0}.log`, 'chaos-');
const { port, dir, url } = broker;
await broker.start();

// With CHAOS_KILLS the broker is killed (SIGKILL) and restarted that many times: every queue is
// durable, and only persistent messages confirmed before a kill must survive it.
const QUEUES = ['cq0', 'cq1', 'cq2', 'cq3'].slice(0, Number(process.env.CHAOS_QUEUES ?? 4));
const durable = (q) => KILLS > 0 || q !== 'cq3';
{
  const c = await amqp.connect(url);
  const ch = await c.createChannel();
  for (const q of QUEUES) await ch.assertQueue(q, { durable: durable(q) });
  await c.close();
}
const survives = new Set(); // ids published persistent into a durable queue
const queueOf = new Map(); // id -> the queue it was published to
// Delivered before a kill: the delivery, and an ack, may not have reached the disk, so the message
// may come again after the restart, without redelivered (warren marks deliveries on disk lazily).
const crashed = new Set();
const mayBeLost = new Set(); // confirmed, not settled, and not meant to survive a kill that came since

const confirmed = new Set();
const settled = new Map(); // id -> how: ack | noack | drop | get
const firstDeliveries = new Map(); // id -> count of deliveries with redelivered=false
const errors = [];
let nextId = 0;
const deadline = Date.now() + Number(seconds) * 1000;
const stats = { published: 0, nacked: 0, delivered: 0, kills: 0, closes: 0, cancels: 0, recovers: 0, requeues: 0, drops: 0, gets: 0 };

const history = new Map(); // id -> events
const t00 = Date.now();
function event(id, what) { let h = history.get(id); if (!h) history.set(id, h = []); h.push(`${Date.now() - t00}ms ${what}`); }
// A body is `ID:` and padding.
const idOf = (msg) => Number(msg.content.toString('latin1', 0, msg.content.indexOf(58)));
function noteDelivery(msg, how) {
  const id = idOf(msg);
  event(id, `${how} tag=${msg.fields.deliveryTag} redelivered=${msg.fields.redelivered}`);
  stats.delivered++;
  if (!msg.fields.redelivered) {
    const n = (firstDeliveries.get(id) ?? 0) + 1;
    firstDeliveries.set(id, n);
    if (n > 1 && crashed.has(id)) stats.againAfterKill = (stats.againAfterKill ?? 0) + 1;
    else if (n > 1) errors.push(`id ${id} delivered twice without redelivered (${how})`);
  }
  return id;
}
// acks and rejects sent on a connection that was then killed may be lost: those may come again, redelivered
const uncertain = new Set();
const ackedIn = new Map(); // id -> the session that settled it
// `void`: an ack sent after basic.recover, which may name a tag the recover already requeued
// (RabbitMQ and warren close the channel with 406 then); the message may reach another consumer.
function settle(id, how, redelivered = false, maybeVoid = false) {
  event(id, `settle ${how}${maybeVoid ? ' (after recover: may be void)' : ''}`);
  if (settled.has(id) && !maybeVoid && !crashed.has(id) && !(uncertain.has(id) && redelivered)) errors.push(`id ${id} settled twice: ${settled.get(id)} then ${how} redelivered=${redelivered} first session ${JSON.stringify(ackedIn.get(id))}\n   ${history.get(id).join('\n   ')}`);
  uncertain.delete(id);
  settled.set(id, how);
}

async function publisher() {
  while (Date.now() < deadline) {
    let conn;
    try {
      let ch;
      [conn, ch] = await broker.confirmChannel();
      const n = Math.floor(rnd() * 2000) + 1;
      const pending = [];
      for (let i = 0; i < n && Date.now() < deadline; i++) {
        const id = nextId++;
        const q = pick(QUEUES);
        const size = rnd() < 0.05 ? 200_000 : Math.floor(rnd() * 300);
        const body = Buffer.concat([Buffer.from(`${id}:`), Buffer.alloc(size, 120)]);
        const persistent = rnd() < 0.5;
        if (persistent && durable(q)) survives.add(id);
        queueOf.set(id, q);
        // (a channel closed by a kill throws here: that publish is simply not confirmed)
        pending.push(new Promise((resolve) => ch.sendToQueue(q, body, { persistent, priority: Math.floor(rnd() * 3) }, (err) => {
          if (err) stats.nacked++;
          else {
            confirmed.add(id);
            // a confirm read only after the kill was noted: a transient message is as gone as the others
            if (broker.killing && !survives.has(id)) mayBeLost.add(id);
            event(id, `confirmed (${persistent ? 'persistent' : 'transient'} into ${q})`);
          }
          resolve();
        })).catch(() => undefined));
        stats.published++;
        if (i % 100 === 99) await Promise.race([Promise.all(pending.splice(0)), sleep(5000)]);
      }
      if (rnd() < 0.2) { stats.kills++; conn.connection.stream.destroy(); continue; }
      await Promise.race([Promise.all(pending), sleep(10000)]);
      await bounded(conn.close());
    } catch (e) { if (!String(e).includes('closed')) console.log('publisher', String(e)); if (conn) await bounded(conn.close()); }
    await sleep(rnd() * 50);
  }
}

async function consumer() {
  while (Date.now() < deadline) {
    let conn;
    const session = { n: ++sessionCount };
    try {
      conn = await broker.connect();
      const ch = await conn.createChannel();
      ch.on('error', (e) => { if (!session.recovering) console.log('consumer channel error', String(e)); });
      const noAck = rnd() < 0.3;
      let prefetch = 0, global = false;
      if (!noAck && rnd() < 0.8) { prefetch = Math.floor(rnd() * 60) + 1; global = rnd() < 0.2; await ch.prefetch(prefetch, global); }
      const q = pick(QUEUES);
      const held = [];
      const settledHere = [];
      Object.assign(session, { q, prefetch, global, noAck, end: 'open', t0: Date.now() });
      active.add(session);
      mark(`session ${session.n} consumes ${q} prefetch=${prefetch} global=${global} noAck=${noAck}`);
      const { consumerTag } = await ch.consume(q, (msg) => {
        if (msg === null) return;
        const id = noteDelivery(msg, `consume(session ${session.n})`);
        const again = msg.fields.redelivered;
        if (noAck) { settle(id, 'noack', again); return; }
        const r = rnd();
        if (r >= 0.75 && r < 0.85) event(id, `consumer nack requeue (session ${session.t0})`);
        if (r >= 0.86) event(id, `consumer holds (session ${session.t0})`);
        if (r < 0.75) { ch.ack(msg); settle(id, 'ack', again, session.recovering); settledHere.push(id); ackedIn.set(id, session); if (session.recovering) uncertain.add(id); }
        else if (r < 0.85) { ch.nack(msg, false, true); stats.requeues++; }
        else if (r < 0.86) { ch.reject(msg, false); settle(id, 'drop', again, session.recovering); settledHere.push(id); ackedIn.set(id, session); if (session.recovering) uncertain.add(id); stats.drops++; }
        else held.push(msg);
      }, { noAck });
      await sleep(rnd() * 1500);
      const end = rnd();
      mark(`session ${session.n} on ${q} prefetch=${prefetch} global=${global} noAck=${noAck} ends: ${noAck || end < 0.3 ? 'cancel' : end < 0.5 ? 'recover' : end < 0.75 ? 'close' : 'kill'} (held ${held.length})`);
      session.end = noAck || end < 0.3 ? 'cancel' : end < 0.5 ? 'recover' : end < 0.75 ? 'close' : 'kill';
      session.t1 = Date.now();
      if (noAck || end < 0.3) { await bounded(ch.cancel(consumerTag)); stats.cancels++; await sleep(50); await bounded(conn.close()); }
      else if (end < 0.5) { stats.recovers++; for (const id of settledHere) uncertain.add(id); session.recovering = true; await bounded(ch.recover()); await sleep(20 + rnd() * 300); await bounded(conn.close()); }
      else if (end < 0.75) { stats.closes++; await sleep(20); await bounded(ch.close()); await bounded(conn.close()); }
      else { stats.kills++; for (const id of settledHere) uncertain.add(id); conn.connection.stream.destroy(); }
    } catch (e) { if (!String(e).includes('closed')) console.log('consumer', String(e)); if (conn) await bounded(conn.close()); }
    active.delete(session);
    await sleep(rnd() * 50);
  }
}

/** consumer sessions not yet ended and basic.gets not yet answered, for a broker kill */
const active = new Set();
let getterConns = 0;
let sessionCount = 0;
const timeline = []; // [ms, text]
const mark = (text) => timeline.push([Date.now() - t00, text]);
async function getter() {
  while (Date.now() < deadline) {
    let conn;
    try {
      conn = await broker.connect();
      getterConns++;
      const ch = await conn.createChannel();
      ch.on('error', (e) => console.log('getter channel error', String(e)));
      for (let i = 0; i < 200 && Date.now() < deadline; i++) {
        const noAck = rnd() < 0.5;
        const gq = pick(QUEUES);
        const getting = { q: gq, noAck };
        active.add(getting);
        const msg = await ch.get(gq, { noAck }).finally(() => active.delete(getting));
        if (msg) event(idOf(msg), `get from ${gq} noAck=${noAck} getter-conn=${getterConns}`);
        if (!msg) { await sleep(5); continue; }
        stats.gets++;
        const id = noteDelivery(msg, 'get');
        if (noAck) settle(id, 'get', msg.fields.redelivered);
        else if (rnd() < 0.8) { ch.ack(msg); settle(id, 'get', msg.fields.redelivered); }
        else { ch.nack(msg, false, true); event(id, 'get nack requeue'); }
      }
      await sleep(20);
      await bounded(conn.close());
    } catch (e) { if (!String(e).includes('closed')) console.log('getter', String(e)); if (conn) await bounded(conn.close()); }
  }
}

async function killer() {
  for (let k = 0; k < KILLS; k++) {
    await sleep((deadline - Date.now()) * rnd() / (KILLS - k));
    if (Date.now() >= deadline) break;
    const consuming = [...active]; // before the kill: its sockets' ends may come in before 'exit'
    await broker.kill();
    stats.brokerKills = (stats.brokerKills ?? 0) + 1;
    mark(`broker killed; consuming then: ${consuming.map((x) => `${x.n === undefined ? 'a get' : `session ${x.n}`} on ${x.q}${x.noAck ? ' noAck' : ''}`).join(', ')}`);
    console.log(`broker killed at ${Date.now() - t00} ms`);
    // What was not written to disk may be gone; acks that had not reached the disk may come back.
    // A no-ack consumer's deliveries are done once in its connection's output (at most once, as
    // in RabbitMQ): those the kill caught between there and the client are gone, whichever they were.
    const readNoAck = new Set(consuming.filter((x) => x.noAck).map((x) => x.q));
    for (const id of confirmed) if (!settled.has(id) && (!survives.has(id) || readNoAck.has(queueOf.get(id)))) mayBeLost.add(id);
    for (const id of history.keys()) crashed.add(id);
    // CHAOS_SNAPSHOTS=1: the data dir as the kill left it, for a post-mortem of a loss.
    if (process.env.CHAOS_SNAPSHOTS) cpSync(dir, `${dir}-kill${stats.brokerKills}`, { recursive: true });
    await broker.restart();
    mark(`broker restarted`);
    console.log(`broker restarted at ${Date.now() - t00} ms`);
  }
}

const running = new Set();
const actor = (name, run) => { running.add(name); return run().finally(() => running.delete(name)); };
const watchdog = setInterval(() => {
  if (Date.now() < deadline + 30_000) return;
  console.log('still running:', [...running].join(', '));
  // the sockets' queues: bytes a side has not read yet (Recv-Q) or not sent yet (Send-Q)
  try { console.log(execSync(`ss -tn '( sport = :${port} or dport = :${port} )'`).toString()); } catch {}
}, 10_000);
await Promise.all([
  actor('publisher 1', publisher), actor('publisher 2', publisher), actor('publisher 3', publisher),
  actor('consumer 1', consumer), actor('consumer 2', consumer), actor('consumer 3', consumer), actor('consumer 4', consumer),
  actor('getter', getter), actor('killer', killer),
]);
clearInterval(watchdog);
// Drain: whatever is left, acked by one consumer per queue until quiet.
const c = await amqp.connect(url);
const ch = await c.createChannel();
await ch.prefetch(500);
let last = Date.now();
for (const q of QUEUES) await ch.consume(q, (msg) => { last = Date.now(); const id = noteDelivery(msg, 'drain'); ch.ack(msg); settle(id, 'drain', msg.fields.redelivered); });
while (Date.now() - last < 2000) await sleep(200);
const counts = [];
for (const q of QUEUES) counts.push((await ch.checkQueue(q)).messageCount);
await c.close();
let lost = 0;
const lostIds = [];
for (const id of confirmed) if (!settled.has(id) && !mayBeLost.has(id)) { lost++; lostIds.push(id); if (lost < 10) errors.push(`confirmed id ${id} never settled\n   ${(history.get(id) ?? []).join('\n   ')}`); }
if (lost > 0) writeFileSync(`${dir}-lost.json`, JSON.stringify(lostIds));
console.log(JSON.stringify({ workers, seed: seed0, ...stats, confirmed: confirmed.size, settled: settled.size, lost, mayBeLost: mayBeLost.size, stuck, left: counts, brokerDied: broker.died }));
for (const e of errors.slice(0, 20)) console.log('ERROR', e);
if (errors.length) {
  const first = Number(/\n   (\d+)ms/.exec(errors[0])?.[1] ?? 0);
  console.log(`timeline around ${first} ms:`);
  for (const [t, text] of timeline) if (Math.abs(t - first) < 300 || text.startsWith('broker killed')) console.log(`  ${t}ms ${text}`);
}
if (errors.length) console.log('errors', errors.length);
const diedDuringRun = broker.died;
broker.stop();
await sleep(500);
const trouble = /error|exception|uncaught/i;
if (trouble.test(broker.output)) console.log('BROKER LOG:', broker.output.split('\n').filter((l) => trouble.test(l)).slice(0, 20).join('\n'));
process.exit(errors.length || diedDuringRun ? 1 : 0);
