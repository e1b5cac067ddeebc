/**
 * A quiet broker costs nothing (issue 12): with a publisher and a consumer
 * connected and messages just delivered, nothing spins and no timer keeps
 * waking a thread while nothing happens. The broker runs as a child process so
 * that its threads, and only its, are counted from /proc (Linux).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { MODES, WARREN_MAIN, channel, connect, eventually, sleep, subscribe, uniq } from '../helpers.js';

/** How long the broker is watched doing nothing. */
const QUIET_MS = 2000;
/**
 * CPU all its threads may use meanwhile: a quiet one uses 0 (measured), a
 * spinning thread QUIET_MS, a shard worker waking every 5 ms 90 ms here.
 */
const MAX_CPU_MS = 40;
/** Context switches all its threads may have meanwhile: 0 measured; a 10 ms timer makes 200. */
const MAX_WAKEUPS = 40;

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

/** Starts the warren command; resolves with the child and its AMQP URL. */
async function startWarren(workers: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [WARREN_MAIN, '--port', '0', '--host', '127.0.0.1', '--in-memory', '--management-port', '0', '--workers', String(workers)]);
  let output = '';
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('\n')) resolve(output.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`warren exited with ${code} before it was ready`)));
  });
  const port = /port (\d+) /.exec(line)?.[1];
  if (port === undefined) throw new Error(`no port in "${line}"`);
  return { child, url: `amqp://guest:guest@127.0.0.1:${port}` };
}

describe.runIf(process.platform === 'linux').each(MODES)('a quiet broker costs nothing: $name', ({ workers }) => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  it('uses no CPU and has no wake-ups while a connected publisher and consumer send nothing', async () => {
    const started = await startWarren(workers);
    child = started.child;
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

      const before = usage(child.pid!);
      await sleep(QUIET_MS);
      const after = usage(child.pid!);
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
});
