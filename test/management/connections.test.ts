/** /api/connections, /api/channels, /api/consumers: what amqplib opened, and closing a connection with 320. */
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, nextEvent, uniq } from '../helpers.js';
import { enc, managedBroker } from './support.js';

for (const mode of MODES) {
  describe(`management API: connections, channels, consumers (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('lists connections with user, vhost and client_properties, their channels and consumers', async () => {
      const conn = await connect(m.broker.url);
      try {
        const ch1 = await channel(conn);
        const ch2 = await conn.createConfirmChannel();
        await ch1.prefetch(7);
        const q = uniq('c');
        await ch1.assertQueue(q, { durable: false });
        const { consumerTag } = await ch1.consume(q, () => {}, { noAck: false, arguments: { 'x-priority': 5, 'x-other': 'y' } });
        await ch2.checkQueue(q);

        const conns = (await m.api('GET', '/api/connections')).body;
        expect(conns).toHaveLength(1);
        const [c] = conns;
        expect(c).toMatchObject({ user: 'guest', vhost: '/', state: 'running', protocol: 'AMQP 0-9-1', channels: 2, peer_host: '127.0.0.1', port: m.broker.port, ssl: false });
        expect(c.client_properties).toMatchObject({ product: 'amqplib', capabilities: { consumer_cancel_notify: true } });
        expect(c.name).toBe(`127.0.0.1:${c.peer_port} -> 127.0.0.1:${m.broker.port}`);
        expect((await m.api('GET', `/api/connections/${enc(c.name)}`)).body).toMatchObject({ name: c.name, channels: 2 });
        expect((await m.api('GET', '/api/vhosts/%2F/connections')).body).toHaveLength(1);

        const channels = (await m.api('GET', '/api/channels')).body;
        expect(channels.map((x: any) => [x.number, x.consumer_count, x.prefetch_count, x.confirm])).toEqual([[1, 1, 7, false], [2, 0, 0, true]]);
        expect(channels[0]).toMatchObject({ name: `${c.name} (1)`, vhost: '/', user: 'guest', connection_details: { name: c.name } });
        expect((await m.api('GET', `/api/channels/${enc(`${c.name} (2)`)}`)).body).toMatchObject({ number: 2, confirm: true });
        expect((await m.api('GET', `/api/connections/${enc(c.name)}/channels`)).body).toHaveLength(2);

        const consumers = (await m.api('GET', '/api/consumers')).body;
        expect(consumers).toEqual([
          expect.objectContaining({ consumer_tag: consumerTag, queue: { name: q, vhost: '/' }, ack_required: true, exclusive: false, prefetch_count: 7, channel_details: expect.objectContaining({ number: 1, connection_name: c.name }),
            // its consume arguments, as RabbitMQ 3.10.8 shows them
            arguments: { 'x-priority': 5, 'x-other': 'y' } }),
        ]);
        expect((await m.api('GET', '/api/consumers/%2F')).body).toHaveLength(1);
        const { queue: mine } = await ch2.assertQueue('', { exclusive: true });
        expect((await m.api('GET', `/api/queues/%2F/${enc(mine)}`)).body).toMatchObject({ exclusive: true, owner_pid_details: { name: c.name, peer_port: c.peer_port } });
        const queue = (await m.api('GET', '/api/queues/%2F/' + enc(q))).body;
        expect(queue.consumers).toBe(1);
        expect(queue.consumer_details).toEqual(consumers);
      } finally {
        await conn.close();
      }
      expect((await m.api('GET', '/api/connections')).body).toEqual([]);
      expect((await m.api('GET', '/api/consumers')).body).toEqual([]);
    });

    it('DELETE closes the connection with 320 and the X-Reason text; other connections go on', async () => {
      const victim = await connect(m.broker.url);
      const bystander = await connect(m.broker.url);
      try {
        const before = (await m.api('GET', '/api/connections')).body;
        const local = (victim as any).connection.stream.localPort;
        const target = before.find((c: any) => c.peer_port === local);
        const closed = nextEvent<any>(victim, 'close');
        const reply = await m.api('DELETE', `/api/connections/${enc(target.name)}`, undefined, { headers: { 'X-Reason': 'load test over' } });
        expect(reply.status).toBe(204);
        const err = await closed;
        expect(err.code).toBe(320);
        expect(err.message).toContain('CONNECTION_FORCED - load test over');
        const ch = await channel(bystander);
        expect(await ch.checkQueue((await ch.assertQueue('', { exclusive: true })).queue)).toBeTruthy();
        const after = (await m.api('GET', '/api/connections')).body;
        expect(after.map((c: any) => c.name)).not.toContain(target.name);
        expect((await m.api('DELETE', `/api/connections/${enc(target.name)}`)).status).toBe(404);
      } finally {
        await bystander.close();
      }
    });

    it('without X-Reason the text is RabbitMQ\'s "Closed via management plugin"', async () => {
      const conn = await connect(m.broker.url);
      const [target] = (await m.api('GET', '/api/connections')).body;
      const closed = nextEvent<any>(conn, 'close');
      expect((await m.api('DELETE', `/api/connections/${enc(target.name)}`)).status).toBe(204);
      expect((await closed).message).toContain('CONNECTION_FORCED - Closed via management plugin');
    });
  });
}
