// Where the figures come from: printed with every run and stored in the JSON.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  os: string;
  node: string;
  /**
   * Linux's TCP congestion control for new sockets (null elsewhere): with BBR a
   * client's sends are paced by how often the broker ACKs, which moves the
   * amqplib rows by tens of per cent (docs/BENCHMARKS.md, "amqplib `single` and
   * the host's TCP").
   */
  tcpCongestionControl: string | null;
  gitCommit: string | null;
  gitDirty: boolean | null;
}

export function gitCommit(cwd: string): { commit: string | null; dirty: boolean | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

export function machineInfo(repoRoot: string): MachineInfo {
  const cpus = os.cpus();
  const g = gitCommit(repoRoot);
  return {
    cores: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    tcpCongestionControl: tcpCongestionControl(),
    gitCommit: g.commit,
    gitDirty: g.dirty,
  };
}

function tcpCongestionControl(): string | null {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
  } catch {
    return null;
  }
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cores} cores (${m.cpuModel}), ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${m.os}, node ${m.node}` +
    (m.tcpCongestionControl ? `, TCP ${m.tcpCongestionControl}` : '') +
    (m.gitCommit ? `, commit ${m.gitCommit.slice(0, 12)}${m.gitDirty ? '+dirty' : ''}` : '');
}
