/**
 * Permission regexes as RabbitMQ applies them (unanchored re:run, '' matching
 * nothing), for any queue name: a declare passes exactly when the configure
 * regex matches the name, and the refusal names it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, connect, refused } from '../helpers.js';
import { shortstrText } from './arbitraries.js';

/** A reply text as it goes on the wire: over 255 bytes, cut to 252 on a character boundary and '...' (as RabbitMQ). */
function replyText(text: string): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= 255) return text;
  let n = 252;
  while ((bytes[n] & 0xc0) === 0x80) n--;
  return `${bytes.subarray(0, n).toString()}...`;
}

const PATTERNS = ['', '.*', '^$', '^a', 'a', 'é', '\\d', '^[^x]*$', '^amq\\.', '😀'];

describe.each(MODES)('permission regexes: $name', ({ workers }) => {
  let running: RunningBroker;
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers });
    running.broker.putUser('p', { password: 'p' });
    running.broker.setPermissions('p', '/', { configure: '', write: '', read: '' });
  });
  afterAll(() => running.close());

  it('queue.declare passes exactly when the configure regex matches the name (unanchored; empty matches nothing)', async () => {
    const conn = await connect(`amqp://p:p@127.0.0.1:${running.port}`);
    try {
      await fc.assert(
        fc.asyncProperty(shortstrText().filter((n) => n !== '' && !n.startsWith('amq.')), fc.constantFrom(...PATTERNS), async (name, pattern) => {
          running.broker.setPermissions('p', '/', { configure: pattern, write: '', read: '' });
          const expected = pattern !== '' && new RegExp(pattern).test(name);
          const ch = await channel(conn);
          if (expected) {
            await ch.assertQueue(name, { autoDelete: true });
            await ch.close();
          } else {
            const got = await refused(ch.assertQueue(name));
            expect(got.code).toBe(403);
            expect(got.text).toBe(replyText(`ACCESS_REFUSED - access to queue '${name}' in vhost '/' refused for user 'p'`));
          }
        }),
        { numRuns: 60 },
      );
    } finally {
      await conn.close();
    }
  });
});
