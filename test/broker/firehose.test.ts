/**
 * The firehose (rabbitmqctl trace_on, a vhost's `tracing`), as RabbitMQ 3.10.8
 * traces (checked beside it): while a vhost traces, each publish there is
 * copied to amq.rabbitmq.trace as "publish.EXCHANGE" and each delivery or
 * basic.get-ok as "deliver.QUEUE", with the message's body and headers that
 * describe it (a publish's routing_keys with its CC and BCC keys, a
 * delivery's with CC only: warren stores no BCC). Every message is numbered;
 * every publish and every delivery must have exactly one copy, and nothing is
 * copied while tracing is off.
 */
import type { Channel, ChannelModel, GetMessage, Options } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, confirmChannel, connect, eventually, sleep, subscribe, uniq } from '../helpers.js';
import { managedBroker, type ManagedBroker } from '../management/support.js';
import { txMethod } from '../wire/amqplib-codec.js';
import { propertiesBytes } from '../property/arbitraries.js';
import { Wire, entryOf, propertiesOf, tableEntriesOf, typed } from '../wire/property-wire.js';
import { u32 } from '../wire/raw-client.js';

interface Trace {
  key: string;
  body: string;
  headers: Record<string, any>;
}

/** Collects every copy the vhost's firehose sends. */
async function traceInbox(ch: Channel): Promise<Trace[]> {
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, 'amq.rabbitmq.trace', '#');
  const traces: Trace[] = [];
  await ch.consume(queue, (m) => m && traces.push({ key: m.fields.routingKey, body: m.content.toString(), headers: m.properties.headers ?? {} }), { noAck: true });
  return traces;
}

/** The shortstr properties by flag bit and the names a trace's properties table gives them. */
const STRING_PROPERTIES: [number, string][] = [
  [0x8000, 'content_type'], [0x4000, 'content_encoding'], [0x0400, 'correlation_id'], [0x0200, 'reply_to'], [0x0100, 'expiration'],
  [0x0080, 'message_id'], [0x0020, 'type'], [0x0010, 'user_id'], [0x0008, 'app_id'], [0x0004, 'cluster_id'],
];

const tracing = (m: ManagedBroker, vhost: string, on: boolean) => m.api('PUT', `/api/vhosts/${encodeURIComponent(vhost)}`, { tracing: on });

/** The properties table a trace carries: the message's properties by RabbitMQ's names. */
function propertiesTable(p: Options.Publish): Record<string, unknown> {
  const table: Record<string, unknown> = {};
  if (p.contentType !== undefined) table.content_type = p.contentType;
  if (p.headers !== undefined) table.headers = p.headers;
  if (p.deliveryMode !== undefined) table.delivery_mode = p.deliveryMode;
  if (p.priority !== undefined) table.priority = p.priority;
  if (p.messageId !== undefined) table.message_id = p.messageId;
  if (p.timestamp !== undefined) table.timestamp = p.timestamp;
  if (p.appId !== undefined) table.app_id = p.appId;
  return table;
}

