/**
 * RabbitMQ's memory alarm. While what the broker holds is over the high
 * watermark, or a shard's V8 heap is filling up, every connection that
 * publishes is paused on its next publish and told with connection.blocked
 * (if its client declared the capability); when memory falls back under the
 * watermark they get connection.unblocked and are read again.
 *
 * What the broker holds is counted, not read from the OS: the process RSS when
 * the broker started, plus each shard's ring pair (its pages become resident
 * as records cycle through), plus what each shard's ready messages cost
 * (reported in MEMORY records), plus what the acceptor buffers (ring overflow,
 * a large record whose pieces are arriving, each connection's read and output
 * buffers, unwritten output, half-received bodies, frames waiting on busy
 * channels). RSS itself
 * is no use here: after a queue is drained the allocator keeps the pages, so an
 * alarm on RSS would never clear.
 */
import fs from 'node:fs';
import os from 'node:os';
import * as M from '../protocol/methods.generated.js';
import { PAUSE_ALARM, PAUSE_BLOCKED, type Connection } from './connection.js';
import type { ShardLink } from './shard-link.js';

/** RabbitMQ's default: 40% of the memory available. */
export const DEFAULT_WATERMARK = 0.4;
/** How often memory is looked at while publishes happen (never while idle). */
const CHECK_MS = 100;
const BLOCKED_REASON = 'low on memory';

const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/**
 * --memory-high-watermark in bytes: a number below 1 is a fraction of the
 * memory available, 1 or more is bytes; a string may carry a unit ("2GB",
 * "512MiB"). Throws on anything else.
 */
export function watermarkBytes(value: number | string, available = availableMemory()): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
    const unit = match ? UNITS[match[2].toUpperCase()] : undefined;
    if (match === null || unit === undefined) throw new Error(`memory high watermark '${value}' is not a fraction, bytes, or bytes with a unit (2GB, 512MiB)`);
    n = Number(match[1]) * (match[2] === '' ? 1 : unit);
    if (match[2] !== '' && n < 1) throw new Error(`memory high watermark '${value}' is less than a byte`);
  }
  if (!Number.isFinite(n) || n <= 0) throw new Error(`memory high watermark must be positive, got ${value}`);
  return n < 1 ? Math.floor(n * available) : Math.floor(n);
}

/** The machine's memory, or the cgroup's limit when that is lower. */
export function availableMemory(): number {
  let bytes = os.totalmem();
  try {
    const limit = Number(fs.readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim()); // "max" when unlimited
    if (Number.isFinite(limit) && limit > 0) bytes = Math.min(bytes, limit);
  } catch {
    // no cgroup v2 limit here
  }
  return bytes;
}

export class MemoryAlarm {
  /** true while publishers are blocked */
  on = false;
  /** the process RSS when the broker started: what the runtime itself takes */
  private readonly baseline = process.memoryUsage.rss();
  private readonly blocked = new Set<Connection>();
  /** publishers a test rig blocked (faults.blockPublishers), apart from the alarm */
  private readonly demanded = new Set<Connection>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    /** the high watermark, bytes */
    readonly limit: number,
    private readonly links: readonly ShardLink[],
    private readonly connections: ReadonlySet<Connection>,
  ) {
    this.check = this.check.bind(this);
  }

  /**
   * Called for each basic.publish and body frame: blocks the connection while
   * the alarm is on (its connection then handles no more frames, see
   * HOLD_FRAMES), else makes sure a check comes.
   */
  onPublish(conn: Connection): void {
    conn.published = true;
    // The first publish after a quiet spell looks at once (RabbitMQ's alarm is on
    // all along); later ones leave it to the check this arms.
    if (!this.on && this.timer === null) {
      this.check();
      if (!this.on) this.arm();
    }
    if (this.on) this.block(conn);
    if (this.demanded.size > 0 && this.demanded.has(conn)) conn.pause(PAUSE_BLOCKED);
  }

  /**
   * A test rig blocks a publisher on demand: connection.blocked now, and its
   * reading paused, at once if it published before, else at its first
   * publish (as the alarm does). Kept apart from the alarm: its end does not
   * unblock this one.
   */
  blockOnDemand(conn: Connection, reason: string): void {
    if (this.demanded.has(conn)) return;
    this.demanded.add(conn);
    if (conn.published) conn.pause(PAUSE_BLOCKED);
    if (conn.capabilities.connectionBlocked && !this.blocked.has(conn)) {
      M.writeConnectionBlocked(conn.out, 0, { reason });
      conn.dirty();
    }
  }

  unblockOnDemand(conn: Connection): void {
    if (!this.demanded.delete(conn)) return;
    if (conn.capabilities.connectionBlocked && conn.state === 'open' && !this.blocked.has(conn)) {
      M.writeConnectionUnblocked(conn.out, 0);
      conn.dirty();
    }
    conn.unpause(PAUSE_BLOCKED);
  }

  /** A shard's heap alarm changed: decide now. */
  recheck(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.check();
  }

  /** What the broker holds, by its own count (see the top of this file). */
  used(): number {
    let bytes = this.baseline;
    for (const link of this.links) bytes += link.ringBytes + link.queuedBytes + link.writer.overflowBytes + link.assemblingBytes;
    for (const conn of this.connections) bytes += conn.bufferedBytes();
    return bytes;
  }

  forget(conn: Connection): void {
    this.blocked.delete(conn);
    this.demanded.delete(conn);
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.timer = setTimeout(this.check, CHECK_MS);
    this.timer.unref();
  }

  private check(): void {
    this.timer = null;
    const alarm = this.links.some((link) => link.heapAlarm) || this.used() > this.limit;
    if (alarm !== this.on) {
      this.on = alarm;
      if (!alarm) this.unblockAll();
    }
    // Blocked publishers cannot arm it: keep looking until the alarm clears.
    if (this.on) this.arm();
  }

  /** RabbitMQ blocks a connection when it next publishes, and says so then. */
  private block(conn: Connection): void {
    if (this.blocked.has(conn)) return;
    this.blocked.add(conn);
    conn.pause(PAUSE_ALARM);
    if (conn.capabilities.connectionBlocked && !this.demanded.has(conn)) {
      M.writeConnectionBlocked(conn.out, 0, { reason: BLOCKED_REASON });
      conn.dirty();
    }
  }

  private unblockAll(): void {
    for (const conn of this.blocked) {
      // One blocked on demand stays blocked: it hears unblocked when that ends.
      if (conn.capabilities.connectionBlocked && conn.state === 'open' && !this.demanded.has(conn)) {
        M.writeConnectionUnblocked(conn.out, 0);
        conn.dirty();
      }
      conn.unpause(PAUSE_ALARM);
    }
    this.blocked.clear();
  }
}
