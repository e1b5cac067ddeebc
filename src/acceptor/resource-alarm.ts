/**
 * RabbitMQ's resource alarms: memory and free disk space. While what the
 * broker holds is over the memory high watermark (or a V8 heap is filling up:
 * a shard's, or this thread's), or the data dir's filesystem has less free than the disk free
 * limit (disk-free.ts), every connection that publishes is paused on its next
 * publish and told with connection.blocked (if its client declared the
 * capability); when every alarm has cleared they get connection.unblocked and
 * are read again.
 *
 * What the broker holds is counted, not read from the OS: the process RSS when
 * the broker started, plus each shard's ring pair (its pages become resident
 * as records cycle through), plus what each shard's ready messages cost
 * (reported in MEMORY records), plus what the acceptor buffers (ring overflow,
 * a large record whose pieces are arriving, each connection's read and output
 * buffers, unwritten output, half-received bodies, frames waiting on busy
 * channels, transactions' buffered operations, unacked sets). RSS itself
 * is no use here: after a queue is drained the allocator keeps the pages, so an
 * alarm on RSS would never clear.
 *
 * The V8 heap has a limit of its own, below the watermark on a large machine:
 * what this thread holds there by count (transactions' publishes, deliveries
 * an unacked set keeps apart, an inline shard's messages) stays under the
 * budget a shard keeps for its own (shard-runner.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import * as M from '../protocol/methods.generated.js';
import { PAUSE_ALARM, PAUSE_BLOCKED, type Connection } from './connection.js';
import type { ShardLink } from './shard-link.js';
import { byteCount, parseByteSize } from './byte-size.js';
import type { DiskFree } from './disk-free.js';
import { defaultHeapBudget } from '../shard/shard-runner.js';

/** RabbitMQ's default: 40% of the memory available. */
export const DEFAULT_WATERMARK = 0.4;
/** How often the alarms are looked at while publishes happen (never while idle). */
const CHECK_MS = 100;

/**
 * --memory-high-watermark in bytes: a number below 1 is a fraction of the
 * memory available, 1 or more is bytes; a string may carry a unit ("2GB",
 * "512MiB"). 0 puts the alarm on at once, as in RabbitMQ. Throws on anything else.
 */
export function watermarkBytes(value: number | string, available = availableMemory()): number {
  const n = typeof value === 'number' ? value : parseByteSize(value, 'memory high watermark', 'a fraction, bytes, or bytes with a unit (2GB, 512MiB)');
  if (!Number.isFinite(n) || n < 0) throw new Error(`memory high watermark must be 0 or more, got ${value}`);
  return n < 1 ? Math.floor(n * available) : Math.floor(n);
}

/**
 * rabbitmqctl set_vm_memory_high_watermark's two forms, in bytes: `relative`,
 * a fraction of the memory available from 0 to 1, or `absolute`, bytes (a
 * string may carry a unit). Throws a one-line reason.
 */
