/**
 * A durable queue's place on disk: a directory named by the SHA-1 of its vhost
 * and name (as LavinMQ names queue directories), so it is found again from the
 * definitions whatever the shard count, and any name (0-255 bytes, any UTF-8)
 * makes a safe file name.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export function queueDirName(vhost: string, queue: string): string {
  return createHash('sha1').update(vhost).update('\u0000').update(queue).digest('hex');
}

/** `<dataDir>/queues/<sha1>`: where the data dir keeps the queue's segments. */
export function queueDir(dataDir: string, vhost: string, queue: string): string {
  return join(dataDir, 'queues', queueDirName(vhost, queue));
}
