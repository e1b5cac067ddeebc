/**
 * Dead messages on their way out of a shard, a slice a turn.
 *
 * One record can kill a whole queue: a nack or reject of every unacked message
 * (multiple, requeue=false) comes in one SETTLE record. Rewriting and writing
 * 500k dead letters in that turn held the shard, and the acceptor routing them,
 * for 10-13 s in which no other client was answered. So a shard writes
 * DEAD_LETTER_SLICE of them a turn, and none while its output ring is full; the
 * others wait here, in order. Those a length limit killed (maxlen) come one or
 * a few per publish: each is written in the turn it died in, on top of the
 * slice, or a publisher into a full queue would outrun its dead letters. Not
 * one per record handled: the dead letters routed back into this shard are
 * records too, and the backlog in front of every other record grew by a slice
 * a turn.
 *
 * A fence (ShardLink.whenHandled) answered while some wait would pass them:
 * its answer is held until they are out, as a basic.get after a reject counts
 * on finding the dead letter in its queue.
 */
import { Deque } from './deque.js';
import type { DeathReason } from './dead-letter.js';
import type { QueueConfig } from '../vhost/queue-arguments.js';

/** Dead letters written in a turn, besides the maxlen ones that died in it. */
export const DEAD_LETTER_SLICE = 256;
/** What one waiting dead letter costs in the V8 heap besides its block (measured: the object and its slot). */
const WAITING_HEAP = 120;

export interface DeadMessage {
  queueId: number;
  queue: string;
  /** its queue's arguments when it died: where it goes */
  config: QueueConfig;
  block: Buffer;
  reason: DeathReason;
  /** when it died (ms since the epoch): its x-death time */
  at: number;
}

export class DeadLetterOutbox {
  private readonly waiting = new Deque<DeadMessage>();
  private readonly fences: number[] = [];
  /** the waiting messages' block bytes */
  bytes = 0;
  /** maxlen deaths since the last drain */
  private limitDeaths = 0;

  get length(): number {
    return this.waiting.length;
  }

  get heapBytes(): number {
    return this.waiting.length * WAITING_HEAP;
  }

  push(dead: DeadMessage): void {
    this.waiting.push(dead);
    this.bytes += dead.block.length;
    if (dead.reason === 'maxlen') this.limitDeaths++;
  }

  /**
   * Hands `write` the oldest waiting dead letters, a turn's worth (`budget`) at
   * most and none once `full()`; then, with none left, the fences held. Returns how many it wrote.
   */
  drain(full: () => boolean, write: (dead: DeadMessage) => void, answer: (fence: number) => void, budget = DEAD_LETTER_SLICE + this.limitDeaths): number {
    this.limitDeaths = 0;
    if (this.waiting.length === 0 && this.fences.length === 0) return 0;
    let written = 0;
    while (written < budget && this.waiting.length > 0 && !full()) {
      const dead = this.waiting.shift()!;
      this.bytes -= dead.block.length;
      write(dead);
      written++;
    }
    if (this.waiting.length > 0) return written;
    if (written > 0) this.waiting.clear(); // gives back what a burst grew it to
    for (const fence of this.fences.splice(0)) answer(fence);
    return written;
  }

  /** A fence request: answered now when nothing waits, else once all that waits is written. */
  fence(requestId: number, answer: (fence: number) => void): void {
    if (this.waiting.length === 0) answer(requestId);
    else this.fences.push(requestId);
  }
}
