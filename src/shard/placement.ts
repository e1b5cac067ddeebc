/**
 * Where a queue lives. A queue hashes to one of PARTITIONS partitions, a number
 * that never changes, and the partitions are dealt out to the shards when the
 * broker starts. So a queue's partition (and its directory on disk, see
 * store/queue-dir.ts) is the same on a 2-core and a 16-core machine; only which
 * shard serves it depends on the core count.
 */

/** Fixed forever: changing it would move every queue's partition. */
export const PARTITIONS = 256;

/** The queue's partition: a stable hash of (vhost, queue name); test/shard/placement.test.ts pins values. */
export function partitionOf(vhost: string, queue: string): number {
  // FNV-1a over the UTF-16 code units, then murmur3's finalizer so that the
  // low bits (the partition) depend on every character.
  let hash = 0x811c9dc5;
  const key = `${vhost}\u0000${queue}`;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) % PARTITIONS;
}

/** The shard serving a partition: round-robin, so shard counts differ by at most one partition. */
export function shardOfPartition(partition: number, shards: number): number {
  return partition % shards;
}

/** Which shard owns a queue when the broker runs `shards` shards. */
export function shardOf(vhost: string, queue: string, shards: number): number {
  return shardOfPartition(partitionOf(vhost, queue), shards);
}
