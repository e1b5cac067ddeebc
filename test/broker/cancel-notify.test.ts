/**
 * Consumer cancel notification (RabbitMQ's consumer_cancel_notify): a queue
 * deleted under consumers of other channels and connections sends each of
 * them basic.cancel; clients that did not announce the capability get nothing.
 */
import { describe, expect, it } from 'vitest';
import type { Channel } from 'amqplib';
import { MODES, type Inbox, bodies, channel, eventually, subscribe, useBroker } from '../helpers.js';
import { FRAME_METHOD, RawClient, method, shortstr, u16, u8, emptyTable } from '../wire/raw-client.js';
import { nameOnShard } from './on-shard.js';

for (const mode of MODES) {
  describe(`consumer cancel notification, ${mode.name}`, () => {
    const server = useBroker(mode.workers);

    it('queues on different shards deleted from another connection cancel every consumer on every channel; their channels go on', async () => {
      const queues = [nameOnShard('cn-a', 0, mode.workers), nameOnShard('cn-b', 1, mode.workers)];
      const conns = [await server.connect(), await server.connect()];
      const admin = await channel(await server.connect());
      for (const q of queues) await admin.assertQueue(q);
      // Two consumers per queue, on channels of two connections; one of them acks.
      const inboxes: { queue: string; ch: Channel; inbox: Inbox }[] = [];
      for (const q of queues) {
        for (const conn of conns) inboxes.push({ queue: q, ch: await channel(conn), inbox: undefined as unknown as Inbox });
      }
      for (const [i, entry] of inboxes.entries()) entry.inbox = await subscribe(entry.ch, entry.queue, { noAck: i % 2 === 0 });
      const N = 40;
      for (const q of queues) for (let i = 0; i < N; i++) admin.sendToQueue(q, Buffer.from(`${q}#${i}`));
      for (const q of queues) {
        await eventually(() => {
          const got = inboxes.filter((e) => e.queue === q).flatMap((e) => bodies(e.inbox.messages));
          expect(got.sort()).toEqual(Array.from({ length: N }, (_, i) => `${q}#${i}`).sort());
        });
      }
      for (const q of queues) expect(await admin.deleteQueue(q)).toEqual({ messageCount: 0 });
      await eventually(() => expect(inboxes.map((e) => e.inbox.cancelled)).toEqual(inboxes.map(() => true)));
      // Unacked deliveries of a deleted queue may still be acked (RabbitMQ ignores them), and each channel goes on.
      for (const [i, { ch, inbox }] of inboxes.entries()) if (i % 2 === 1) for (const msg of inbox.messages) ch.ack(msg);
      for (const [i, { ch }] of inboxes.entries()) {
        const q = nameOnShard(`cn-after-${i}`, i, mode.workers);
        await ch.assertQueue(q, { autoDelete: true });
        const again = await subscribe(ch, q);
        ch.sendToQueue(q, Buffer.from(`after-${i}`));
        expect(bodies(await again.waitFor(1))).toEqual([`after-${i}`]);
      }
      // A queue of the same name declared again gets no ghost consumers from before.
      await admin.assertQueue(queues[0]);
      expect((await admin.checkQueue(queues[0])).consumerCount).toBe(0);
      await admin.deleteQueue(queues[0]);
    });

    it('a queue deleted from another channel of the same connection cancels its consumer there', async () => {
      const conn = await server.connect();
      const consumerCh = await channel(conn);
      const q = nameOnShard('cn-same', 1, mode.workers);
      await consumerCh.assertQueue(q);
      const inbox = await subscribe(consumerCh, q, { noAck: false });
      consumerCh.sendToQueue(q, Buffer.from('one'));
      await inbox.waitFor(1);
      await (await channel(conn)).deleteQueue(q);
      await eventually(() => expect(inbox.cancelled).toBe(true), 3000);
      consumerCh.ack(inbox.messages[0]);
      await consumerCh.checkExchange('amq.direct'); // the ack was no error: the channel is open
    });

    it("a queue deleted on its own consumer's channel: basic.cancel comes with queue.delete-ok, so closing the channel on the cancel loses no reply", async () => {
      // amqplib's own suite does this: a channel closed on the cancel rejects a delete-ok still to come.
      const conn = await server.connect();
      for (let i = 0; i < 12; i++) {
        const ch = await channel(conn);
        const q = nameOnShard(`cn-own-${i}`, i, mode.workers);
        await ch.assertQueue(q);
        let deleted: Promise<unknown> | undefined;
        await new Promise<void>((resolve, reject) => {
          void ch
            .consume(q, (msg) => (msg === null ? resolve() : reject(new Error('no message was sent'))))
            .then(() => {
              deleted = ch.deleteQueue(q);
            }, reject);
        });
        const closed = ch.close();
        await expect(deleted).resolves.toEqual({ messageCount: 0 });
        await closed;
      }
    });

    it('a client without the capability gets no basic.cancel; its channel stays open', async () => {
      const q = nameOnShard('cn-raw', 0, mode.workers);
      const admin = await channel(await server.connect());
      await admin.assertQueue(q);
      const raw = await RawClient.open(Number(new URL(server.url).port));
      await raw.handshake(); // its client-properties are empty: no consumer_cancel_notify
      raw.send(method(1, 20, 10, shortstr('')));
      expect((await raw.readFrame())!.methodId).toBe(11);
      // basic.consume q, tag 'raw', no-ack
      raw.send(method(1, 60, 20, u16(0), shortstr(q), shortstr('raw'), u8(2), emptyTable()));
      const ok = (await raw.readFrame())!;
      expect([ok.classId, ok.methodId]).toEqual([60, 21]);
      await admin.deleteQueue(q);
      // exchange.declare passive amq.direct: its -ok must be the next frame, with no basic.cancel before it
      raw.send(method(1, 40, 10, u16(0), shortstr('amq.direct'), shortstr('direct'), u8(1), emptyTable()));
      const next = (await raw.readFrame())!;
      expect([next.type, next.channel, next.classId, next.methodId]).toEqual([FRAME_METHOD, 1, 40, 11]);
      raw.socket.destroy();
    });
  });
}
