/**
 * The shards' answers to internal publishes sent in confirm mode (the
 * management API's publish). They come as a channel's do: per shard, in the
 * order of the publishes, as "the next N were kept, then the next M refused"
 * (an S2A CONFIRM entry under this object's channel ref).
 */
import type { ShardLink } from './shard-link.js';

export class InternalConfirms {
  /** per shard index: who waits for the answer to each publish written to it, oldest first */
  private readonly waiting = new Map<number, ((kept: boolean) => void)[]>();

  /** `ref`: a broker-wide id no channel has, written as the publishes' channel ref. */
  constructor(readonly ref: number) {}

  /** A publish was just written to `link`: resolves with whether its queues there kept it. */
  expect(link: ShardLink): Promise<boolean> {
    let queue = this.waiting.get(link.index);
    if (queue === undefined) this.waiting.set(link.index, (queue = []));
    const waiters = queue;
    return new Promise((resolve) => waiters.push(resolve));
  }

  confirmed(link: ShardLink, stored: number, refused: number): void {
    const queue = this.waiting.get(link.index);
    if (queue === undefined) return;
    for (const resolve of queue.splice(0, stored)) resolve(true);
    for (const resolve of queue.splice(0, refused)) resolve(false);
  }

  /** The shard stopped: nothing it had is safe. */
  failShard(link: ShardLink): void {
    for (const resolve of this.waiting.get(link.index)?.splice(0) ?? []) resolve(false);
  }
}
