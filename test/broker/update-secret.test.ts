/**
 * connection.update-secret (RabbitMQ's extension for expiring credentials).
 * RabbitMQ's internal users have passwords that never expire, so RabbitMQ
 * accepts any new secret for them and keeps the connection (amqplib's own test
 * sends 'new secret' as guest and expects update-secret-ok); warren does the same.
 */
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, channel, collect, reason, uniq, useBroker } from '../helpers.js';

describe.each(MODES)('connection.update-secret: $name', ({ workers }) => {
  const server = useBroker(workers);

  async function roundTrip(conn: amqp.ChannelModel, count: number): Promise<void> {
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue(uniq('secret'), { exclusive: true });
    for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
    const got = await collect(ch, queue, count);
    expect(got.map((m) => m.content.toString())).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
    await ch.close();
  }

  for (const secret of ['guest', 'new secret', '', 'pâté ✓ 秘密']) {
    it(`accepts the secret ${JSON.stringify(secret)} and the connection keeps working`, async () => {
      const conn = await server.connect();
      let closedBy: unknown = null;
      conn.on('close', (err) => (closedBy = err ?? 'closed'));
      await roundTrip(conn, 20);
      await conn.updateSecret(Buffer.from(secret), 'token refreshed');
      await conn.updateSecret(Buffer.from(secret), '');
      await roundTrip(conn, 20);
      expect(closedBy).toBeNull();
      await conn.close();
    });
  }

  it('does not change the password that the next login needs', async () => {
    const conn = await server.connect();
    await conn.updateSecret(Buffer.from('rotated'), 'rotation');
    const err = await amqp.connect(server.url.replace('guest:guest@', 'guest:rotated@')).then(
      (c) => c.close().then(() => null),
      (e) => e,
    );
    expect(reason(err).text).toMatch(/^ACCESS_REFUSED - Login was refused/);
    const again = await server.connect();
    await roundTrip(again, 5);
    await again.close();
    await conn.close();
  });
});
