/**
 * /api/queues against a real broker: counters that follow what amqplib
 * publishes, acks and holds; declare, delete and purge through HTTP obeying
 * AMQP's rules; names with '/', spaces and multi-byte UTF-8 (fast-check).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, subscribe, uniq, within } from '../helpers.js';
import { enc, managedBroker } from './support.js';

for (const mode of MODES) {
  describe(`management API: queues (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('counts ready, unacked, consumers and publish/deliver_get/ack totals as amqplib changes them', async () => {
      const q = uniq('counted');
      const conn = await connect(m.broker.url);
      try {
        const pub = await conn.createConfirmChannel();
        await pub.assertQueue(q, { durable: false });
        for (let i = 1; i <= 7; i++) pub.sendToQueue(q, Buffer.from(`msg-${i}`));
        await pub.waitForConfirms();

        let { status, body } = await m.api('GET', `/api/queues/%2F/${enc(q)}`);
        expect(status).toBe(200);
        expect(body).toMatchObject({ name: q, vhost: '/', durable: false, auto_delete: false, exclusive: false, messages: 7, messages_ready: 7, messages_unacknowledged: 0, consumers: 0 });
        expect(body.message_stats).toMatchObject({ publish: 7, deliver_get: 0, ack: 0 });
        expect(typeof body.message_stats.publish_details.rate).toBe('number');

        // A consumer with prefetch 2 holds two unacked; acking them lets two more in.
        const ch = await channel(conn);
        await ch.prefetch(2);
        const inbox = await subscribe(ch, q, { noAck: false });
        const first = await inbox.waitFor(2);
        expect(first.map((msg) => msg.content.toString())).toEqual(['msg-1', 'msg-2']);
        await ch.checkQueue(q); // a round trip: the consume reached the shard
        ({ body } = await m.api('GET', `/api/queues/%2F/${enc(q)}`));
        expect(body).toMatchObject({ messages: 7, messages_ready: 5, messages_unacknowledged: 2, consumers: 1 });

        for (const msg of first) ch.ack(msg);
        const next = await inbox.waitFor(4);
        expect(next.slice(2).map((msg) => msg.content.toString())).toEqual(['msg-3', 'msg-4']);
        await ch.checkQueue(q);
        ({ body } = await m.api('GET', `/api/queues/%2F/${enc(q)}`));
        expect(body).toMatchObject({ messages: 5, messages_ready: 3, messages_unacknowledged: 2, consumers: 1 });
        expect(body.message_stats).toMatchObject({ publish: 7, deliver_get: 4, ack: 2 });

        // The channel goes: its two unacked come back as ready.
        await ch.close();
        await pub.checkQueue(q);
        ({ body } = await m.api('GET', `/api/queues/%2F/${enc(q)}`));
        expect(body).toMatchObject({ messages: 5, messages_ready: 5, messages_unacknowledged: 0, consumers: 0 });

        const list = await m.api('GET', '/api/queues/%2F');
        expect(list.status).toBe(200);
        expect(list.body.find((x: any) => x.name === q)).toMatchObject({ messages_ready: 5 });
        const all = await m.api('GET', '/api/queues');
        expect(all.body.find((x: any) => x.name === q)).toMatchObject({ messages_ready: 5 });
      } finally {
        await conn.close();
      }
    });

    it('shows declare, bind and consume arguments sorted by key at every depth, as RabbitMQ 3.10.8 (it sorts what it takes)', async () => {
      const conn = await connect(m.broker.url);
      try {
        const ch = await channel(conn);
        const q = uniq('sorted-args');
        const x = uniq('sorted-args-x');
        await ch.assertQueue(q, { durable: true, arguments: { 'x-max-length': 5, 'x-b': { z: 1, a: { y: 1, b: 2 } }, 'x-a': [3, 1] } });
        await ch.assertExchange(x, 'headers', { durable: true, arguments: { zed: 1, 'alternate-exchange': 'amq.direct', mid: 'm' } });
        await ch.bindQueue(q, x, '', { 'x-match': 'any', zz: 'a', aa: 'b' });
        await ch.consume(q, () => {}, { arguments: { 'x-priority': 1, 'x-other': { b: 1, a: 2 } } });
        // JSON text, as the key order is what differs; RabbitMQ 3.10.8's answers to the same calls
        const queueArgs = '{"x-a":[3,1],"x-b":{"a":{"b":2,"y":1},"z":1},"x-max-length":5}';
        const exchangeArgs = '{"alternate-exchange":"amq.direct","mid":"m","zed":1}';
        const bindArgs = '{"aa":"b","x-match":"any","zz":"a"}';
        expect(JSON.stringify((await m.api('GET', `/api/queues/%2F/${enc(q)}`)).body.arguments)).toBe(queueArgs);
        expect(JSON.stringify((await m.api('GET', `/api/exchanges/%2F/${enc(x)}`)).body.arguments)).toBe(exchangeArgs);
        expect((await m.api('GET', `/api/queues/%2F/${enc(q)}/bindings`)).body.map((b: any) => JSON.stringify(b.arguments))).toEqual(['{}', bindArgs]);
        const defs = (await m.api('GET', '/api/definitions')).body;
        expect(JSON.stringify(defs.queues.find((d: any) => d.name === q).arguments)).toBe(queueArgs);
        expect(JSON.stringify(defs.exchanges.find((d: any) => d.name === x).arguments)).toBe(exchangeArgs);
        expect(defs.bindings.filter((b: any) => b.source === x).map((b: any) => JSON.stringify(b.arguments))).toEqual([bindArgs]);
        const consumer = (await m.api('GET', '/api/consumers')).body.find((c: any) => c.queue.name === q);
        expect(JSON.stringify(consumer.arguments)).toBe('{"x-other":{"a":2,"b":1},"x-priority":1}');
        await ch.deleteQueue(q);
        await ch.deleteExchange(x);
      } finally {
        await conn.close();
      }
    });

    it('a queue\'s mirror actions and a rebalance are 204 (one node: nothing to do), an unknown action 400, no such queue 404', async () => {
      const q = uniq('actions');
      await m.api('PUT', `/api/queues/%2F/${enc(q)}`, {});
      for (const action of ['sync', 'cancel_sync']) expect((await m.api('POST', `/api/queues/%2F/${enc(q)}/actions`, { action })).status).toBe(204);
      expect((await m.api('POST', `/api/queues/%2F/${enc(q)}/actions`, { action: 'foo' })).status).toBe(400);
      expect((await m.api('POST', `/api/queues/%2F/${enc(uniq('none'))}/actions`, { action: 'sync' })).status).toBe(404);
      expect((await m.api('POST', '/api/rebalance/queues', {})).status).toBe(204);
      await m.api('DELETE', `/api/queues/%2F/${enc(q)}`);
    });

    it('PUT declares (201, then 204), obeys AMQP rules (400 inequivalent, 401 amq.*), DELETE honours if-empty and if-unused', async () => {
      const q = uniq('put');
      expect((await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: true, auto_delete: false, arguments: { 'x-max-length': 3 } })).status).toBe(201);
      expect((await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: true, arguments: { 'x-max-length': 3 } })).status).toBe(204);
      const bad = await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: false, arguments: { 'x-max-length': 3 } });
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({ error: 'bad_request', reason: `inequivalent arg 'durable' for queue '${q}' in vhost '/': received 'false' but current is 'true'` });
      const reserved = await m.api('PUT', '/api/queues/%2F/amq.mine', { durable: true });
      expect(reserved.status).toBe(401);
      expect(reserved.body).toEqual({ error: 'not_authorised', reason: 'Access refused.' });
      expect((await m.api('GET', `/api/queues/%2F/${enc(q)}`)).body).toMatchObject({ durable: true, arguments: { 'x-max-length': 3 } });
      // Without the flags, RabbitMQ's defaults (as AMQP's declare): transient, not auto-delete; the same for an exchange
      const plain = uniq('put-plain');
      expect((await m.api('PUT', `/api/queues/%2F/${enc(plain)}`, {})).status).toBe(201);
      expect((await m.api('GET', `/api/queues/%2F/${enc(plain)}`)).body).toMatchObject({ durable: false, auto_delete: false });
      expect((await m.api('PUT', `/api/exchanges/%2F/${enc(plain)}`, { type: 'fanout' })).status).toBe(201);
      expect((await m.api('GET', `/api/exchanges/%2F/${enc(plain)}`)).body).toMatchObject({ durable: false, auto_delete: false, internal: false });

      // The queue is the AMQP one: amqplib sees it, and its publish counts.
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createConfirmChannel();
        ch.on('error', () => {});
        expect(await ch.checkQueue(q)).toMatchObject({ queue: q, messageCount: 0 });
        ch.sendToQueue(q, Buffer.from('one'));
        await ch.waitForConfirms();
        const notEmpty = await m.api('DELETE', `/api/queues/%2F/${enc(q)}?if-empty=true`);
        expect(notEmpty.status).toBe(400);
        expect(notEmpty.body.reason).toBe(`queue '${q}' in vhost '/' not empty`);
        const consumer = await channel(conn);
        await consumer.consume(q, () => {}, { noAck: false });
        await consumer.checkQueue(q);
        const inUse = await m.api('DELETE', `/api/queues/%2F/${enc(q)}?if-unused=true`);
        expect(inUse.status).toBe(400);
        expect(inUse.body.reason).toBe(`queue '${q}' in vhost '/' in use`);
        expect((await m.api('GET', `/api/queues/%2F/${enc(q)}`)).status).toBe(200);
        expect((await m.api('DELETE', `/api/queues/%2F/${enc(q)}`)).status).toBe(204);
        expect((await m.api('GET', `/api/queues/%2F/${enc(q)}`)).body).toEqual({ error: 'Object Not Found', reason: 'Not Found' });
        expect((await m.api('DELETE', `/api/queues/%2F/${enc(q)}`)).status).toBe(404);
        await expect(ch.checkQueue(q)).rejects.toThrow(/404/);
      } finally {
        await conn.close();
      }
    });

    it("a JSON integer is an AMQP long in errors, as RabbitMQ's API makes every one an int64 (fast-check over sizes)", async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.integer({ min: -128, max: 127 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.maxSafeInteger()), async (n) => {
          const q = uniq('json-long');
          const overflow = await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { arguments: { 'x-overflow': n } });
          expect(overflow.body).toEqual({ error: 'bad_request', reason: `invalid arg 'x-overflow' for queue '${q}' in vhost '/': {unacceptable_type,long}` });
          const alternate = await m.api('PUT', `/api/exchanges/%2F/${enc(q)}`, { type: 'direct', arguments: { 'alternate-exchange': n } });
          expect(alternate.body).toEqual({ error: 'bad_request', reason: `invalid type 'long' for arg 'alternate-exchange' in exchange '${q}' in vhost '/'` });
          expect((await m.api('PUT', `/api/queues/%2F/${enc(q)}`, {})).status).toBe(201);
          const match = await m.api('POST', `/api/bindings/%2F/e/amq.headers/q/${enc(q)}`, { arguments: { 'x-match': n } });
          expect(match.body).toEqual({ error: 'bad_request', reason: `Invalid x-match field type long (value ${n}); expected longstr` });
          const limited = uniq('json-long-limit');
          expect((await m.api('PUT', `/api/queues/%2F/${enc(limited)}`, { arguments: { 'x-max-length': Math.abs(n) } })).status).toBe(201);
          const conn = await connect(m.broker.url);
          try {
            const ch = await channel(conn);
            await expect(ch.assertQueue(limited, { durable: false })).rejects.toThrow(
              `inequivalent arg 'x-max-length' for queue '${limited}' in vhost '/': received none but current is the value '${Math.abs(n)}' of type 'long'`,
            );
          } finally {
            await conn.close();
          }
          for (const name of [q, limited]) expect((await m.api('DELETE', `/api/queues/%2F/${enc(name)}`)).status).toBe(204);
        }),
        { numRuns: 12 },
      );
    });

    it('PUT takes a null body as {} and refuses a name over 255 bytes, as RabbitMQ 3.10.8', async () => {
      const q = uniq('null-body');
      expect((await m.api('PUT', `/api/queues/%2F/${enc(q)}`, undefined, { raw: 'null' })).status).toBe(201);
      expect((await m.api('GET', `/api/queues/%2F/${enc(q)}`)).body).toMatchObject({ durable: false, auto_delete: false });
      expect((await m.api('DELETE', `/api/queues/%2F/${enc(q)}`)).status).toBe(204);
      const long = 'é'.repeat(128); // 256 bytes
      expect(await m.api('PUT', `/api/queues/%2F/${enc(long)}`, {})).toMatchObject({ status: 400, body: { error: 'bad_request', reason: 'queue should be less than 255 bytes, actually was 256\n' } });
      expect((await m.api('GET', `/api/queues/%2F/${enc(long)}`)).status).toBe(404);
      const longest = `${'é'.repeat(127)}a`; // 255 bytes
      expect((await m.api('PUT', `/api/queues/%2F/${enc(longest)}`, {})).status).toBe(201);
      expect((await m.api('DELETE', `/api/queues/%2F/${enc(longest)}`)).status).toBe(204);
    });

    it('DELETE .../contents purges the ready messages', async () => {
      const q = uniq('purge');
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createConfirmChannel();
        await ch.assertQueue(q, { durable: false });
        for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(String(i)));
        await ch.waitForConfirms();
        expect((await m.api('DELETE', `/api/queues/%2F/${enc(q)}/contents`)).status).toBe(204);
        expect((await m.api('GET', `/api/queues/%2F/${enc(q)}`)).body).toMatchObject({ messages: 0, messages_ready: 0 });
        expect(await ch.get(q)).toBe(false);
        expect((await m.api('DELETE', '/api/queues/%2F/no-such-queue/contents')).status).toBe(404);
      } finally {
        await conn.close();
      }
    });

    it("names with '/', spaces, '%' and multi-byte UTF-8 survive PUT, GET, list, AMQP and DELETE (fast-check)", async () => {
      const conn = await connect(m.broker.url);
      const ch = await channel(conn);
      const name = fc
        .string({ unit: fc.oneof(fc.constantFrom('/', ' ', '%', '+', '~', '?', '#', 'é', '☃', '𝄞'), fc.string({ minLength: 1, maxLength: 1 })), minLength: 1, maxLength: 60 })
        .filter((s) => !s.startsWith('amq.') && Buffer.byteLength(s) <= 255 && s.trim() === s && s !== '.' && s !== '..');
      try {
        await fc.assert(
          fc.asyncProperty(name, async (raw) => {
            const q = `${uniq('n')}${raw}`.slice(0, 200);
            if (Buffer.byteLength(q) > 255) return;
            const path = `/api/queues/%2F/${enc(q)}`;
            expect((await m.api('PUT', path, { durable: false })).status).toBe(201);
            const got = await m.api('GET', path);
            expect(got.status).toBe(200);
            expect(got.body.name).toBe(q);
            expect((await ch.checkQueue(q)).queue).toBe(q);
            const listed = await m.api('GET', `/api/queues/%2F?name=${enc(q)}`);
            expect(listed.body.map((x: any) => x.name)).toContain(q);
            expect((await m.api('DELETE', path)).status).toBe(204);
            expect((await m.api('GET', path)).status).toBe(404);
          }),
          { numRuns: 40 },
        );
      } finally {
        await conn.close();
      }
    });

    it('GET .../bindings lists the default binding and exchange bindings', async () => {
      const q = uniq('qb');
      expect((await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: false })).status).toBe(201);
      expect((await m.api('POST', `/api/bindings/%2F/e/amq.topic/q/${enc(q)}`, { routing_key: 'a.*' })).status).toBe(201);
      const { status, body } = await m.api('GET', `/api/queues/%2F/${enc(q)}/bindings`);
      expect(status).toBe(200);
      expect(body).toEqual([
        { source: '', vhost: '/', destination: q, destination_type: 'queue', routing_key: q, arguments: {}, properties_key: q },
        { source: 'amq.topic', vhost: '/', destination: q, destination_type: 'queue', routing_key: 'a.*', arguments: {}, properties_key: 'a.%2A' },
      ]);
      await m.api('DELETE', `/api/queues/%2F/${enc(q)}`);
    });

    it('the counters of queues on every shard come from one request per shard', async () => {
      const names = Array.from({ length: 20 }, () => uniq('many'));
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createConfirmChannel();
        for (const [i, q] of names.entries()) {
          await ch.assertQueue(q, { durable: false });
          for (let k = 0; k <= i; k++) ch.sendToQueue(q, Buffer.from(`${q}:${k}`));
        }
        await ch.waitForConfirms();
        const { body } = await within(m.api('GET', '/api/queues/%2F?columns=name,messages_ready'), 5000, 'queue list');
        for (const [i, q] of names.entries()) expect(body.find((x: any) => x.name === q)).toEqual({ name: q, messages_ready: i + 1 });
      } finally {
        await conn.close();
      }
    });
  });
}
