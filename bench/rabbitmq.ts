// Starts a throwaway RabbitMQ from Debian's rabbitmq-server package for `--vs rabbitmq`:
// its own node name, ports, epmd, mnesia and logs in a temp dir, no plugins,
// listening on loopback only. Runs as the current user (root included): we
// call the real start script, not Debian's wrapper that switches user.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { sleep } from './clock.js';

const SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export interface LocalRabbit {
  url: string;
  /** beam.smp: the process whose CPU and memory are the broker's. */
  pid: number;
  close(): Promise<void>;
}

export function rabbitmqInstalled(): boolean {
  return existsSync(SCRIPT);
}

/** A port the OS says is free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startRabbitmq(opts: { startTimeoutMs?: number; log?: (s: string) => void } = {}): Promise<LocalRabbit> {
  if (!rabbitmqInstalled()) throw new Error(`RabbitMQ is not installed (${SCRIPT} missing): apt-get install rabbitmq-server`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'warren-bench-rabbitmq-'));
  const [amqpPort, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(path.join(dir, 'rabbitmq.conf'), [
    `listeners.tcp.1 = 127.0.0.1:${amqpPort}`,
    'loopback_users = none',
    'log.console = false',
    'log.file.level = warning',
    '',
  ].join('\n'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir, // the Erlang cookie goes here
    RABBITMQ_CONF_ENV_FILE: '/dev/null', // ignore the system's rabbitmq-env.conf
    RABBITMQ_NODENAME: `warrenbench${amqpPort}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbitmq.pid'),
  };
  const child: ChildProcess = spawn(SCRIPT, [], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-4000); });
  child.stderr?.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-4000); });

  const stop = async () => {
    // The start script runs beam in its process group: end that group, by its id.
    if (child.exitCode === null && child.pid) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      for (let i = 0; i < 100 && child.exitCode === null; i++) await sleep(100);
      if (child.exitCode === null) try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    // Our private epmd daemonised out of the group; ask it to stop.
    try { execFileSync('epmd', ['-kill'], { env: { ...process.env, ERL_EPMD_PORT: String(epmdPort) }, stdio: 'ignore' }); } catch { /* none */ }
    rmSync(dir, { recursive: true, force: true });
  };

  const url = `amqp://guest:guest@127.0.0.1:${amqpPort}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`rabbitmq-server exited with ${child.exitCode}: ${output.slice(-1500)}`);
    }
    try {
      const conn = await amqp.connect(url);
      await conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`rabbitmq-server did not accept connections within ${opts.startTimeoutMs ?? 90_000} ms: ${output.slice(-1500)}`);
      }
      await sleep(250);
    }
  }
  const pidFile = path.join(dir, 'rabbitmq.pid');
  let pid = 0;
  for (let i = 0; i < 40 && !pid; i++) {
    if (existsSync(pidFile)) pid = Number(readFileSync(pidFile, 'utf8').trim()) || 0;
    if (!pid) await sleep(100);
  }
  return { url, pid: pid || child.pid!, close: stop };
}
