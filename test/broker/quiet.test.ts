/**
 * A quiet broker costs nothing (issue 12): with a publisher and a consumer
 * connected and messages just delivered, nothing spins and no timer keeps
 * waking a thread while nothing happens. The broker runs as a child process so
 * that its threads, and only its, are counted from /proc (Linux).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, eventually, sleep, spawnedWarrens, subscribe, uniq } from '../helpers.js';

/** How long the broker is watched doing nothing. */
const QUIET_MS = 2000;
/**
 * CPU all its threads may use meanwhile: a quiet one uses 0 (measured), a
 * spinning thread QUIET_MS, a shard worker waking every 5 ms 90 ms here.
 */
const MAX_CPU_MS = 40;
/** Context switches all its threads may have meanwhile: 0 measured; a 10 ms timer makes 200. */
const MAX_WAKEUPS = 40;

/**
 * How long a broker may take to arm nothing once quiet: the handshake's
 * timeout (10 s, cleared at connection.open) is due once more, V8's
 * startup tasks end about 8 s in (measured), and its memory reducer, which
 * waits 8 s between the GCs it may start after activity, once kept the main
 * thread's deadline at 8.1 s for more than 40 s on this 2-core host under the
 * whole suite's load.
 */
const SETTLE_MS = 60_000;

interface Usage {
  cpuMs: number;
  wakeups: number;
}

/** CPU time (schedstat, ns) and context switches over all the threads of `pid`. */
function usage(pid: number): Usage {
  let cpuNs = 0;
  let wakeups = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      cpuNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) wakeups += Number(m[1]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return { cpuMs: cpuNs / 1e6, wakeups };
}

/**
 * Syscall numbers of the waits a sleeping thread of node is in (epoll for its
 * event loop, futex for the rest), and which argument holds its deadline.
 */
const WAITS: Record<string, { epoll: number[]; futex: number }> = {
  x64: { epoll: [232, 281], futex: 202 },
  arm64: { epoll: [22], futex: 98 },
};

/**
 * Each thread of `pid` asleep with no deadline: an epoll wait with timeout -1
 * or a futex wait with no timeout, read from /proc/PID/task/TID/syscall (the
 * number and arguments of the call a blocked thread is in). Any armed timer,
 * even one due in 30 s, shows as a finite epoll timeout.
 */
function threadsAwaitingNothing(pid: number): { all: boolean; states: string[] } {
  const waits = WAITS[process.arch]!;
  const states: string[] = [];
  let all = true;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let line: string;
    try {
      line = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').trim();
    } catch {
      continue; // the thread ended between the listing and the read
    }
    states.push(line.split(' ').slice(0, 5).join(' '));
    const [nr, , , , fourth] = line.split(' ');
    const timeout = BigInt.asIntN(32, BigInt(fourth ?? '0x0'));
    const asleep = waits.epoll.includes(Number(nr)) ? timeout === -1n : Number(nr) === waits.futex && fourth === '0x0';
    if (!asleep) all = false;
  }
  return { all, states };
}

describe.runIf(process.platform === 'linux').each(MODES)('a quiet broker costs nothing: $name', ({ workers }) => {
  const spawnWarren = spawnedWarrens();

  it('uses no CPU and has no wake-ups while a connected publisher and consumer send nothing', async () => {
    const started = await spawnWarren(workers);
    const publisherConn = await connect(started.url);
    const consumerConn = await connect(started.url);
    try {
      const queue = uniq('quiet');
      const publisher = await channel(publisherConn);
      const consumer = await channel(consumerConn);
      await publisher.assertQueue(queue);
      // Both kinds of consumer: the no-ack one gets its deliveries, the acking one acks them.
      const inbox = await subscribe(consumer, queue);
      const acking = await channel(consumerConn);
      const ackQueue = uniq('quiet-ack');
      await acking.assertQueue(ackQueue);
      const acked: number[] = [];
      await acking.consume(ackQueue, (msg) => {
        acked.push(Number(msg!.content.toString()));
        acking.ack(msg!);
      });
      const COUNT = 200;
      for (let i = 0; i < COUNT; i++) {
        publisher.sendToQueue(queue, Buffer.from(String(i)));
        publisher.sendToQueue(ackQueue, Buffer.from(String(i)));
        if (i % 20 === 0) await sleep(5); // traffic in bursts, with quiet gaps in between, as at low load
      }
      const got = await inbox.waitFor(COUNT, 5000);
      expect(got.map((m) => Number(m.content.toString()))).toEqual([...Array(COUNT).keys()]);
      await eventually(() => expect(acked).toEqual([...Array(COUNT).keys()]), 5000);
      await sleep(300); // the memory alarm takes its last look (100 ms after the last publish)

      const before = usage(started.child.pid!);
      await sleep(QUIET_MS);
      const after = usage(started.child.pid!);
      const cpuMs = after.cpuMs - before.cpuMs;
      const wakeups = after.wakeups - before.wakeups;
      expect(cpuMs, `CPU over ${QUIET_MS} ms of quiet`).toBeLessThan(MAX_CPU_MS);
      expect(wakeups, `context switches over ${QUIET_MS} ms of quiet`).toBeLessThan(MAX_WAKEUPS);

      // and it still answers at once
      publisher.sendToQueue(queue, Buffer.from(String(COUNT)));
      expect(Number((await inbox.waitFor(COUNT + 1, 2000))[COUNT].content.toString())).toBe(COUNT);
    } finally {
      await publisherConn.close().catch(() => {});
      await consumerConn.close().catch(() => {});
    }
  });

  // A timer that fires every 30 s does not show in 2 s of CPU and wake-ups;
  // a thread's deadline shows at once. Timers cleared after their work (the
  // handshake's, V8's own delayed tasks after start) leave one wake-up at
  // most, within SETTLE_MS; after that nothing may be armed, a client
  // without heartbeats connected and its messages delivered.
  it.runIf(WAITS[process.arch] !== undefined)('arms no timer once quiet, with the management API listening and a client connected', async () => {
    // amqplib takes the broker's heartbeat whatever it asks for: the broker proposes none
    const started = await spawnWarren(workers, ['--heartbeat', '0']);
    const conn = await connect(started.url);
    try {
      const ch = await channel(conn);
      const queue = uniq('quiet-timer');
      await ch.assertQueue(queue);
      const inbox = await subscribe(ch, queue);
      for (let i = 0; i < 100; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
      expect((await inbox.waitFor(100, 5000)).map((m) => Number(m.content.toString()))).toEqual([...Array(100).keys()]);
      const deadline = Date.now() + SETTLE_MS;
      let seen = threadsAwaitingNothing(started.child.pid!);
      while (!seen.all && Date.now() < deadline) {
        await sleep(250);
        seen = threadsAwaitingNothing(started.child.pid!);
      }
      expect(seen.all, `every thread asleep with no deadline within ${SETTLE_MS} ms; last seen:\n${seen.states.join('\n')}`).toBe(true);
    } finally {
      await conn.close().catch(() => {});
    }
  }, SETTLE_MS + 10_000);
});