export function memoryThreshold(spec: { relative?: unknown; absolute?: unknown }, available = availableMemory()): number {
  if ((spec.relative === undefined) === (spec.absolute === undefined)) throw new Error('give either relative (a fraction) or absolute (bytes)');
  if (spec.relative !== undefined) {
    const f = spec.relative;
    if (typeof f !== 'number' || !(f >= 0 && f <= 1)) throw new Error(`the threshold should be a fraction between 0.0 and 1.0, got ${JSON.stringify(f)}`);
    return Math.floor(f * available);
  }
  return byteCount(spec.absolute, 'memory threshold');
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

export class ResourceAlarm {
  /** true while the memory alarm is on */
  memoryOn = false;
  /** true while the free disk space alarm is on */
  diskOn = false;
  /** true while what this thread's heap holds, by count, is over its budget (part of memoryOn) */
  private heapOn = false;
  private readonly heapBudget = defaultHeapBudget();
  /** the process RSS when the broker started: what the runtime itself takes */
  private readonly baseline = process.memoryUsage.rss();
  private readonly blocked = new Set<Connection>();
  /** publishers a test rig blocked (faults.blockPublishers), apart from the alarms */
  private readonly demanded = new Set<Connection>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    /** the memory high watermark, bytes */
    public memoryLimit: number,
    private readonly links: readonly ShardLink[],
    private readonly connections: ReadonlySet<Connection>,
    /** the data dir's free space */
    readonly disk: DiskFree,
  ) {}

  /** true while publishers are blocked by an alarm */
  get on(): boolean {
    return this.memoryOn || this.diskOn;
  }

  /** The alarms in effect, as RabbitMQ's health checks name their resources. */
  resources(): string[] {
    return [...(this.memoryOn ? ['memory'] : []), ...(this.diskOn ? ['disk space'] : [])];
  }

  /**
   * Called for each basic.publish (bytes 0) and body frame: blocks the
   * connection while an alarm is on (its connection then handles no more
   * frames, see HOLD_FRAMES), else makes sure a check comes.
   */
  onPublish(conn: Connection, bytes: number): void {
    conn.published = true;
    // The first publish after a quiet spell looks at once (RabbitMQ's alarms are on
    // all along); later ones leave it to the check this arms, but for a disk
    // whose room above the limit they may have used up.
    if (!this.on && (this.timer === null || this.disk.spend(bytes))) {
      this.refresh();
      if (!this.on) this.arm();
    }
    if (this.on) this.block(conn);
    if (this.demanded.size > 0 && this.demanded.has(conn)) conn.pause(PAUSE_BLOCKED);
  }

  /**
   * A test rig blocks a publisher on demand: connection.blocked now, and its
   * reading paused, at once if it published before, else at its first
   * publish (as the alarms do). Kept apart from the alarms: their end does not
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

  /** A shard's heap alarm or store failed changed, or a transaction grew: decide now (the disk as last read). */
  recheck(): void {
    this.decide(false);
  }

  /**
   * Looks at memory and the disk now: for a publish, the check timer, and the
   * management API (the alarms as they are, publishes or not, as RabbitMQ's are).
   */
  readonly refresh = (): void => this.decide(true);

  /** RabbitMQ's set_disk_free_limit: a new limit, looked at now. */
  setDiskFreeLimit(bytes: number): void {
    this.disk.limit = bytes;
    this.refresh();
  }

  /** RabbitMQ's set_vm_memory_high_watermark: a new limit, looked at now (0: the alarm goes on). */
  setMemoryLimit(bytes: number): void {
    this.memoryLimit = bytes;
    this.refresh();
  }

  /** What the broker holds, by its own count (see the top of this file). */
  used(): number {
    let bytes = this.baseline;
    for (const link of this.links) bytes += link.ringBytes + link.queuedBytes + link.writer.overflowBytes + link.assemblingBytes;
    for (const conn of this.connections) bytes += conn.bufferedBytes();
    return bytes;
  }

  /** What this thread's V8 heap holds, by count: connections' (Connection.heapBytes) and inline shards' messages. */
  heapHeld(): number {
    let bytes = 0;
    for (const link of this.links) bytes += link.heapBytes;
    for (const conn of this.connections) bytes += conn.heapBytes();
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
    this.timer = setTimeout(this.refresh, CHECK_MS);
    this.timer.unref();
  }

  private decide(readDisk: boolean): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const wasOn = this.on;
    const heap = this.heapHeld();
    this.heapOn = heap > (this.heapOn ? this.heapBudget * 0.9 : this.heapBudget);
    this.memoryOn = this.heapOn || this.links.some((link) => link.heapAlarm) || this.used() > this.memoryLimit;
    // A failed store writes nothing more: blocking publishers would protect
    // nothing, and its segments (acked or not) would never free the disk.
    if (this.links.some((link) => link.storeFailed)) this.diskOn = false;
    else if (readDisk) this.diskOn = this.disk.read();
    if (wasOn && !this.on) this.unblockAll();
    // Blocked publishers cannot arm it: keep looking until the alarms clear.
    if (this.on) this.arm();
  }

  /**
   * RabbitMQ blocks a connection when it next publishes, and says so then,
   * naming the alarms in effect ("low on disk & memory"); one already blocked
   * hears nothing more until all of them end.
   */
  private block(conn: Connection): void {
    if (this.blocked.has(conn)) return;
    this.blocked.add(conn);
    conn.pause(PAUSE_ALARM);
    if (conn.capabilities.connectionBlocked && !this.demanded.has(conn)) {
      const reason = `low on ${[...(this.diskOn ? ['disk'] : []), ...(this.memoryOn ? ['memory'] : [])].join(' & ')}`;
      M.writeConnectionBlocked(conn.out, 0, { reason });
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
