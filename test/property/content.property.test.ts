/**
 * Arbitrary content properties (every basic property, 255-byte shortstrs,
 * headers tables of every field type, nested tables and arrays) travel from
 * publisher to consumer byte for byte, through the default exchange and
 * through a headers exchange (which decodes them to route), with the shards
 * inline and in worker threads. Raw frames on both ends, so nothing is
 * re-encoded by a client library; a bystander connection keeps working.
 */
import fc from 'fast-check';
import type { Channel, ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, channel, connect, start, subscribe, within } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';
import { RawClient, frame, method, shortstr, u16, u32, u8 } from '../wire/raw-client.js';
import { EDGE_NAMES, propertiesBytes, shortstrBytes } from './arbitraries.js';

const FRAME_MAX = 131072;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;

describe.each(MODES)('content properties round trip, $name', ({ workers }) => {
  let broker: RunningBroker;
  let client: RawClient;
  let bystander: ChannelModel;
  let bystanderCh: Channel;
  const queue = `props-${workers}`;
  let n = 0;

  /** Reads the next frame on channel 1 and checks its type (and class.method for methods). */
  async function expectFrame(type: number, classId = 0, methodId = 0) {
    const f = await client.readFrame();
    expect(f, 'the server closed the socket').not.toBeNull();
    const close = f!.classId === 10 && f!.methodId === 50 ? f!.payload.subarray(7, 7 + f!.payload[6]).toString() : '';
    expect([f!.type, f!.channel, f!.classId, f!.methodId, close]).toEqual([type, 1, classId, methodId, '']);
    return f!;
  }

  beforeAll(async () => {
    broker = await start(workers);
    bystander = await connect(broker.url);
    bystanderCh = await channel(bystander);
    await bystanderCh.assertQueue('bystander');

    client = await RawClient.open(broker.port);
    await client.handshake(0, FRAME_MAX);
    client.send(method(1, 20, 10, shortstr('')));
    await expectFrame(1, 20, 11);
    client.send(method(1, 50, 10, u16(0), shortstr(queue), u8(0), u32(0)));
    await expectFrame(1, 50, 11);
    // no binding arguments: a headers exchange routes every message here, after decoding its headers
    client.send(method(1, 50, 20, u16(0), shortstr(queue), shortstr('amq.headers'), shortstr(''), u8(0), u32(0)));
    await expectFrame(1, 50, 21);
    client.send(method(1, 60, 20, u16(0), shortstr(queue), shortstr('c'), u8(2 /* no-ack */), u32(0)));
    await expectFrame(1, 60, 21);
  });

  afterAll(async () => {
    client?.destroy();
    await bystander?.close().catch(() => {});
    await broker?.close();
  });

  /** Publishes through both exchanges and checks both deliveries carry exactly these property bytes. */
  async function roundTrip(properties: Buffer): Promise<void> {
    const body = Buffer.from(`message ${++n}`);
    const header = () => frame(FRAME_HEADER, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(body.length), properties]));
    for (const exchange of ['', 'amq.headers']) {
      client.send(method(1, 60, 40, u16(0), shortstr(exchange), shortstr(queue), u8(0)), header(), frame(FRAME_BODY, 1, body));
    }
    for (const exchange of ['', 'amq.headers']) {
      const deliver = await expectFrame(1, 60, 60);
      const tagEnd = 4 + 1 + deliver.payload[4];
      const exchangeAt = tagEnd + 8 + 1;
      expect(deliver.payload.subarray(exchangeAt, exchangeAt + 1 + deliver.payload[exchangeAt]).equals(shortstrBytes(exchange))).toBe(true);
      const h = await expectFrame(FRAME_HEADER);
      expect(h.payload.readUInt32BE(8)).toBe(body.length);
      expect(h.payload.subarray(12).toString('hex')).toBe(properties.toString('hex'));
      const b = await expectFrame(FRAME_BODY);
      expect(b.payload.toString()).toBe(body.toString());
    }
    bystanderCh.sendToQueue('bystander', Buffer.from(`bystander ${n}`));
    const inbox = await subscribe(bystanderCh, 'bystander');
    expect((await within(inbox.waitFor(1), 3000, 'bystander message'))[0].content.toString()).toBe(`bystander ${n}`);
    await bystanderCh.cancel(inbox.consumerTag);
  }

  it('every property present, each shortstr 255 bytes, nested headers', async () => {
    for (const name of EDGE_NAMES.slice(0, 4)) {
      const s = shortstrBytes(name);
      const nested = Buffer.concat([s, Buffer.from('F'), u32(s.length + 1), s, Buffer.from('V')]);
      const array = Buffer.concat([Buffer.from('A'), u32(5 + s.length - 1 + 2), Buffer.from('S'), u32(s.length - 1), s.subarray(1), Buffer.from('t'), u8(1)]);
      const table = Buffer.concat([s, Buffer.from('F'), u32(nested.length), nested, shortstrBytes('list'), array]);
      const properties = Buffer.concat([
        u16(0xfffc),
        s, s, // content-type, content-encoding
        u32(table.length), table, // headers
        u8(2), u8(9), // delivery-mode, priority
        s, s, shortstrBytes('9'.repeat(255)), s, // correlation-id, reply-to, expiration (a count of ms, as RabbitMQ requires), message-id
        Buffer.from('00000000ffffffff', 'hex'), // timestamp
        s, shortstrBytes('guest'), s, s, // type, user-id, app-id, cluster-id
      ]);
      await roundTrip(properties);
    }
  });

  it('arbitrary properties and headers tables arrive byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        propertiesBytes().filter((p) => p.length < FRAME_MAX - 100),
        (properties) => roundTrip(properties),
      ),
      { numRuns: 50 },
    );
  });
});
