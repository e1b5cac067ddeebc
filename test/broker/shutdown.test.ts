/**
 * broker.close() (and SIGTERM/SIGINT in the CLI: test/cli.test.ts) tells every
 * client connection.close 320 CONNECTION_FORCED, waits up to a second for
 * close-ok, then drops what is left and ends the shards.
 */
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, nextEvent, start, subscribe, uniq } from '../helpers.js';
import { RawClient } from '../wire/raw-client.js';

for (const mode of MODES) {
  describe(`shutdown: ${mode.name}`, () => {
    it('amqplib clients get connection.close 320 "broker shutdown", not ECONNRESET', async () => {
      const broker = await start(mode.workers);
      const clients = await Promise.all([connect(broker.url), connect(broker.url)]);
      const closes = clients.map((c) => nextEvent<any>(c, 'close'));
      // One of them is busy consuming when the broker goes.
      const ch = await channel(clients[0]);
      const queue = uniq('shutdown');
      await ch.assertQueue(queue);
      await subscribe(ch, queue);
      for (let i = 0; i < 100; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));

      const started = Date.now();
      await broker.close();
      const took = Date.now() - started;
      // amqplib reports 320 on 'close' only (it does not count CONNECTION_FORCED as an 'error').
      for (const closed of closes) {
        const err = await closed;
        expect(err?.code).toBe(320);
        expect(err.message).toContain('CONNECTION_FORCED - broker shutdown');
      }
      // amqplib answers close-ok at once, so close() need not wait out its grace period.
      console.log(`close() with 2 amqplib clients took ${took} ms`);
      expect(took).toBeLessThan(900);
    });

    it('a client that never answers close-ok is dropped after about a second; one mid-handshake at once', async () => {
      const broker = await start(mode.workers);
      const silent = await RawClient.open(broker.port);
      await silent.handshake();
      const handshaking = await RawClient.open(broker.port);
      handshaking.send(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
      await handshaking.expectMethod(10, 10); // connection.start, then nothing from us

      const started = Date.now();
      const closing = broker.close();
      const f = await silent.readFrame(2000);
      expect([f?.classId, f?.methodId, f?.payload.readUInt16BE(4)]).toEqual([10, 50, 320]);
      await handshaking.waitClosed(500);
      await closing;
      const took = Date.now() - started;
      await silent.waitClosed(500);
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(2000);
    });
  });
}
