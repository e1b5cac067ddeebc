/**
 * The free space of the filesystem that holds the data dir, for RabbitMQ's
 * free disk space alarm (disk_free_limit, 50 MB by default): while less than
 * the limit is free, publishers are blocked (resource-alarm.ts), so that
 * persistent messages never meet a full disk.
 *
 * Read with statfs when the resource alarm checks (the first publish after a
 * quiet spell, then every 100 ms while publishes go on or the alarm lasts), and
 * sooner once half the room left above the limit has been published: near the
 * limit a fast publisher is looked at every few hundred KiB, far from it never
 * between checks.
 */
import fs from 'node:fs';
import { log } from '../log/logger.js';
import { parseByteSize } from './byte-size.js';

/** RabbitMQ's default disk_free_limit (50MB, decimal). */
export const DEFAULT_DISK_FREE_LIMIT = 50_000_000;

/** --disk-free-limit in bytes: a whole number of bytes, or bytes with a unit ("1GB", "512MiB"). */
export function diskFreeLimitBytes(value: number | string): number {
  const n = typeof value === 'number' ? value : parseByteSize(value, 'disk free limit');
  const bare = typeof value === 'number' || /^\s*[\d.]+\s*$/.test(value);
  if (!Number.isFinite(n) || n < 0 || (bare && !Number.isInteger(n))) throw new Error(`disk free limit must be a whole number of bytes, 0 or more, got ${value}`);
  return Math.floor(n);
}

export class DiskFree {
  /** bytes free for an unprivileged writer at the last read */
  free = Infinity;
  /** bytes that may be published before the next read is due (in memory: no reads, ever) */
  private room: number;
  private warned = false;

  constructor(
    /** the data dir; null in memory, where nothing is written and nothing is measured */
    readonly dir: string | null,
    /** the limit, bytes: below it the alarm is on */
    public limit: number,
  ) {
    this.room = dir === null ? Infinity : 0;
  }

  /** Reads the free space; true when it is below the limit. */
  read(): boolean {
    if (this.dir === null) return false;
    try {
      const stats = fs.statfsSync(this.dir);
      this.free = stats.bavail * stats.bsize;
      this.warned = false;
    } catch (err) {
      // A data dir that cannot be looked at is no reason to stop publishers.
      if (!this.warned) log.warning(`free disk space of ${this.dir} unknown: ${(err as Error).message}`);
      this.warned = true;
      this.free = Infinity;
    }
    this.room = Math.max(0, (this.free - this.limit) / 2);
    return this.free < this.limit;
  }

  /** `bytes` were published: true when a read is due. */
  spend(bytes: number): boolean {
    this.room -= bytes;
    return this.room < 0;
  }
}
