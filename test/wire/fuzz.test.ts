/**
 * Random frames after a good handshake: whatever arrives, the broker answers with
 * a close or carries on, never crashes, and other clients keep their messages.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, channel, collect, connect, expectServesNewClient, start } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';
import { RawClient, frame, method, shortstr, u16, u8, u32 } from './raw-client.js';

/** Every (class, method) id pair of AMQP 0-9-1 and RabbitMQ's extensions, plus a few that do not exist. */
const METHOD_IDS: [number, number][] = [
  [10, 10], [10, 11], [10, 20], [10, 21], [10, 30], [10, 31], [10, 40], [10, 41], [10, 50], [10, 51], [10, 60], [10, 61], [10, 70], [10, 71],
  [20, 10], [20, 11], [20, 20], [20, 21], [20, 40], [20, 41],
  [40, 10], [40, 11], [40, 20], [40, 21], [40, 30], [40, 31], [40, 40], [40, 51],
  [50, 10], [50, 11], [50, 20], [50, 21], [50, 30], [50, 31], [50, 40], [50, 41], [50, 50], [50, 51],
  [60, 10], [60, 11], [60, 20], [60, 21], [60, 30], [60, 31], [60, 40], [60, 50], [60, 60], [60, 70], [60, 71], [60, 72],
  [60, 80], [60, 90], [60, 100], [60, 110], [60, 111], [60, 120],
  [85, 10], [85, 11], [90, 10], [90, 11], [90, 20], [90, 21], [90, 30], [90, 31],
  [0, 0], [99, 1], [60, 999],
];

const channelId = fc.integer({ min: 0, max: 3 });
const junk = fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes));

/** Frames plausible enough to get past the framing layer, and some that are not. */
const anyFrame: fc.Arbitrary<Buffer> = fc.oneof(
  // a known method id with random arguments
  fc.tuple(channelId, fc.constantFrom(...METHOD_IDS), junk).map(([ch, [cls, m], args]) => method(ch, cls, m, args)),
  // channel.open, so later frames reach channel code
  channelId.map((ch) => method(ch, 20, 10, shortstr(''))),
  // basic.publish then a header (any declared size, any flags) and a body
  fc.tuple(channelId, fc.integer({ min: 0, max: 3 }), junk, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 80 })).map(
    ([ch, bits, body, flags, declared]) =>
      Buffer.concat([
        method(ch, 60, 40, u16(0), shortstr(''), shortstr('fuzz'), u8(bits)),
        frame(2, ch, Buffer.concat([u16(60), u16(0), u32(0), u32(declared), u16(flags)])),
        frame(3, ch, body),
      ]),
  ),
  // a content frame out of place, an unknown frame type, a heartbeat on any channel
  fc.tuple(fc.integer({ min: 2, max: 12 }), channelId, junk).map(([type, ch, payload]) => frame(type, ch, payload)),
  // raw garbage inside a method frame, or a frame with a bad end octet
  fc.tuple(channelId, junk, fc.integer({ min: 0, max: 255 })).map(([ch, payload, end]) => frame(1, ch, payload, end)),
);

describe.each(MODES)('fuzzed frames, $name', ({ workers }) => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start(workers);
  });
  afterAll(() => broker.close());

  it('survives connections of arbitrary frame sequences; a bystander keeps every message', async () => {
    const bystander = await connect(broker.url);
    const ch = await channel(bystander);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(anyFrame, { minLength: 1, maxLength: 12 }), async (frames) => {
        ch.sendToQueue(queue, Buffer.from(`m${sent++}`));
        const client = await RawClient.open(broker.port);
        await client.handshake();
        for (const f of frames) client.send(f);
        // The server either closes the connection or keeps it; both are fine, a crash is not.
        await Promise.race([client.closed, new Promise((resolve) => setTimeout(resolve, 20))]);
        client.destroy();
      }),
      { numRuns: 150 },
    );
    const got = await collect(ch, queue, sent);
    expect(got.map((m) => m.content.toString())).toEqual(Array.from({ length: sent }, (_, i) => `m${i}`));
    await expectServesNewClient(broker.url);
    await bystander.close();
  });
});
