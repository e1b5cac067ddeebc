/** What the policy tests share: numbered messages, and the policy API. */
import type { ConfirmChannel } from 'amqplib';
import { expect } from 'vitest';
import { drain, eventually } from '../helpers.js';
import type { ManagedBroker } from '../management/support.js';

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
