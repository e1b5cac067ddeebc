// Resource use from /proc: CPU time and resident memory of the broker's process
// and its descendants (warren's worker processes, if it forks), and the CPU time
// of each of the load generator's own threads.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** Fields of a /proc stat file (a process's or a thread's) after the command name (which may contain spaces). */
function statFields(path: string): string[] | null {
  try {
    const s = readFileSync(path, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU ticks (user + system) of each thread of `pid`, by thread id. */
export function threadTicks(pid: number = process.pid): Map<number, number> {
  const ticks = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return ticks;
  }
  for (const tid of tids) {
    const f = statFields(`/proc/${pid}/task/${tid}/stat`);
    if (f) ticks.set(Number(tid), Number(f[11]) + Number(f[12]));
  }
  return ticks;
}

/**
 * The busiest thread between two `threadTicks` readings, as a share of one core
 * over `seconds`: near 1, that thread (a generator) was the limit of the run.
 */
export function busiestThreadShare(before: Map<number, number>, after: Map<number, number>, seconds: number): number {
  let most = 0;
  for (const [tid, t] of after) most = Math.max(most, t - (before.get(tid) ?? 0));
  return most / ticksPerSecond() / seconds;
}

/** pid and every live descendant. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const f = statFields(`/proc/${pid}/stat`);
    if (!f) continue;
    const ppid = Number(f[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(pid);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

export class ProcessProbe {
  private peak = 0;
  private timer: NodeJS.Timeout | null = null;
  private tree: number[];

  constructor(readonly pid: number) {
    this.tree = processTree(pid);
  }

  static available(): boolean {
    try {
      readFileSync('/proc/self/stat');
      return true;
    } catch {
      return false;
    }
  }

  /** CPU time (user + system) of the process tree, in µs. */
  cpuUs(): number {
    this.tree = processTree(this.pid);
    let ticks = 0;
    for (const p of this.tree) {
      const f = statFields(`/proc/${p}/stat`);
      if (f) ticks += Number(f[11]) + Number(f[12]); // utime, stime
    }
    return (ticks / ticksPerSecond()) * 1e6;
  }

  /** Resident memory of the process tree, in bytes. */
  rssBytes(): number {
    let kb = 0;
    for (const p of this.tree) {
      try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
        if (m) kb += Number(m[1]);
      } catch { /* exited */ }
    }
    return kb * 1024;
  }

  /** Samples RSS every `ms` until stopPeak(): the peak during a scenario, not the process's lifetime. */
  startPeak(ms = 100): void {
    this.peak = this.rssBytes();
    this.timer = setInterval(() => { this.peak = Math.max(this.peak, this.rssBytes()); }, ms);
  }

  stopPeak(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return Math.max(this.peak, this.rssBytes());
  }
}
