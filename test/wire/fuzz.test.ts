/**
 * Random frames after a good handshake: whatever arrives, the broker answers with
 * a close or carries on, never crashes, and other clients keep their messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, channel, collect, connect, start } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';
import { RawClient, frame, method, shortstr, u16, u8, u32 } from './raw-client.js';

/** A small deterministic generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

/** Frames that are plausible enough to get past the framing layer. */
function randomFrame(r: () => number): Buffer {
  const kind = Math.floor(r() * 6);
  const ch = Math.floor(r() * 3);
  const junk = Buffer.from(Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256)));
  switch (kind) {
    case 0: // a known method id with random arguments
      return method(ch, [10, 20, 40, 50, 60, 85, 90][Math.floor(r() * 7)], Math.floor(r() * 12) * 10 + (r() < 0.5 ? 0 : 1), junk);
    case 1: // channel.open, so later frames reach channel code
      return method(ch, 20, 10, shortstr(''));
    case 2: // basic.publish then a header and a body
      return Buffer.concat([
        method(ch, 60, 40, u16(0), shortstr(''), shortstr('fuzz'), u8(Math.floor(r() * 4))),
        frame(2, ch, Buffer.concat([u16(60), u16(0), u32(0), u32(junk.length), u16(0)])),
        frame(3, ch, junk),
      ]);
    case 3: // a content frame out of place
      return frame(2 + Math.floor(r() * 2), ch, junk);
    case 4: // an unknown frame type
      return frame(4 + Math.floor(r() * 4), ch, junk);
    default: // raw garbage inside a method frame
      return frame(1, ch, junk);
  }
}

describe.each(MODES)('fuzzed frames, $name', ({ workers }) => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start(workers);
  });
  afterAll(() => broker.close());

  it('survives 150 connections of random frames; a bystander keeps every message', async () => {
    const bystander = await connect(broker.url);
    const ch = await channel(bystander);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const r = rng(workers + 7);
    let sent = 0;
    for (let i = 0; i < 150; i++) {
      ch.sendToQueue(queue, Buffer.from(`m${i}`));
      sent++;
      const client = await RawClient.open(broker.port);
      await client.handshake();
      for (let j = 0; j < 8; j++) client.send(randomFrame(r));
      // The server either closes the connection or keeps it; both are fine, a crash is not.
      await Promise.race([client.closed, new Promise((resolve) => setTimeout(resolve, 20))]);
      client.destroy();
    }
    const got = await collect(ch, queue, sent);
    expect(got.map((m) => m.content.toString())).toEqual(Array.from({ length: sent }, (_, i) => `m${i}`));
    // And a new client can still do everything.
    const fresh = await connect(broker.url);
    const fch = await channel(fresh);
    const q2 = (await fch.assertQueue('', { exclusive: true })).queue;
    fch.sendToQueue(q2, Buffer.from('after'));
    expect((await collect(fch, q2, 1))[0].content.toString()).toBe('after');
    await fresh.close();
    await bystander.close();
  });
});