const properties: fc.Arbitrary<Options.Publish> = fc.record(
  {
    contentType: fc.constantFrom('text/plain', 'application/json'),
    deliveryMode: fc.constantFrom(1, 2),
    priority: fc.integer({ min: 0, max: 9 }),
    messageId: fc.string({ maxLength: 8 }),
    timestamp: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    appId: fc.constantFrom('rig', 'é'),
    headers: fc.record({ n: fc.integer({ min: -1000, max: 1000 }), s: fc.string({ maxLength: 5 }) }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

for (const mode of MODES) {
  describe(`the firehose (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('copies each publish once and each delivery and get once, with the headers RabbitMQ 3.10.8 writes; nothing while off', async () => {
      const conn: ChannelModel = await connect(m.broker.url);
      const publisherConn = await connect(m.broker.url);
      const ch = await confirmChannel(publisherConn);
      const traces = await traceInbox(await conn.createChannel());
      expect((await tracing(m, '/', true)).status).toBe(204);
      expect((await m.api('GET', '/api/vhosts/%2F')).body.tracing).toBe(true);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ to: fc.constantFrom('queue', 'direct', 'fanout', 'nowhere', 'cc'), properties, deliver: fc.constantFrom('consume', 'get', 'requeue-then-get') }), { minLength: 1, maxLength: 12 }),
          async (messages) => {
            traces.length = 0;
            const queue = uniq('fh-q');
            await ch.assertQueue(queue, { exclusive: true });
            await ch.bindQueue(queue, 'amq.direct', queue);
            const fanned = uniq('fh-x');
            await ch.assertExchange(fanned, 'fanout', { autoDelete: true });
            await ch.bindQueue(queue, fanned, '');
            const expected: { key: string; body: string; headers: Record<string, unknown> }[] = [];
            const origin = { vhost: '/', channel: 1, user: 'guest' };
            /** per message: the routing_keys of its deliveries' copies (a publish's copy has the BCC keys too) */
            const deliveredKeys: string[][] = [];
            messages.forEach(({ to, properties: p }, i) => {
              const body = `m${i}`;
              const props = to === 'cc' ? { ...p, CC: [queue], BCC: ['fh-missing'] } : p;
              const [exchange, key, routed] =
                to === 'queue' || to === 'cc' ? ['', to === 'cc' ? 'fh-other' : queue, to === 'cc' ? ['fh-missing', 'fh-other', queue].sort() : [queue]]
                : to === 'direct' ? ['amq.direct', queue, [queue]]
                : to === 'fanout' ? [fanned, 'any', [queue]]
                : ['amq.direct', 'fh-unbound', []];
              ch.publish(exchange as string, key as string, Buffer.from(body), props);
              // The message as stored: BCC is removed, CC stays.
              const sent = to === 'cc' ? { ...p, headers: { ...(p.headers ?? {}), CC: [queue] } } : { ...p, headers: p.headers ?? {} };
              deliveredKeys.push(to === 'cc' ? [key as string, queue] : [key as string]);
              expected.push({
                key: `publish.${exchange}`,
                body,
                headers: { exchange_name: exchange, routing_keys: to === 'cc' ? [key, queue, 'fh-missing'] : [key], properties: propertiesTable(sent), node: expect.stringMatching(/^rabbit@/), ...origin, connection: expect.any(String), routed_queues: routed },
              });
            });
            await ch.waitForConfirms();
            // Deliveries: a consumer for some, basic.get for the rest, some requeued and got again.
            const reader = await publisherConn.createChannel();
            const readerChannel = (reader as unknown as { ch: number }).ch; // amqplib's channel number
            const stored = messages.map((msg, i) => ({ ...msg, i })).filter(({ to }) => to !== 'nowhere');
            const deliveries: { body: string; redelivered: boolean; channel: number }[] = [];
            const gets = stored.filter(({ deliver }) => deliver !== 'consume');
            for (let n = 0; n < gets.length; n++) {
              const got = (await reader.get(queue, { noAck: false })) as GetMessage;
              deliveries.push({ body: got.content.toString(), redelivered: got.fields.redelivered, channel: readerChannel });
              if (gets.some(({ i, deliver }) => `m${i}` === got.content.toString() && deliver === 'requeue-then-get') && !got.fields.redelivered) {
                reader.nack(got, false, true);
                n--;
              } else reader.ack(got);
            }
            const left = stored.length - gets.length;
            if (left > 0) {
              const inbox = await subscribe(reader, queue, { noAck: true });
              for (const got of await inbox.waitFor(left)) deliveries.push({ body: got.content.toString(), redelivered: got.fields.redelivered, channel: readerChannel });
            }
            for (const d of deliveries) {
              // A delivery's copy describes the message as its publish's did, less routed_queues, plus redelivered.
              const { routed_queues: _, ...published } = expected[Number(d.body.slice(1))]!.headers;
              const i = Number(d.body.slice(1));
              expected.push({ key: `deliver.${queue}`, body: d.body, headers: { ...published, routing_keys: deliveredKeys[i], redelivered: d.redelivered ? 1 : 0, channel: d.channel } });
            }
            await eventually(() => expect(traces.length).toBe(expected.length));
            const order = (t: { key: string; body: string; headers: Record<string, unknown> }) => `${t.key} ${t.body} ${t.headers.redelivered ?? ''}`;
            const sorted = (list: typeof expected) => [...list].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
            expect(sorted(traces)).toEqual(sorted(expected));
            // One connection published and read: every copy names it as warren names it.
            expect(new Set(traces.map((t) => t.headers.connection)).size).toBe(1);
            await reader.close();
            await ch.deleteQueue(queue);
          },
        ),
        { numRuns: 15 },
      );
      // The copies name the connection as the management API does.
      const named = ((await m.api('GET', '/api/connections')).body as { name: string }[]).map((c) => c.name);
      expect(named).toContain(traces[0]!.headers.connection);

      expect((await tracing(m, '/', false)).status).toBe(204);
      traces.length = 0;
      const quiet = uniq('fh-quiet');
      await ch.assertQueue(quiet, { exclusive: true });
      ch.sendToQueue(quiet, Buffer.from('off'));
      await ch.waitForConfirms();
      expect(await ch.get(quiet, { noAck: true })).toMatchObject({ content: Buffer.from('off') });
      await sleep(100);
      expect(traces).toEqual([]);
      await publisherConn.close();
      await conn.close();
    });

    it("copies a transaction's publishes as they come, rolled back ones too, each once, routed as they were then (RabbitMQ 3.10.8)", async () => {
      const conn = await connect(m.broker.url);
      const ch = await conn.createChannel();
      const traces = await traceInbox(ch);
      const queue = uniq('fh-txq');
      const exchange = uniq('fh-txx');
      await ch.assertQueue(queue, { exclusive: true });
      await ch.assertExchange(exchange, 'fanout', { autoDelete: false });
      await ch.bindQueue(queue, exchange, '');
      expect((await tracing(m, '/', true)).status).toBe(204);
      const tx = await conn.createChannel();
      await txMethod(tx, 'TxSelect');
      tx.publish(exchange, 'k', Buffer.from('r1'));
      await txMethod(tx, 'TxRollback');
      tx.publish(exchange, 'k', Buffer.from('c1'));
      await txMethod(tx, 'TxSelect'); // a round trip: c1 was read before the unbind
      await ch.unbindQueue(queue, exchange, '');
      tx.publish(exchange, 'k', Buffer.from('c2'));
      await txMethod(tx, 'TxCommit');
      await eventually(() => expect(traces.map((t) => `${t.key} ${t.body} ${JSON.stringify(t.headers.routed_queues)}`)).toEqual([
        `publish.${exchange} r1 ["${queue}"]`,
        `publish.${exchange} c1 ["${queue}"]`,
        `publish.${exchange} c2 []`,
      ]));
      await sleep(100);
      expect(traces).toHaveLength(3); // the commit copies nothing again
      expect((await ch.checkQueue(queue)).messageCount).toBe(1);
      expect((await tracing(m, '/', false)).status).toBe(204);
      await ch.deleteExchange(exchange);
      await conn.close();
    });

    it('a copy carries the headers and string properties as they came, byte for byte, every type letter kept (fast-check over raw property lists)', async () => {
      const conn = await connect(m.broker.url);
      const ch = await conn.createChannel();
      const { queue: traceQueue } = await ch.assertQueue('', { autoDelete: true });
      await ch.bindQueue(traceQueue, 'amq.rabbitmq.trace', '#');
      const queue = uniq('fh-raw');
      await ch.assertQueue(queue);
      expect((await tracing(m, '/', true)).status).toBe(204);
      const wire = await Wire.open(m.broker.port);
      // with headers, none of them CC or BCC (those change the message's route and its copy's routing_keys)
      const withHeaders = propertiesBytes().filter((p) => propertiesOf(p).values.has(0x2000) && !propertiesOf(p).headers.some((e) => /^B?CC$/.test(e.key.toString('latin1'))));
      try {
        await fc.assert(
          fc.asyncProperty(withHeaders, async (sent) => {
            wire.publish(queue, sent, 'raw');
            await wire.get(queue, true);
            const table = Buffer.concat([Buffer.from('F'), propertiesOf(sent).values.get(0x2000)!]);
            for (const key of ['publish.', `deliver.${queue}`]) {
              const copy = propertiesOf((await wire.get(traceQueue, true)).properties).headers;
              expect(typed(entryOf(copy, 'routing_keys')!.value)).toEqual(['A', [['S', queue]]]);
              const copied = tableEntriesOf(entryOf(copy, 'properties')!.value);
              expect(entryOf(copied, 'headers')?.value.toString('hex'), key).toBe(table.toString('hex'));
              for (const [bit, name] of STRING_PROPERTIES) {
                const raw = propertiesOf(sent).values.get(bit);
                const want = raw === undefined ? undefined : Buffer.concat([Buffer.from('S'), u32(raw.length - 1), raw.subarray(1)]).toString('hex');
                expect(entryOf(copied, name)?.value.toString('hex'), `${key} ${name}`).toBe(want);
              }
            }
          }),
          { numRuns: 20 },
        );
      } finally {
        wire.close();
        expect((await tracing(m, '/', false)).status).toBe(204);
        await ch.deleteQueue(queue);
        await conn.close();
      }
    });

    it('a vhost deleted while it traced and made again traces again, as RabbitMQ 3.10.8 remembers the name; one turned off first does not', async () => {
      const name = uniq('fh-again');
      const path = `/api/vhosts/${name}`;
      const grant = () => m.api('PUT', `/api/permissions/${name}/guest`, { configure: '.*', write: '.*', read: '.*' });
      expect((await m.api('PUT', path, {})).status).toBe(201);
      expect((await tracing(m, name, true)).status).toBe(204);
      expect((await m.api('DELETE', path)).status).toBe(204);
      expect((await m.api('PUT', path, {})).status).toBe(201);
      expect((await m.api('GET', path)).body.tracing).toBe(true);
      await grant();
      const url = new URL(m.broker.url);
      url.pathname = `/${name}`;
      const conn = await connect(url.toString());
      const ch = await confirmChannel(conn);
      const traces = await traceInbox(ch);
      const { queue } = await ch.assertQueue('', { exclusive: true });
      ch.sendToQueue(queue, Buffer.from('m0'));
      await ch.waitForConfirms();
      await eventually(() => expect(traces.map((t) => `${t.key} ${t.body}`)).toEqual(['publish. m0']));
      await conn.close();
      expect((await tracing(m, name, false)).status).toBe(204);
      expect((await m.api('DELETE', path)).status).toBe(204);
      expect((await m.api('PUT', path, {})).status).toBe(201);
      expect((await m.api('GET', path)).body.tracing).toBe(false);
      expect((await m.api('DELETE', path)).status).toBe(204);
    });

    it('traces one vhost, not another; a PUT without tracing keeps it; a non-boolean is a 400; amq.rabbitmq.trace is internal', async () => {
      const [traced, other] = [uniq('fh-vh'), uniq('fh-vh')];
      // (the API grants the vhost's creator, guest, its permissions)
      for (const vhost of [traced, other]) expect((await m.api('PUT', `/api/vhosts/${vhost}`)).status).toBe(201);
      expect((await tracing(m, traced, true)).status).toBe(204);
      expect((await m.api('PUT', `/api/vhosts/${traced}`, { description: 'kept tracing' })).status).toBe(204);
      expect((await m.api('GET', `/api/vhosts/${traced}`)).body).toMatchObject({ tracing: true, description: 'kept tracing' });
      expect((await m.api('PUT', `/api/vhosts/${traced}`, { tracing: 'yes' })).status).toBe(400);
      expect((await m.api('GET', `/api/exchanges/${other}/amq.rabbitmq.trace`)).body).toMatchObject({ type: 'topic', durable: true, internal: true });

      const counts: number[] = [];
      for (const vhost of [traced, other]) {
        const url = new URL(m.broker.url);
        url.pathname = `/${encodeURIComponent(vhost)}`;
        const conn = await connect(url.toString());
        const ch = await confirmChannel(conn);
        const traces = await traceInbox(ch);
        const { queue } = await ch.assertQueue('', { exclusive: true });
        for (let i = 0; i < 5; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
        await ch.waitForConfirms();
        for (let i = 0; i < 5; i++) expect(((await ch.get(queue, { noAck: true })) as GetMessage).content.toString()).toBe(`m${i}`);
        await sleep(100);
        counts.push(traces.length);
        // A client may not publish to it: it is internal.
        const refused = new Promise((resolve) => ch.once('error', resolve));
        ch.publish('amq.rabbitmq.trace', 'x', Buffer.from('no'));
        expect(String(await refused)).toMatch(/403/);
        await conn.close().catch(() => {});
      }
      expect(counts).toEqual([10, 0]);
      for (const vhost of [traced, other]) expect((await m.api('DELETE', `/api/vhosts/${vhost}`)).status).toBe(204);
    });
  });
}
