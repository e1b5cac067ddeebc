/**
 * Priority queues (x-max-priority), as RabbitMQ's classic ones: one lane per
 * priority 0..max, the highest non-empty lane first, first in first out within
 * a lane. A message's priority is its priority property (absent: 0), capped at
 * the queue's maximum. Each lane keeps requeued entries before its never
 * delivered ones, sorted by id, as ShardQueue does for a plain queue.
 */
import { Deque } from './deque.js';
import type { QueueEntry } from './queue.js';
import { readU32LE } from '../protocol/uint32.js';
import { PRIORITY_FLAG, propertyAt } from '../protocol/properties-validator.js';

/** The priority property of a message block (0 when absent). */
export function blockPriority(block: Buffer): number {
  const routingKeyAt = 1 + block[0];
  const propsLenAt = routingKeyAt + 1 + block[routingKeyAt];
  if (readU32LE(block, propsLenAt) < 2) return 0;
  const p = propertyAt(block, propsLenAt + 4, PRIORITY_FLAG);
  return p < 0 ? 0 : block[p];
}

class Lane {
  readonly ready = new Deque<QueueEntry>();
  requeued = new Deque<QueueEntry>();

  get length(): number {
    return this.ready.length + this.requeued.length;
  }
}

export class PriorityLanes {
  private readonly lanes: (Lane | undefined)[];
  /** the highest lane that may hold entries */
  private top = 0;
  length = 0;

  constructor(private readonly max: number) {
    this.lanes = new Array(max + 1);
  }

  push(entry: QueueEntry): void {
    this.lane(entry).ready.push(entry);
  }

  shift(): QueueEntry | undefined {
    const lane = this.highest();
    if (lane === undefined) return undefined;
    this.length--;
    return lane.requeued.length > 0 ? lane.requeued.shift() : lane.ready.shift();
  }

  peek(): QueueEntry | undefined {
    const lane = this.highest();
    if (lane === undefined) return undefined;
    return lane.requeued.length > 0 ? lane.requeued.at(0) : lane.ready.at(0);
  }

  /** Whether a message with this block would be the next one out: nothing waits in its lane or above. */
  wouldLead(block: Buffer): boolean {
    for (let p = Math.min(blockPriority(block), this.max); p <= this.top; p++) if ((this.lanes[p]?.length ?? 0) > 0) return false;
    return true;
  }

  /** Calls `fn` on every entry, lane by lane. */
  forEach(fn: (entry: QueueEntry) => void): void {
    for (const lane of this.lanes) {
      if (lane === undefined) continue;
      lane.requeued.forEach(fn);
      lane.ready.forEach(fn);
    }
  }

  /** Puts entries back at their original place in their lanes (rare: a sort and a merge per lane). */
  requeue(batch: QueueEntry[]): void {
    const byLane = new Map<Lane, QueueEntry[]>();
    for (const entry of batch) {
      const lane = this.lane(entry);
      let entries = byLane.get(lane);
      if (entries === undefined) byLane.set(lane, (entries = []));
      entries.push(entry);
    }
    for (const [lane, entries] of byLane) {
      entries.sort((a, b) => a.id - b.id);
      const merged = new Deque<QueueEntry>();
      let i = 0;
      for (let e = lane.requeued.shift(); e !== undefined; e = lane.requeued.shift()) {
        while (i < entries.length && entries[i].id < e.id) merged.push(entries[i++]);
        merged.push(e);
      }
      while (i < entries.length) merged.push(entries[i++]);
      lane.requeued = merged;
    }
  }

  /**
   * Sorts entries rejected together the way RabbitMQ 3.10 dead-letters them:
   * the highest lane first, in the order given within a lane (stable sort).
   */
  rejectionOrder(entries: QueueEntry[]): QueueEntry[] {
    return entries.sort((a, b) => this.priorityOf(b) - this.priorityOf(a));
  }

  private priorityOf(entry: QueueEntry): number {
    return Math.min(blockPriority(entry.message.block), this.max);
  }

  /** The lane of an entry's priority (created on first use), counting the entry in. */
  private lane(entry: QueueEntry): Lane {
    const priority = this.priorityOf(entry);
    this.length++;
    if (priority > this.top) this.top = priority;
    return (this.lanes[priority] ??= new Lane());
  }

  private highest(): Lane | undefined {
    for (; this.top >= 0; this.top--) {
      const lane = this.lanes[this.top];
      if (lane !== undefined && lane.length > 0) return lane;
      if (this.top === 0) return undefined;
    }
    return undefined;
  }
}
