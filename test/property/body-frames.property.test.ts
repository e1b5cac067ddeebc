/**
 * Bodies of every size, in one body frame or split into frames of random sizes,
 * arrive byte for byte and in order: published plainly, inside a transaction
 * (kept until the commit), and returned (mandatory, unroutable). A publisher's
 * messages go out in one socket write or several, so a frame may end anywhere
 * in a chunk; with a pause between writes each is a read of its own, and a
 * publish whose frames span reads must survive the broker's reuse of its read
 * buffer (read-buffer.ts). Raw frames with frame_max 4096 on the publishing side; an amqplib
 * consumer on the other; shards inline and in worker threads.
 */
import fc from 'fast-check';
import type { Channel, ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, channel, connect, start, subscribe, within } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';
import { RawClient, frame, method, queueDeclare, shortstr, u16, u32, u8 } from '../wire/raw-client.js';

const FRAME_MAX = 4096;
const MAX_PAYLOAD = FRAME_MAX - 8;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const MANDATORY = 1;
const MESSAGE_ID_FLAG = 0x0080;

type Kind = 'plain' | 'tx' | 'returned';
interface Publish {
  kind: Kind;
  size: number;
  /** frame payload sizes the body is cut into, each 1..MAX_PAYLOAD (one frame when it fits and `whole`) */
  cuts: number[];
}

const publishArb: fc.Arbitrary<Publish> = fc
  .record({
    kind: fc.constantFrom<Kind>('plain', 'plain', 'tx', 'returned'),
    size: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: MAX_PAYLOAD - 2, max: MAX_PAYLOAD + 2 }), fc.integer({ min: 0, max: 3 * MAX_PAYLOAD + 100 })),
    whole: fc.boolean(),
    seed: fc.array(fc.integer({ min: 1, max: MAX_PAYLOAD }), { minLength: 1, maxLength: 12 }),
  })
  .map(({ kind, size, whole, seed }) => ({ kind, size, cuts: cut(size, whole, seed) }));

/** Splits `size` into frame payloads: as few as fit when `whole`, else the seed's sizes (then MAX_PAYLOAD) in turn. */
function cut(size: number, whole: boolean, seed: number[]): number[] {
  const cuts: number[] = [];
  for (let left = size, i = 0; left > 0; i++) {
    const n = Math.min(left, whole || i >= seed.length ? MAX_PAYLOAD : seed[i]);
    cuts.push(n);
    left -= n;
  }
  return cuts;
}

/** A numbered body: its number, then bytes that depend on the number and position. */
function body(n: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  const label = Buffer.from(`#${n}#`);
  label.copy(b, 0, 0, Math.min(size, label.length));
  for (let i = label.length; i < size; i++) b[i] = (n * 31 + i * 7) & 0xff;
  return b;
}

