/** Which shard owns a queue: a stable FNV-1a hash of (vhost, queue name). */
export function shardOf(vhost: string, queue: string, shards: number): number {
  let hash = 0x811c9dc5;
  const key = `${vhost}\u0000${queue}`;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}
