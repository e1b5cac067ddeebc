/**
 * Dead messages on their way out of a shard, a slice a turn.
 *
 * One record can kill a whole queue: a nack or reject of every unacked message
 * (multiple, requeue=false) comes in one SETTLE record. Rewriting and writing
 * 500k dead letters in that turn held the shard, and the acceptor routing them,
 * for 10-13 s in which no other client was answered. So a shard writes
 * DEAD_LETTER_SLICE of them a turn, and none while its output ring is full; the
 * others wait here, in order. Into a full queue, each publish kills its head
 * (maxlen): as many of those as the turn took publishes are written on top of
 * the slice, or publishers would outrun their dead letters; a policy that
 * lowers the limit far below the queue's length, or a requeue over it, goes a
 * slice a turn like a reject. Not one more per record handled: the dead
 * letters routed back into this shard are records too, and the backlog in
 * front of every other record grew by a slice a turn.
 *
 * A fence (ShardLink.whenHandled) answered while some wait would pass them:
 * its answer is held until they are out, as a basic.get after a reject counts
 * on finding the dead letter in its queue.
 */
import { Deque } from './deque.js';
import type { DeathReason } from './dead-letter.js';
import type { QueueConfig } from '../vhost/queue-arguments.js';

/** Dead letters written in a turn, besides maxlen ones as many as its publishes. */
export const DEAD_LETTER_SLICE = 256;
/** What one waiting dead letter costs in the V8 heap (measured: 96 bytes its object and slot, 99 its block's Buffer object). */
const WAITING_HEAP = 200;

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
   * At a turn's end that took `published` queue entries in publishes: hands
   * `write` the oldest waiting dead letters, a turn's worth at most and none
   * once `full()`; then, with none left, the fences held. Returns how many it wrote.
   */
  drain(published: number, full: () => boolean, write: (dead: DeadMessage) => void, answer: (fence: number) => void): number {
    const budget = DEAD_LETTER_SLICE + Math.min(this.limitDeaths, published);
    this.limitDeaths = 0;
    if (this.waiting.length === 0 && this.fences.length === 0) return 0;
    return this.write(budget, full, write, answer);
  }

  /** Hands `write` every waiting dead letter, then answers the fences held. */
  drainAll(write: (dead: DeadMessage) => void, answer: (fence: number) => void): void {
    this.write(Infinity, () => false, write, answer);
  }

  private write(budget: number, full: () => boolean, write: (dead: DeadMessage) => void, answer: (fence: number) => void): number {
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
