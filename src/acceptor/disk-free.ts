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
import { byteCount } from './byte-size.js';
import { availableMemory } from './resource-alarm.js';

/** RabbitMQ's default disk_free_limit (50MB, decimal). */
export const DEFAULT_DISK_FREE_LIMIT = 50_000_000;

/** --disk-free-limit in bytes: a whole number of bytes, or bytes with a unit ("1GB", "512MiB"). */
export const diskFreeLimitBytes = (value: number | string): number => byteCount(value, 'disk free limit');

/**
 * rabbitmqctl set_disk_free_limit's two forms, in bytes: `absolute` (as
 * diskFreeLimitBytes) or `mem_relative`, a multiple of the memory available.
 * Throws a one-line reason.
 */
export function diskThreshold(spec: { absolute?: unknown; mem_relative?: unknown }, memory = availableMemory()): number {
  if ((spec.absolute === undefined) === (spec.mem_relative === undefined)) throw new Error('give either absolute (bytes) or mem_relative (a multiple of the memory)');
  if (spec.absolute !== undefined) return byteCount(spec.absolute, 'disk free limit');
  const f = spec.mem_relative;
  if (typeof f !== 'number' || !(f >= 0) || !Number.isFinite(f)) throw new Error(`mem_relative must be a number, 0 or more, got ${JSON.stringify(f)}`);
  return Math.floor(f * memory);
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
