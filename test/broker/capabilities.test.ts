/**
 * The server's capabilities table announces exactly what warren implements
 * (each has its own tests: confirms, e2e bindings, nack, cancel notification,
 * connection.blocked, authentication_failure_close, per-consumer qos, direct
 * reply-to, consumer priorities in consumer-priority.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { MODES, useBroker } from '../helpers.js';

describe.each(MODES)('capabilities: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('are exactly the implemented ones', async () => {
    const conn = await server.connect();
    expect((conn.connection as any).serverProperties.capabilities).toEqual({
      publisher_confirms: true,
      exchange_exchange_bindings: true,
      'basic.nack': true,
      consumer_cancel_notify: true,
      'connection.blocked': true,
      authentication_failure_close: true,
      per_consumer_qos: true,
      direct_reply_to: true,
      consumer_priorities: true,
    });
  });
});
