/** What the policy tests share: numbered messages, and the policy API. */
import type { ConfirmChannel } from 'amqplib';
import { expect } from 'vitest';
import { startBroker } from '../../dist/src/index.js';
import { confirmChannel, connect, drain, eventually } from '../helpers.js';
import { basic, type ManagedBroker } from '../management/support.js';

export const numbered = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

export async function publishAll(ch: ConfirmChannel, queue: string, messages: string[]): Promise<void> {
  for (const body of messages) ch.sendToQueue(queue, Buffer.from(body));
  await ch.waitForConfirms();
}

/** The bodies in the dead-letter queue once `count` arrived (they come back through the acceptor). */
export function deadLetters(ch: ConfirmChannel, dlq: string, count: number): Promise<string[]> {
  return eventually(async () => {
    const got = await ch.checkQueue(dlq);
    if (got.messageCount < count) throw new Error(`${got.messageCount} of ${count} dead letters`);
    return drain(ch, dlq);
  });
}

/** Sets and clears policies (or, with `base` /api/operator-policies, operator policies) through the management API. */
export function policyApi(m: ManagedBroker, vhost = '/', base = '/api/policies') {
  const path = (name: string) => `${base}/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`;
  return {
    async set(name: string, body: Record<string, unknown>) {
      const reply = await m.api('PUT', path(name), body);
      expect([201, 204], JSON.stringify(reply.body)).toContain(reply.status);
    },
    async clear(name: string) {
      expect((await m.api('DELETE', path(name))).status).toBe(204);
    },
  };
}

/**
 * A policy (at `base`: /api/policies or /api/operator-policies) that caps
 * queue 'kept' at 2 messages, across a restart with a data dir: 5 persistent
 * messages before it, 3 after, and the recovered queue keeps the last 2 of
 * each. `get` reads the restarted broker's API, for the caller's checks.
 */
export async function cappedAcrossRestart(dataDir: string, base: string, policy: Record<string, unknown>, check: (get: (path: string) => Promise<unknown>) => Promise<void>): Promise<void> {
  const options = { port: 0, host: '127.0.0.1', workers: 0, dataDir, managementPort: 0 };
  const headers = { authorization: basic('guest', 'guest'), 'content-type': 'application/json' };
  const first = await startBroker(options);
  const reply = await fetch(`http://127.0.0.1:${first.managementPort}${base}/%2F/cap`, { method: 'PUT', headers, body: JSON.stringify(policy) });
  expect(reply.status).toBe(201);
  const conn = await connect(first.url);
  const ch = await confirmChannel(conn);
  await ch.assertQueue('kept', { durable: true });
  for (const body of numbered('m', 5)) ch.sendToQueue('kept', Buffer.from(body), { persistent: true });
  await ch.waitForConfirms();
  await conn.close();
  await first.close();

  const second = await startBroker(options);
  try {
    await check(async (path) => (await fetch(`http://127.0.0.1:${second.managementPort}${path}`, { headers })).json());
    const conn2 = await connect(second.url);
    const ch2 = await confirmChannel(conn2);
    expect(await drain(ch2, 'kept')).toEqual(['m3', 'm4']);
    for (const body of numbered('n', 3)) ch2.sendToQueue('kept', Buffer.from(body), { persistent: true });
    await ch2.waitForConfirms();
    expect(await drain(ch2, 'kept')).toEqual(['n1', 'n2']);
    await conn2.close();
  } finally {
    await second.close();
  }
}