describe.each(MODES)('bodies framed every way, $name', ({ workers }) => {
  let broker: RunningBroker;
  let client: RawClient;
  let consumerConn: ChannelModel;
  let consumerCh: Channel;
  const queue = `body-frames-${workers}`;
  let n = 0;

  beforeAll(async () => {
    broker = await start(workers);
    consumerConn = await connect(broker.url);
    consumerCh = await channel(consumerConn);
    await consumerCh.assertQueue(queue);

    client = await RawClient.open(broker.port);
    client.socket.setNoDelay(true); // a write after a pause is a segment, and a read, of its own
    await client.handshake(0, FRAME_MAX);
    // channel 1 publishes plainly, channel 2 in a transaction
    client.send(method(1, 20, 10, shortstr('')), method(2, 20, 10, shortstr('')), method(2, 90, 10));
    for (const [ch, cls, m] of [[1, 20, 11], [2, 20, 11], [2, 90, 11]]) await expectFrame(ch, cls, m);
  });

  afterAll(async () => {
    client?.destroy();
    await consumerConn?.close().catch(() => {});
    await broker?.close();
  });

  async function expectFrame(ch: number, classId: number, methodId: number, type = 1) {
    const f = await client.readFrame();
    expect(f, 'the server closed the socket').not.toBeNull();
    expect([f!.type, f!.channel, f!.classId, f!.methodId]).toEqual([type, ch, classId, methodId]);
    return f!;
  }

  /** basic.publish, its header (message-id `id`) and `content` cut into body frames of `cuts` bytes. */
  function frames(ch: number, routingKey: string, flags: number, id: string, content: Buffer, cuts: number[], exchange = ''): Buffer[] {
    const out = [
      method(ch, 60, 40, u16(0), shortstr(exchange), shortstr(routingKey), u8(flags)),
      frame(FRAME_HEADER, ch, Buffer.concat([u16(60), u16(0), u32(0), u32(content.length), u16(MESSAGE_ID_FLAG), shortstr(id)])),
    ];
    let at = 0;
    for (const size of cuts) {
      out.push(frame(FRAME_BODY, ch, content.subarray(at, at + size)));
      at += size;
    }
    return out;
  }

  /** Reads one basic.return and its content; returns its message-id and body. */
  async function readReturn(): Promise<string> {
    await expectFrame(1, 60, 50);
    const header = await client.readFrame();
    expect(header!.type).toBe(FRAME_HEADER);
    const size = header!.payload.readUInt32BE(8);
    expect(header!.payload.readUInt16BE(12)).toBe(MESSAGE_ID_FLAG);
    const id = header!.payload.subarray(15, 15 + header!.payload[14]).toString();
    const parts: Buffer[] = [];
    for (let got = 0; got < size; ) {
      const f = await client.readFrame();
      expect(f!.type).toBe(FRAME_BODY);
      parts.push(f!.payload);
      got += f!.payload.length;
    }
    return `${id} ${Buffer.concat(parts).toString('hex')}`;
  }

  it('every body arrives whole, once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(publishArb, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), async (publishes, writes, pause) => {
        // each expected message as "message-id body-hex", per kind in publish order
        const expected: Record<Kind, string[]> = { plain: [], tx: [], returned: [] };
        const wire: Buffer[] = [];
        for (const p of publishes) {
          const id = `${p.kind}-${++n}`;
          const content = body(n, p.size);
          expected[p.kind].push(`${id} ${content.toString('hex')}`);
          if (p.kind === 'plain') wire.push(...frames(1, queue, 0, id, content, p.cuts));
          else if (p.kind === 'tx') wire.push(...frames(2, queue, 0, id, content, p.cuts));
          else wire.push(...frames(1, `nowhere-${n}`, MANDATORY, id, content, p.cuts));
        }
        const bytes = Buffer.concat(wire);
        // the same bytes in `writes` socket writes, cut anywhere
        const step = Math.ceil(bytes.length / writes);
        for (let at = 0; at < bytes.length; at += step) {
          client.send(bytes.subarray(at, at + step));
          if (pause) await new Promise((resolve) => setTimeout(resolve, 5));
        }
        client.send(method(2, 90, 20)); // tx.commit

        const returned: string[] = [];
        for (let i = 0; i < expected.returned.length; i++) returned.push(await readReturn());
        await expectFrame(2, 90, 21);
        expect(returned).toEqual(expected.returned);

        const total = expected.plain.length + expected.tx.length;
        const inbox = await subscribe(consumerCh, queue);
        const got = await within(inbox.waitFor(total, 5000), 6000, `${total} messages`);
        await consumerCh.cancel(inbox.consumerTag);
        const seen = got.map((m) => `${m.properties.messageId} ${m.content.toString('hex')}`);
        // each channel's messages in their order; the two channels interleave freely
        expect(seen.filter((s) => s.startsWith('plain-'))).toEqual(expected.plain);
        expect(seen.filter((s) => s.startsWith('tx-'))).toEqual(expected.tx);
        expect(got.some((m) => m.fields.redelivered)).toBe(false);
        expect(inbox.messages.length, 'no message twice').toBe(total);
      }),
      { numRuns: 25 },
    );
  });

  it('a publish whose method, header and body frames come in reads of their own arrives whole', async () => {
    // Its exchange and routing key lie in the first read's buffer, its properties
    // in the second's: neither buffer may be read into while the body is awaited.
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = `spread-${++n}`;
      const content = body(n, 100 + i);
      sent.push(`${id} ${content.toString('hex')}`);
      for (const f of frames(1, queue, 0, id, content, [content.length])) {
        client.send(f);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    const inbox = await subscribe(consumerCh, queue);
    const got = await within(inbox.waitFor(sent.length, 5000), 6000, `${sent.length} messages`);
    await consumerCh.cancel(inbox.consumerTag);
    expect(got.map((m) => `${m.properties.messageId} ${m.content.toString('hex')}`)).toEqual(sent);
  });

  // Inline, the shard works between the reads and keeps up: the declare never waits that long.
  it.skipIf(workers === 0)('frames waiting behind a busy channel survive the reads that come after them', async () => {
    // Channel 3's queue.declare goes to the shard behind a flood of publishes
    // fanned out to many queues, so the channel waits; what it gets meanwhile
    // waits in its backlog as views of the chunks it came in, while later
    // writes are read. Channel 4's open-ok says the declare has been read.
    const fan = `${queue}-fan`;
    const fanned = Array.from({ length: 40 }, (_, i) => `${fan}-${i}`);
    await consumerCh.assertExchange(fan, 'fanout', { autoDelete: false });
    for (const q of fanned) {
      await consumerCh.assertQueue(q);
      await consumerCh.bindQueue(q, fan, '');
    }
    client.send(method(3, 20, 10, shortstr('')));
    await expectFrame(3, 20, 11);
    const flood = Array.from({ length: 10_000 }, (_, i) => Buffer.concat(frames(1, '', 0, `flood-${i}`, body(i, 8), [8], fan)));
    const held: string[] = [];
    const heldPublish = () => {
      const id = `held-${++n}`;
      const content = body(n, 24);
      held.push(`${id} ${content.toString('hex')}`);
      return frames(3, queue, 0, id, content, [content.length]);
    };
    // The first two right behind the declare, in the same write: read in the turn that
    // made the channel wait (its reply cannot come before that turn ends), whatever the
    // machine's load. The rest 2 ms apart, in reads of their own, while it may still wait.
    client.send(...flood, queueDeclare(3, `${queue}-declared`), ...heldPublish(), ...heldPublish(), method(4, 20, 10, shortstr('')));
    await expectFrame(4, 20, 11);
    for (let i = 0; i < 4; i++) {
      client.send(...heldPublish());
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await expectFrame(3, 50, 11);

    const inbox = await subscribe(consumerCh, queue);
    const got = await within(inbox.waitFor(held.length, 5000), 6000, `${held.length} messages`);
    await consumerCh.cancel(inbox.consumerTag);
    expect(got.map((m) => `${m.properties.messageId} ${m.content.toString('hex')}`)).toEqual(held);
    for (const q of fanned) expect((await consumerCh.deleteQueue(q)).messageCount).toBe(flood.length);
    await consumerCh.deleteExchange(fan);
  });
});
