/**
 * One broker per data directory: DIR/warren.lock, created with O_EXCL and
 * holding the owner's pid. A lock whose pid is no longer running (a crash,
 * SIGKILL; a zombie counts as gone) is stale and taken over, and so is one
 * with this process's own pid that this process does not hold (a container
 * restarted under the same pid).
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';

/** The lock files this process holds. */
const held = new Set<string>();

export class DataDirInUse extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`data directory ${dir} is in use by pid ${pid}`);
  }
}

export class DataDirLock {
  private constructor(readonly path: string) {}

  /** Creates `dir` if needed and locks it; throws DataDirInUse if a live process holds it. */
  static acquire(dir: string): DataDirLock {
    mkdirSync(dir, { recursive: true });
    const path = resolve(dir, 'warren.lock');
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        try {
          writeSync(fd, `${process.pid}\n`);
        } finally {
          closeSync(fd);
        }
        held.add(path);
        return new DataDirLock(path);
      } catch (err: any) {
        if (err.code !== 'EEXIST') throw err;
      }
      const pid = holder(path);
      // After one takeover, a lock that is there again belongs to a broker that won the race.
      const live = pid !== null && (pid === process.pid ? held.has(path) : isRunning(pid));
      if (live || attempt > 0) throw new DataDirInUse(dir, pid ?? 0);
      removeIfPresent(path); // stale: its owner is gone
    }
  }

  /** Removes the lock file, if it is still this process's. */
  release(): void {
    if (!held.delete(this.path)) return;
    if (holder(this.path) === process.pid) removeIfPresent(this.path);
  }
}

/** The pid in a lock file, or null if it has none (gone, or cut short). */
function holder(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err: any) {
    return err.code === 'EPERM'; // alive, owned by someone else
  }
  return !isZombie(pid);
}

/**
 * A killed broker whose parent has not reaped it yet still answers kill(pid, 0),
 * though it holds nothing. In a container whose first process never reaps
 * orphans, it stays so: its lock would refuse every later broker.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state === 'Z' || state === 'X';
  } catch {
    return false; // no /proc (not Linux), or it went in between
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw err;
  }
}
