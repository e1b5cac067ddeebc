/**
 * /api/exchanges and /api/bindings against a real broker, and the two testing
 * aids: publish through HTTP (routed or not, received by amqplib) and get
 * with each ackmode.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, uniq } from '../helpers.js';
import { enc, managedBroker } from './support.js';
import { Wire } from '../wire/property-wire.js';
import { shortstr, u16, u32 } from '../wire/raw-client.js';

for (const mode of MODES) {
  describe(`management API: exchanges, bindings, publish and get (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('lists the built-in exchanges, declares (201/204), refuses amq.* and a different type, deletes with if-unused', async () => {
      const list = await m.api('GET', '/api/exchanges/%2F');
      expect(list.status).toBe(200);
      expect(list.body.map((x: any) => x.name)).toEqual(expect.arrayContaining(['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']));
      expect((await m.api('GET', '/api/exchanges/%2F/amq.default')).body).toMatchObject({ name: '', type: 'direct', durable: true });

      const x = uniq('x/é');
      expect((await m.api('PUT', `/api/exchanges/%2F/${enc(x)}`, { type: 'topic', durable: false })).status).toBe(201);
      expect((await m.api('PUT', `/api/exchanges/%2F/${enc(x)}`, { type: 'topic', durable: false })).status).toBe(204);
      const other = await m.api('PUT', `/api/exchanges/%2F/${enc(x)}`, { type: 'fanout', durable: false });
      expect(other).toMatchObject({ status: 400, body: { error: 'bad_request', reason: `inequivalent arg 'type' for exchange '${x}' in vhost '/': received 'fanout' but current is 'topic'` } });
      // Without a type RabbitMQ declares a direct exchange; here one exists as topic.
      expect((await m.api('PUT', `/api/exchanges/%2F/${enc(x)}`, { durable: false })).status).toBe(400);
      const untyped = uniq('untyped');
      expect((await m.api('PUT', `/api/exchanges/%2F/${untyped}`, { durable: false })).status).toBe(201);
      expect((await m.api('GET', `/api/exchanges/%2F/${untyped}`)).body).toMatchObject({ type: 'direct', incoming: [], outgoing: [] });
      // RabbitMQ answers these as a refused permission: 401 "Access refused."
      expect(await m.api('PUT', '/api/exchanges/%2F/amq.custom', { type: 'direct' })).toMatchObject({ status: 401, body: { error: 'not_authorised', reason: 'Access refused.' } });
      expect((await m.api('DELETE', '/api/exchanges/%2F/amq.direct')).status).toBe(401);
      expect((await m.api('GET', '/api/exchanges/%2F/amq.direct')).status).toBe(200);
      expect((await m.api('GET', `/api/exchanges/%2F/${enc(x)}`)).body).toEqual({
        name: x, vhost: '/', type: 'topic', durable: false, auto_delete: false, internal: false, arguments: {}, user_who_performed_action: 'rmq-internal', incoming: [], outgoing: [],
      });

      const q = uniq('xq');
      await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: false });
      expect((await m.api('POST', `/api/bindings/%2F/e/${enc(x)}/q/${enc(q)}`, { routing_key: 'k' })).status).toBe(201);
      const inUse = await m.api('DELETE', `/api/exchanges/%2F/${enc(x)}?if-unused=true`);
      expect(inUse).toMatchObject({ status: 400, body: { error: 'bad_request', reason: `exchange '${x}' in vhost '/' in use` } });
      expect((await m.api('DELETE', `/api/exchanges/%2F/${enc(x)}`)).status).toBe(204);
      expect((await m.api('GET', `/api/exchanges/%2F/${enc(x)}`)).status).toBe(404);
      expect((await m.api('GET', `/api/queues/%2F/${enc(q)}/bindings`)).body).toHaveLength(1); // the default one left
      expect((await m.api('DELETE', `/api/exchanges/%2F/${enc(x)}`)).status).toBe(404);
    });

    it('creates a binding (201 + Location), shows and deletes it by properties key; HTTP publishes route through it to amqplib', async () => {
      const x = uniq('bx');
      const q = uniq('bq ☃');
      await m.api('PUT', `/api/exchanges/%2F/${enc(x)}`, { type: 'direct', durable: false });
      await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: false });
      const made = await m.api('POST', `/api/bindings/%2F/e/${enc(x)}/q/${enc(q)}`, { routing_key: 'rk 1', arguments: {} });
      expect(made.status).toBe(201);
      expect(made.headers.get('location')).toBe(`${enc(q)}/${enc('rk+1')}`);
      // Resolved against the request URL, it names the new binding.
      const location = new URL(made.headers.get('location')!, `${m.base}/api/bindings/%2F/e/${enc(x)}/q/${enc(q)}`);
      expect((await m.api('GET', location.pathname)).body).toMatchObject({ source: x, destination: q, routing_key: 'rk 1' });
      const between = await m.api('GET', `/api/bindings/%2F/e/${enc(x)}/q/${enc(q)}`);
      expect(between.body).toEqual([{ source: x, vhost: '/', destination: q, destination_type: 'queue', routing_key: 'rk 1', arguments: {}, properties_key: 'rk+1' }]);
      expect((await m.api('GET', `/api/bindings/%2F/e/${enc(x)}/q/${enc(q)}/${enc('rk+1')}`)).body).toMatchObject({ routing_key: 'rk 1' });
      expect((await m.api('GET', '/api/bindings/%2F')).body).toContainEqual(between.body[0]);
      expect((await m.api('GET', `/api/exchanges/%2F/${enc(x)}/bindings/source`)).body).toEqual(between.body);

      const conn = await connect(m.broker.url);
      try {
        const ch = await channel(conn);
        for (let i = 1; i <= 3; i++) {
          const sent = await m.api('POST', `/api/exchanges/%2F/${enc(x)}/publish`, {
            routing_key: 'rk 1', payload: `http-${i}`, payload_encoding: 'string', properties: { headers: { n: i }, content_type: 'text/plain', delivery_mode: 2 },
          });
          expect(sent).toMatchObject({ status: 200, body: { routed: true } });
        }
        const missed = await m.api('POST', `/api/exchanges/%2F/${enc(x)}/publish`, { routing_key: 'other', payload: 'lost', payload_encoding: 'string', properties: {} });
        expect(missed.body).toEqual({ routed: false });
        const got = [];
        for (let msg = await ch.get(q, { noAck: true }); msg !== false; msg = await ch.get(q, { noAck: true })) got.push(msg);
        expect(got.map((msg) => msg.content.toString())).toEqual(['http-1', 'http-2', 'http-3']);
        expect(got.map((msg) => msg.properties.headers?.n)).toEqual([1, 2, 3]);
        expect(got[0].properties).toMatchObject({ contentType: 'text/plain', deliveryMode: 2 });
        expect(got[0].fields).toMatchObject({ exchange: x, routingKey: 'rk 1' });
      } finally {
        await conn.close();
      }

      expect((await m.api('DELETE', `/api/bindings/%2F/e/${enc(x)}/q/${enc(q)}/${enc('rk+1')}`)).status).toBe(204);
      expect((await m.api('GET', `/api/bindings/%2F/e/${enc(x)}/q/${enc(q)}`)).body).toEqual([]);
      expect((await m.api('DELETE', `/api/bindings/%2F/e/${enc(x)}/q/${enc(q)}/${enc('rk+1')}`)).status).toBe(404);
      expect((await m.api('POST', `/api/exchanges/%2F/${enc(x)}/publish`, { routing_key: 'rk 1', payload: 'x', payload_encoding: 'string', properties: {} })).body).toEqual({ routed: false });
      expect((await m.api('POST', `/api/bindings/%2F/e/amq.default/q/${enc(q)}`, { routing_key: 'k' })).status).toBe(401);
      // refused before anything is looked up, as RabbitMQ does
      for (const path of ['e/amq.default/q/no-such', 'e/amq.default/e/no-such', 'e/no-such/e/amq.default']) {
        expect(await m.api('POST', `/api/bindings/%2F/${path}`, { routing_key: 'k' }), path).toMatchObject({ status: 401, body: { error: 'not_authorised' } });
      }
      expect(await m.api('POST', `/api/bindings/%2F/e/no-such/q/${enc(q)}`, { routing_key: 'k' })).toMatchObject({ status: 404, body: { error: 'not_found', reason: "no exchange 'no-such' in vhost '/'" } });
      expect(await m.api('POST', `/api/bindings/%2F/e/${enc(x)}/q/no-such`, { routing_key: 'k' })).toMatchObject({ status: 404, body: { error: 'not_found', reason: "no queue 'no-such' in vhost '/'" } });
      // RabbitMQ lists the bindings between two names without looking them up: none, where an end or the vhost is missing
      for (const path of [`%2F/e/no-such/q/${enc(q)}`, `%2F/e/${enc(x)}/q/no-such`, `%2F/e/${enc(x)}/e/no-such`, 'no-such-vhost/e/x/q/q']) {
        expect(await m.api('GET', `/api/bindings/${path}`)).toMatchObject({ status: 200, body: [] });
      }
      // and the default exchange's implicit binding, to any queue name
      const [implicit] = (await m.api('GET', `/api/queues/%2F/${enc(q)}/bindings`)).body;
      expect((await m.api('GET', `/api/bindings/%2F/e/amq.default/q/${enc(q)}`)).body).toEqual([implicit]);
      expect((await m.api('GET', '/api/bindings/%2F/e/amq.default/q/no-such')).body).toEqual([
        { source: '', vhost: '/', destination: 'no-such', destination_type: 'queue', routing_key: 'no-such', arguments: {}, properties_key: 'no-such' },
      ]);
      // one binding by its properties key still needs both ends
      expect((await m.api('GET', `/api/bindings/%2F/e/no-such/q/${enc(q)}/~`)).status).toBe(404);
    });

    it('publish through HTTP: CC and BCC route as over AMQP, BCC is not delivered, a CC that is no array is the 406; integers are longs', async () => {
      const queues = [uniq('cc-a'), uniq('cc-b'), uniq('cc-c'), uniq('cc-none')];
      for (const [i, q] of queues.entries()) {
        await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: false });
        expect((await m.api('POST', `/api/bindings/%2F/e/amq.direct/q/${enc(q)}`, { routing_key: `k${i}` })).status).toBe(201);
      }
      const body = { routing_key: 'k0', payload: 'p', payload_encoding: 'string', properties: { headers: { CC: ['k1'], BCC: ['k2'], n: 7 } } };
      expect(await m.api('POST', '/api/exchanges/%2F/amq.direct/publish', body)).toMatchObject({ status: 200, body: { routed: true } });
      const got = [];
      for (const q of queues) got.push((await m.api('POST', `/api/queues/%2F/${enc(q)}/get`, { count: 5, ackmode: 'ack_requeue_false', encoding: 'auto' })).body);
      expect(got.map((list: any[]) => list.length)).toEqual([1, 1, 1, 0]);
      for (const [i, list] of got.slice(0, 3).entries()) {
        expect(list[0], queues[i]).toMatchObject({ payload: 'p', routing_key: 'k0', properties: { headers: { CC: ['k1'], n: 7 } } });
        expect(list[0].properties.headers).not.toHaveProperty('BCC');
      }
      // RabbitMQ sends JSON integers as longs: its 406 names the type
      for (const header of ['CC', 'BCC']) {
        expect(await m.api('POST', '/api/exchanges/%2F/amq.direct/publish', { ...body, properties: { headers: { [header]: 1 } } })).toMatchObject({
          status: 400,
          body: { error: 'bad_request', reason: `406 PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,"${header}",long}` },
        });
      }
      for (const q of queues) await m.api('DELETE', `/api/queues/%2F/${enc(q)}`);
    });

    it('publish through HTTP waits for the queues: one at a reject-publish limit makes it a 400, as RabbitMQ; a drop-head limit does not', async () => {
      const [full, roomy, dropping] = [uniq('rp-full'), uniq('rp-roomy'), uniq('rp-drop')];
      const x = uniq('rp-fanout');
      expect((await m.api('PUT', `/api/exchanges/%2F/${enc(x)}`, { type: 'fanout' })).status).toBe(201);
      await m.api('PUT', `/api/queues/%2F/${enc(full)}`, { durable: true, arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
      await m.api('PUT', `/api/queues/%2F/${enc(roomy)}`, { durable: false });
      await m.api('PUT', `/api/queues/%2F/${enc(dropping)}`, { durable: false, arguments: { 'x-max-length': 1 } });
      const publish = (to: string, n: number, persistent = false) =>
        m.api('POST', `/api/exchanges/%2F/${enc(to)}/publish`, { routing_key: full, payload: `m${n}`, payload_encoding: 'string', properties: persistent ? { delivery_mode: 2 } : {} });
      const answers = [];
      for (let n = 0; n < 4; n++) answers.push(await publish('amq.default', n, n % 2 === 1));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 400, 400]);
      expect(answers[3]!.body).toEqual({ error: 'bad_request', reason: 'rejected Unable to publish message. Check queue limits.' });
      for (const q of [full, roomy, dropping]) expect((await m.api('POST', `/api/bindings/%2F/e/${enc(x)}/q/${enc(q)}`, {})).status).toBe(201);
      // Through a fanout to all three: refused by one queue is a 400, though the others kept it.
      expect((await publish(x, 4)).status).toBe(400);
      const got = async (q: string) => ((await m.api('POST', `/api/queues/%2F/${enc(q)}/get`, { count: 9, ackmode: 'ack_requeue_false', encoding: 'auto' })).body as any[]).map((g) => g.payload);
      expect([await got(full), await got(roomy), await got(dropping)]).toEqual([['m0', 'm1'], ['m4'], ['m4']]);
      expect((await publish(x, 5)).body).toEqual({ routed: true });
      for (const q of [full, roomy, dropping]) await m.api('DELETE', `/api/queues/%2F/${enc(q)}`);
      await m.api('DELETE', `/api/exchanges/%2F/${enc(x)}`);
    });

    it('get with reject_requeue_false: the dead letters are in their queue when the answer comes (queues on any shards)', async () => {
      for (let i = 0; i < 8; i++) {
        const [source, dead] = [uniq(`rj-src${i}`), uniq(`rj-dlq${i}`)];
        await m.api('PUT', `/api/queues/%2F/${enc(dead)}`, { durable: false });
        await m.api('PUT', `/api/queues/%2F/${enc(source)}`, { durable: false, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
        for (const n of [0, 1]) {
          expect((await m.api('POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: source, payload: `m${n}`, payload_encoding: 'string', properties: {} })).status).toBe(200);
        }
        const get = (q: string, ackmode: string) => m.api('POST', `/api/queues/%2F/${enc(q)}/get`, { count: 5, ackmode, encoding: 'auto' });
        expect((await get(source, 'reject_requeue_false')).body.map((g: any) => g.payload)).toEqual(['m0', 'm1']);
        const deadLetters = (await get(dead, 'ack_requeue_false')).body;
        expect(deadLetters.map((g: any) => [g.payload, g.properties.headers['x-death'][0].reason])).toEqual([['m0', 'rejected'], ['m1', 'rejected']]);
        for (const q of [source, dead]) await m.api('DELETE', `/api/queues/%2F/${enc(q)}`);
      }
    });

    it('binds exchange to exchange, with arguments in the properties key', async () => {
      const src = uniq('src');
      const dst = uniq('dst');
      const q = uniq('e2e');
      await m.api('PUT', `/api/exchanges/%2F/${enc(src)}`, { type: 'headers', durable: false });
      await m.api('PUT', `/api/exchanges/%2F/${enc(dst)}`, { type: 'fanout', durable: false });
      await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: false });
      await m.api('POST', `/api/bindings/%2F/e/${enc(dst)}/q/${enc(q)}`, {});
      const made = await m.api('POST', `/api/bindings/%2F/e/${enc(src)}/e/${enc(dst)}`, { routing_key: '', arguments: { 'x-match': 'all', colour: 'red' } });
      expect(made.status).toBe(201);
      const [binding] = (await m.api('GET', `/api/bindings/%2F/e/${enc(src)}/e/${enc(dst)}`)).body;
      expect(binding).toMatchObject({ source: src, destination: dst, destination_type: 'exchange', arguments: { 'x-match': 'all', colour: 'red' } });
      expect(binding.properties_key).toMatch(/^~.+/);
      expect((await m.api('GET', `/api/exchanges/%2F/${enc(dst)}/bindings/destination`)).body).toEqual([binding]);
      const publish = (colour: string) => m.api('POST', `/api/exchanges/%2F/${enc(src)}/publish`, { routing_key: '', payload: colour, payload_encoding: 'string', properties: { headers: { colour } } });
      expect((await publish('red')).body).toEqual({ routed: true });
      expect((await publish('blue')).body).toEqual({ routed: false });
      expect((await m.api('DELETE', `/api/bindings/%2F/e/${enc(src)}/e/${enc(dst)}/${enc(binding.properties_key)}`)).status).toBe(204);
      expect((await publish('red')).body).toEqual({ routed: false });
    });

    it('any headers and payload published over HTTP arrive intact through amqplib, or are refused with 400 (fast-check)', async () => {
      const q = uniq('fuzz');
      await m.api('PUT', `/api/queues/%2F/${q}`, { durable: false });
      const conn = await connect(m.broker.url);
      const ch = await channel(conn);
      const value = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null));
      // amqplib decodes a table into a plain object, where a '__proto__' key is lost
      const name = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength }).filter((k) => k !== '__proto__');
      const headers = fc.dictionary(name(140), fc.oneof(value, fc.array(value, { maxLength: 3 }), fc.dictionary(name(5), value, { maxKeys: 2 })), { maxKeys: 4 });
      try {
        await fc.assert(
          fc.asyncProperty(headers, fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 40 }), async (h, body, key) => {
            const sent = await m.api('POST', '/api/exchanges/%2F/amq.default/publish', {
              routing_key: q, payload: Buffer.from(body).toString('base64'), payload_encoding: 'base64', properties: { headers: h, correlation_id: key },
            });
            const tooLong = Object.keys(h).some((k) => Buffer.byteLength(k) > 255) || Buffer.byteLength(key) > 255;
            if (tooLong) {
              expect(sent.status).toBe(400);
              expect(await ch.get(q, { noAck: true })).toBe(false);
              return;
            }
            expect(sent).toMatchObject({ status: 200, body: { routed: true } });
            const msg = await ch.get(q, { noAck: true });
            expect(msg).not.toBe(false);
            if (msg === false) return;
            expect(Buffer.compare(msg.content, Buffer.from(body))).toBe(0);
            expect(msg.properties.headers).toEqual(h);
            expect(msg.properties.correlationId).toBe(key);
          }),
          { numRuns: 60 },
        );
      } finally {
        await conn.close();
      }
      expect((await m.api('GET', '/api/overview')).status).toBe(200);
    });

    it("get shows a message's headers as RabbitMQ 3.10.8's API does: not-UTF-8 strings as base64, void as \"undefined\", decimals as it renders them", async () => {
      const queue = uniq('get-types');
      const conn = await connect(m.broker.url);
      const ch = await channel(conn);
      await ch.assertQueue(queue, { exclusive: false });
      const wire = await Wire.open(m.broker.port);
      const entry = (key: string, value: Buffer) => Buffer.concat([shortstr(key), value]);
      const sized = (letter: string, bytes: Buffer) => Buffer.concat([Buffer.from(letter), u32(bytes.length), bytes]);
      const headers = Buffer.concat([
        entry('long', sized('S', Buffer.alloc(100, 0xff))),
        entry('xb', sized('x', Buffer.from([0xff, 0xfe]))),
        entry('xt', sized('x', Buffer.from('bin'))),
        entry('dec', Buffer.from('D\x03\0\0\0\x05', 'latin1')),
        entry('A', sized('A', Buffer.from('VD\0\0\0\0\x07', 'latin1'))),
        entry('F', sized('F', entry('T', Buffer.from('T\0\0\0\0\x65\x53\xf1\0', 'latin1')))),
        entry('b', Buffer.from('b\xfe', 'latin1')),
      ]);
      try {
        wire.publish(queue, Buffer.concat([u16(0x2000), u32(headers.length), headers]), 'x');
        const got = await m.api('POST', `/api/queues/%2F/${queue}/get`, { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' });
        expect(got.body[0].properties.headers).toEqual({
          long: `Not UTF-8, base64 is: ${'/'.repeat(76)}\n${'/'.repeat(57)}w==`,
          xb: 'Not UTF-8, base64 is: //4=',
          xt: 'bin',
          dec: 3.5,
          A: ['undefined', 0.7],
          F: { T: 1700000000 },
          b: -2,
        });
      } finally {
        wire.close();
        await ch.deleteQueue(queue);
        await conn.close();
      }
    });

    it('get: ack_requeue_true leaves the messages (redelivered), ack_requeue_false and reject_requeue_false take them; base64 and truncate', async () => {
      const q = uniq('get');
      await m.api('PUT', `/api/queues/%2F/${enc(q)}`, { durable: false });
      const send = (payload: string, encoding = 'string') =>
        m.api('POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: q, payload, payload_encoding: encoding, properties: { message_id: payload.slice(0, 8) } });
      for (let i = 1; i <= 4; i++) await send(`message-${i}`);
      await send(Buffer.from([0xff, 0x00, 0x80]).toString('base64'), 'base64');
      const get = (body: object) => m.api('POST', `/api/queues/%2F/${enc(q)}/get`, body);

      const peek = await get({ count: 2, ackmode: 'ack_requeue_true', encoding: 'auto' });
      expect(peek.status).toBe(200);
      expect(peek.body).toEqual([
        { payload_bytes: 9, redelivered: false, exchange: '', routing_key: q, message_count: 4, properties: { message_id: 'message-' }, payload: 'message-1', payload_encoding: 'string' },
        { payload_bytes: 9, redelivered: false, exchange: '', routing_key: q, message_count: 3, properties: { message_id: 'message-' }, payload: 'message-2', payload_encoding: 'string' },
      ]);
      const again = await get({ count: 1, ackmode: 'reject_requeue_true', encoding: 'base64', truncate: 3 });
      expect(again.body).toEqual([
        { payload_bytes: 9, redelivered: true, exchange: '', routing_key: q, message_count: 4, properties: { message_id: 'message-' }, payload: Buffer.from('mes').toString('base64'), payload_encoding: 'base64' },
      ]);
      expect((await m.api('GET', `/api/queues/%2F/${enc(q)}`)).body).toMatchObject({ messages_ready: 5, messages_unacknowledged: 0 });

      const taken = await get({ count: 3, ackmode: 'ack_requeue_false', encoding: 'auto' });
      expect(taken.body.map((g: any) => g.payload)).toEqual(['message-1', 'message-2', 'message-3']);
      const dropped = await get({ count: 10, ackmode: 'reject_requeue_false', encoding: 'auto' });
      expect(dropped.body.map((g: any) => [g.payload, g.payload_encoding])).toEqual([['message-4', 'string'], [Buffer.from([0xff, 0x00, 0x80]).toString('base64'), 'base64']]);
      expect((await get({ count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' })).body).toEqual([]);
      const stats = (await m.api('GET', `/api/queues/%2F/${enc(q)}`)).body;
      expect(stats).toMatchObject({ messages: 0 });
      expect(stats.message_stats).toMatchObject({ publish: 5, deliver_get: 2 + 1 + 3 + 2, ack: 3 });

      expect((await get({ count: 1, ackmode: 'sometimes', encoding: 'auto' })).status).toBe(400);
      // as RabbitMQ's, which gets through a channel: that channel's 404, not "Object Not Found"
      expect(await m.api('POST', '/api/queues/%2F/nope/get', { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' })).toMatchObject({
        status: 404,
        body: { error: 'not_found', reason: "NOT_FOUND - no queue 'nope' in vhost '/'" },
      });
      expect(await m.api('POST', '/api/exchanges/%2F/nope/publish', { routing_key: '', payload: '', payload_encoding: 'string', properties: {} })).toMatchObject({
        status: 400,
        body: { error: 'bad_request', reason: "404 NOT_FOUND - no exchange 'nope' in vhost '/'" },
      });
      const internal = uniq('internal');
      expect((await m.api('PUT', `/api/exchanges/%2F/${internal}`, { type: 'direct', internal: true })).status).toBe(201);
      expect(await m.api('POST', `/api/exchanges/%2F/${internal}/publish`, { routing_key: '', payload: '', payload_encoding: 'string', properties: {} })).toMatchObject({
        status: 400,
        body: { error: 'bad_request', reason: `403 ACCESS_REFUSED - cannot publish to internal exchange '${internal}' in vhost '/'` },
      });
      const wrongUser = await m.api('POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: q, payload: '', payload_encoding: 'string', properties: { user_id: 'someone' } });
      expect(wrongUser).toMatchObject({ status: 400, body: { error: 'bad_request', reason: "406 PRECONDITION_FAILED - user_id property set to 'someone' but authenticated user was 'guest'" } });
    });
  });
}
