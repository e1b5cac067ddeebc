/**
 * Message expiry (x-message-ttl, the expiration property) and queue expiry
 * (x-expires). Messages expire at the head of their queue only, as in
 * RabbitMQ's classic queues: one shorter-lived behind a longer-lived one waits
 * its turn. So a queue's next deadline is its head's, and a shard's is the
 * earliest of its timed queues': no timer per message.
 */
import type { QueueConfig } from '../vhost/queue-arguments.js';
import { readU32LE } from '../protocol/uint32.js';
import { EXPIRATION_FLAG, propertyAt } from '../protocol/properties-validator.js';


/**
 * The expiration property as RabbitMQ reads it (Erlang's string:to_integer):
 * the ms, or the error term it prints after "invalid expiration '...': ".
 */
export function parseExpiration(text: string): number | string {
  const match = /^[+-]?\d+/.exec(text);
  if (match === null) return 'no_integer';
  if (match[0].length < text.length) return `{leftover_string,"${text.slice(match[0].length)}"}`;
  const ms = Number(match[0]);
  return ms < 0 ? `{value_negative,${match[0]}}` : ms;
}

/**
 * The expiration property of a well-formed property list at buf[start..], or
 * null when it has none. Walks the lengths of the properties before it; decodes
 * nothing else (so other shortstrs may hold any bytes, as RabbitMQ allows).
 */
export function expirationText(buf: Buffer, start: number): string | null {
  const p = propertyAt(buf, start, EXPIRATION_FLAG);
  return p < 0 ? null : buf.toString('utf8', p + 1, p + 1 + buf[p]);
}

/** The expiration property of a message block in ms, or -1 when it has none (the acceptor checked it). */
export function blockExpiration(block: Buffer): number {
  const routingKeyAt = 1 + block[0];
  const propsLenAt = routingKeyAt + 1 + block[routingKeyAt];
  if (readU32LE(block, propsLenAt) < 2 || (block[propsLenAt + 4] & (EXPIRATION_FLAG >> 8)) === 0) return -1;
  const value = parseExpiration(expirationText(block, propsLenAt + 4)!);
  return typeof value === 'number' ? value : -1;
}

/** When a message enqueued at `now` expires: the sooner of the queue's TTL and its own; 0 for never. */
export function expiresAt(config: QueueConfig | null, messageTtl: number, now: number): number {
  const queueTtl = config?.messageTtl ?? -1;
  const ttl = queueTtl < 0 ? messageTtl : messageTtl < 0 ? queueTtl : Math.min(queueTtl, messageTtl);
  // 0 is "never": a TTL of 0 gets the smallest time that is still a deadline
  return ttl < 0 ? 0 : Math.max(1, now + ttl);
}
