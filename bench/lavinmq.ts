// Starts a throwaway LavinMQ for `--vs lavinmq`: the binary that
// ../shared/lavinmq/build.sh builds (LAVINMQ=path, default /tmp/lavin/bin/lavinmq),
// its data in a temp dir, loopback only, as a child process so /proc gives its
// CPU and memory.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { sleep } from './clock.js';
import { freePort } from './rabbitmq.js';

export const LAVINMQ_BINARY = process.env.LAVINMQ ?? '/tmp/lavin/bin/lavinmq';

export async function startLavinmq(startTimeoutMs = 30_000): Promise<{ url: string; pid: number; close(): Promise<void> }> {
  if (!existsSync(LAVINMQ_BINARY)) throw new Error(`LavinMQ not found at ${LAVINMQ_BINARY}: build it with ../shared/lavinmq/build.sh, or set LAVINMQ`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'warren-bench-lavinmq-'));
  const [amqpPort, httpPort] = [await freePort(), await freePort()];
  const child = spawn(LAVINMQ_BINARY, ['-D', dir, '-b', '127.0.0.1', '-p', String(amqpPort), '--http-port', String(httpPort)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
  const close = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && child.exitCode === null; i++) await sleep(100);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `amqp://guest:guest@127.0.0.1:${amqpPort}`;
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`lavinmq exited with ${child.exitCode}: ${err}`);
    try {
      await (await amqp.connect(url)).close();
      return { url, pid: child.pid!, close };
    } catch {
      if (Date.now() > deadline) {
        await close();
        throw new Error(`lavinmq did not accept connections within ${startTimeoutMs} ms: ${err}`);
      }
      await sleep(100);
    }
  }
}
