/**
 * churn_rates (/api/overview) and the same counters on /api/nodes: AMQP
 * connections, channels and queues created and gone, counted exactly.
 */
import { describe, expect, it } from 'vitest';
import { MODES, connect, eventually, sleep, uniq } from '../helpers.js';
import { RawClient, frame, method, shortstr, u16, u8 } from '../wire/raw-client.js';
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

    it('a channel the server closed, whose connection then drops before its close-ok, counts once: in channel_closed and in the vhost message_stats', async () => {
      const before = await churn();
      // Publishes to no queue: counted by their channel alone (drop_unroutable), so the vhost's figure is the channel's.
      const published = async () => (await m.api('GET', '/api/vhosts/%2F')).body.message_stats?.drop_unroutable ?? 0;
      const publishedBefore = await published();
      const c = await RawClient.open(m.broker.port);
      await c.handshake();
      c.send(method(1, 20, 10, shortstr('')));
      await c.nextMethod(1, 20, 11);
      const body = Buffer.from('x');
      const size = Buffer.alloc(8);
      size.writeBigUInt64BE(1n);
      for (let i = 0; i < 3; i++) {
        c.send(method(1, 60, 40, u16(0), shortstr(''), shortstr(uniq('nowhere')), u8(0)), frame(2, 1, Buffer.concat([u16(60), u16(0), size, u16(0)])), frame(3, 1, body));
      }
      const tag = Buffer.alloc(8);
      tag.writeBigUInt64BE(99n);
      c.send(method(1, 60, 80, tag, u8(0))); // basic.ack of a tag never sent: 406, channel.close
      await c.nextMethod(1, 20, 40);
      c.socket.destroy();
      await eventually(async () => expect((await churn()).connection_closed - before.connection_closed).toBe(1));
      await sleep(100);
      const after = await churn();
      expect(after.channel_closed - before.channel_closed).toBe(1);
      expect((await published()) - publishedBefore).toBe(3);
    });
  });
}
