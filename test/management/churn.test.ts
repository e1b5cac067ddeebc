/**
 * churn_rates (/api/overview) and the same counters on /api/nodes: AMQP
 * connections, channels and queues created and gone, counted exactly.
 */
import { describe, expect, it } from 'vitest';
import { MODES, connect, eventually, uniq } from '../helpers.js';
import { managedBroker } from './support.js';

const KEYS = ['connection_created', 'connection_closed', 'channel_created', 'channel_closed', 'queue_declared', 'queue_created', 'queue_deleted'];

for (const mode of MODES) {
  describe(`management API churn counters (${mode.name})`, () => {
    const m = managedBroker(mode.workers);
    const churn = async () => (await m.api('GET', '/api/overview')).body.churn_rates;

    it('counts connections, channels and queues opened, declared, created, closed and deleted', async () => {
      const before = await churn();
      const [a, b] = [uniq('churn'), uniq('churn')];
      const conns = [await connect(m.broker.url), await connect(m.broker.url)];
      const ch1 = await conns[0].createChannel();
      const ch2 = await conns[0].createChannel();
      const ch3 = await conns[1].createChannel();
      await ch1.assertQueue(a, { durable: false }); // declared, created
      await ch2.assertQueue(a, { durable: false }); // declared
      await ch3.checkQueue(a); // declared (passive)
      await ch3.assertQueue(b, { durable: false }); // declared, created
      await ch1.deleteQueue(b); // deleted
      await ch2.close();
      for (const conn of conns) await conn.close();
      const expected = { connection_created: 2, connection_closed: 2, channel_created: 3, channel_closed: 3, queue_declared: 4, queue_created: 2, queue_deleted: 1 };
      await eventually(async () => {
        const after = await churn();
        expect(Object.fromEntries(KEYS.map((k) => [k, after[k] - before[k]]))).toEqual(expected);
      });
      const after = await churn();
      for (const key of KEYS) expect(typeof after[`${key}_details`].rate).toBe('number');
      const [node] = (await m.api('GET', '/api/nodes')).body;
      for (const key of KEYS) expect(node[key]).toBe(after[key]);
    });
  });
}
