/**
 * The management API's message_stats counts, exactly: numbered messages
 * published, got (ack and no-ack, and from an empty queue), consumed (ack and
 * no-ack), requeued and redelivered, unroutable with and without mandatory,
 * in a vhost of their own, so the vhost's totals are exact too. RabbitMQ's
 * keys: queue publish / deliver / deliver_no_ack / get / get_no_ack /
 * get_empty / deliver_get / redeliver / ack; exchange publish_in /
 * publish_out; channel publish / confirm / return_unroutable /
 * drop_unroutable and the consuming ones; each with *_details.rate.
 */
import { describe, expect, it } from 'vitest';
import type { ConsumeMessage, GetMessage } from 'amqplib';
import { MODES, channel, collect, connect, eventually, sleep, uniq } from '../helpers.js';
import { RawClient, frame, method, shortstr, u16, u8 } from '../wire/raw-client.js';
import { enc, managedBroker } from './support.js';

const N = 7;
const CH = 1;

/** basic.publish of `body` to the default exchange, with its header and body frames. */
function publish(queue: string, body: Buffer): Buffer {
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(body.length));
  return Buffer.concat([
    method(CH, 60, 40, u16(0), shortstr(''), shortstr(queue), u8(0)),
    frame(2, CH, Buffer.concat([u16(60), u16(0), size, u16(0)])),
    frame(3, CH, body),
  ]);
}

/** /metrics' rabbitmq_global_messages_*_total values, by the name between those. */
async function globalCounters(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const match of text.matchAll(/^rabbitmq_global_messages_(\w+)_total\{protocol="amqp091"\} (\d+)$/gm)) out[match[1]] = Number(match[2]);
  return out;
}

/** The next method frame on the channel, which must be class.method. */
const expectMethod = async (c: RawClient, classId: number, methodId: number): Promise<void> => void (await c.nextMethod(CH, classId, methodId));
const numbers = (messages: { content: Buffer }[]) => messages.map((m) => Number(m.content.toString().split(' ')[1])).sort((a, b) => a - b);

