/** Queue names placed on a chosen shard, for tests whose routing must cross shards. */
import { shardOf } from '../../dist/src/shard/placement.js';
import { uniq } from '../helpers.js';

/** A fresh queue name that lands on `shard` when the broker runs `shards` shards (inline: one). */
export function nameOnShard(prefix: string, shard: number, shards: number): string {
  const count = Math.max(1, shards);
  for (;;) {
    const name = uniq(prefix);
    if (shardOf('/', name, count) === shard % count) return name;
  }
}
