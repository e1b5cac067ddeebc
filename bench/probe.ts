// Broker resource use from /proc: CPU time and resident memory of the broker's
// process and its descendants (warren's worker processes, if it forks).
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

/** Fields of /proc/PID/stat after the command name (which may contain spaces). */
function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** pid and every live descendant. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const f = statFields(pid);
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
      const f = statFields(p);
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