for (const mode of MODES) {
  describe(`management API message_stats counts (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('counts publishes, gets, deliveries, acks, redeliveries and unroutables per queue, exchange, channel and vhost', async () => {
      const vhost = uniq('stats-vhost');
      expect([201, 204]).toContain((await m.api('PUT', `/api/vhosts/${enc(vhost)}`, {})).status);
      expect([201, 204]).toContain((await m.api('PUT', `/api/permissions/${enc(vhost)}/guest`, { configure: '.*', write: '.*', read: '.*' })).status);
      const url = `${m.broker.url}/${enc(vhost)}`;
      const [q1, q2, x] = ['q1', 'q2', 'x'];
      const overviewBefore = (await m.api('GET', '/api/overview')).body.message_stats;
      const metricsBefore = await globalCounters(m.base);

      const publisher = await connect(url);
      const consumer = await connect(url);
      try {
        const pub = await publisher.createConfirmChannel();
        await pub.assertExchange(x, 'topic', { durable: false });
        for (const q of [q1, q2]) {
          await pub.assertQueue(q, { durable: false });
          await pub.bindQueue(q, x, 'k');
        }
        const returned: number[] = [];
        pub.on('return', (msg) => returned.push(Number(msg.content.toString().split(' ')[1])));
        // A first sample of the exchange's totals, then the publishes a rate apart.
        const sampled = Date.now(); // before the server's first sample, so the test's interval holds the server's
        await m.api('GET', `/api/exchanges/${enc(vhost)}/${x}`);
        await sleep(200);
        for (let i = 0; i < N; i++) pub.publish(x, 'k', Buffer.from(`routed ${i}`));
        for (let i = 0; i < 2; i++) pub.publish(x, 'nowhere', Buffer.from(`dropped ${i}`));
        for (let i = 0; i < 3; i++) pub.publish(x, 'nowhere', Buffer.from(`returned ${i}`), { mandatory: true });
        await pub.waitForConfirms();

        const ch = await channel(consumer);
        // q1: three gets to ack (the second is nacked back and comes again redelivered), two no-ack gets.
        const got: GetMessage[] = [];
        for (let i = 0; i < 3; i++) got.push((await ch.get(q1, { noAck: false })) as GetMessage);
        for (let i = 0; i < 2; i++) got.push((await ch.get(q1, { noAck: true })) as GetMessage);
        expect(numbers(got)).toEqual([0, 1, 2, 3, 4]);
        ch.ack(got[0]);
        ch.nack(got[1], false, true);
        ch.ack(got[2]);
        // then a consumer that acks takes the rest: the requeued one first, redelivered
        const rest = await collect(ch, q1, 3, { noAck: false });
        expect(rest.map((msg) => [msg.content.toString(), msg.fields.redelivered])).toEqual([['routed 1', true], ['routed 5', false], ['routed 6', false]]);
        for (const msg of rest) ch.ack(msg);
        await ch.cancel(rest[0].fields.consumerTag);
        expect(await ch.get(q1, { noAck: false })).toBe(false);
        // q2: a no-ack consumer takes all
        const all: ConsumeMessage[] = await collect(ch, q2, N, { noAck: true });
        expect(numbers(all)).toEqual([0, 1, 2, 3, 4, 5, 6]);
        await ch.checkQueue(q1); // a round trip: the acks are in
        expect(returned.sort()).toEqual([0, 1, 2]);

        const stats = async (path: string) => (await m.api('GET', path)).body.message_stats;
        const q1Stats = await stats(`/api/queues/${enc(vhost)}/${q1}`);
        expect(q1Stats).toMatchObject({ publish: N, get: 3, get_no_ack: 2, get_empty: 1, deliver: 3, deliver_no_ack: 0, deliver_get: 8, redeliver: 1, ack: 5 });
        const q2Stats = await stats(`/api/queues/${enc(vhost)}/${q2}`);
        expect(q2Stats).toMatchObject({ publish: N, get: 0, get_no_ack: 0, get_empty: 0, deliver: 0, deliver_no_ack: N, deliver_get: N, redeliver: 0, ack: 0 });
        for (const key of ['publish', 'deliver', 'deliver_no_ack', 'get', 'get_no_ack', 'get_empty', 'deliver_get', 'redeliver', 'ack']) {
          expect(typeof q1Stats[`${key}_details`].rate).toBe('number');
        }

        const exchange = (await m.api('GET', `/api/exchanges/${enc(vhost)}/${x}`)).body;
        const seconds = (Date.now() - sampled) / 1000;
        // in: every publish; out: one per queue a message reached
        expect(exchange.message_stats).toMatchObject({ publish_in: N + 5, publish_out: 2 * N });
        expect(exchange.message_stats.publish_in_details.rate).toBeGreaterThanOrEqual((N + 5) / seconds - 0.1);
        expect(exchange.message_stats.publish_out_details.rate).toBeGreaterThanOrEqual((2 * N) / seconds - 0.1);

        const channels = (await m.api('GET', `/api/vhosts/${enc(vhost)}/channels`)).body;
        const [publishing, consuming] = [channels[0], channels[1]].sort((a, b) => (a.message_stats.publish === undefined ? 1 : -1));
        expect(publishing.message_stats).toEqual({
          publish: N + 5,
          publish_details: { rate: expect.any(Number) },
          confirm: N + 5,
          confirm_details: { rate: expect.any(Number) },
          return_unroutable: 3,
          return_unroutable_details: { rate: expect.any(Number) },
          drop_unroutable: 2,
          drop_unroutable_details: { rate: expect.any(Number) },
        });
        expect(publishing.messages_unconfirmed).toBe(0);
        expect(consuming.message_stats).toMatchObject({ deliver: 3, deliver_no_ack: N, get: 3, get_no_ack: 2, get_empty: 1, deliver_get: 3 + N + 3 + 2, redeliver: 1, ack: 5 });
        expect(consuming.message_stats.publish).toBeUndefined();

        const vhostStats = { publish: 2 * N, get: 3, get_no_ack: 2, get_empty: 1, deliver: 3, deliver_no_ack: N, deliver_get: 8 + N, redeliver: 1, ack: 5, confirm: N + 5, return_unroutable: 3, drop_unroutable: 2 };
        expect(await stats(`/api/vhosts/${enc(vhost)}`)).toMatchObject(vhostStats);
        const overview = (await m.api('GET', '/api/overview')).body.message_stats;
        for (const [key, n] of Object.entries(vhostStats)) expect(overview[key] - overviewBefore[key], key).toBe(n);
        // rabbitmq_prometheus' global counters, counted by the channels
        const metrics = await globalCounters(m.base);
        const delta = Object.fromEntries(Object.entries(metrics).map(([name, n]) => [name, n - (metricsBefore[name] ?? 0)]));
        expect(delta).toEqual({
          received: N + 5,
          confirmed: N + 5,
          unroutable_returned: 3,
          unroutable_dropped: 2,
          delivered: 3 + N + 3 + 2,
          delivered_consume_manual_ack: 3,
          delivered_consume_auto_ack: N,
          delivered_get_manual_ack: 3,
          delivered_get_auto_ack: 2,
          get_empty: 1,
          redelivered: 1,
          acknowledged: 5,
        });
      } finally {
        await publisher.close();
        await consumer.close();
      }
      // Closed channels' totals stay with their vhost.
      await sleep(50);
      expect(await (async () => (await m.api('GET', `/api/vhosts/${enc(vhost)}`)).body.message_stats)()).toMatchObject({ confirm: N + 5, return_unroutable: 3, drop_unroutable: 2 });
    });

    it('shows a transaction channel its uncommitted publishes until commit', async () => {
      const q = uniq('tx');
      expect((await m.api('PUT', `/api/queues/%2F/${q}`, { durable: false })).status).toBe(201);
      // amqplib has no tx API: a raw client publishes in a transaction.
      const raw = await RawClient.open(Number(new URL(m.broker.url).port));
      try {
        await raw.handshake();
        raw.send(method(CH, 20, 10, shortstr('')));
        await expectMethod(raw, 20, 11);
        raw.send(method(CH, 90, 10));
        await expectMethod(raw, 90, 11);
        for (let i = 0; i < 3; i++) raw.send(publish(q, Buffer.from(`tx ${i}`)));
        const txChannel = async () => {
          const channels = (await m.api('GET', '/api/channels')).body;
          return channels.find((c: any) => c.transactional === true);
        };
        await eventually(async () => expect((await txChannel())?.messages_uncommitted).toBe(3));
        expect((await m.api('GET', `/api/queues/%2F/${q}`)).body.messages).toBe(0);
        raw.send(method(CH, 90, 20));
        await expectMethod(raw, 90, 21);
        expect(await txChannel()).toMatchObject({ messages_uncommitted: 0, acks_uncommitted: 0, message_stats: { publish: 3 } });
        expect((await m.api('GET', `/api/queues/%2F/${q}`)).body.messages).toBe(3);
      } finally {
        raw.destroy();
      }
    });
  });
}
