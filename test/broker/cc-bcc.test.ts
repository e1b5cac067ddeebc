/**
 * Sender-selected distribution (RabbitMQ's CC and BCC headers): their longstr
 * items are more routing keys for the same exchange, a queue gets the message
 * once however many keys name it, BCC is removed before delivery and CC stays.
 * Queues sit on different shards; every message is numbered and each queue's
 * exact contents are checked after the publisher's confirms.
 */
import type { ConfirmChannel, GetMessage, Message } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, closedWith, confirmChannel, uniq, useBroker } from '../helpers.js';
import { nameOnShard } from './on-shard.js';
import { FRAME_METHOD, RawClient, frame, longstr, method, shortstr, u16, u8, type Frame } from '../wire/raw-client.js';

const FRAME_HEADER = 2;
const FRAME_BODY = 3;

/** A field table from [key, type letter + value] pairs. */
function table(entries: [string, Buffer][]): Buffer {
  const body = Buffer.concat(entries.flatMap(([k, v]) => [shortstr(k), v]));
  return Buffer.concat([u32be(body.length), body]);
}
const u32be = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
/** An 'A' value of longstrs. */
function array(...items: string[]): Buffer {
  const body = Buffer.concat(items.map((s) => Buffer.concat([Buffer.from('S'), longstr(s)])));
  return Buffer.concat([Buffer.from('A'), u32be(body.length), body]);
}
/** basic.publish to the default exchange with a headers property, header and body frames. */
function rawPublish(queue: string, headers: Buffer, body: string): Buffer[] {
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(Buffer.byteLength(body)));
  return [
    method(1, 60, 40, u16(0), shortstr(''), shortstr(queue), u8(0)),
    frame(FRAME_HEADER, 1, Buffer.concat([u16(60), u16(0), size, u16(0x2000), headers])),
    frame(FRAME_BODY, 1, Buffer.from(body)),
  ];
}

/** The next method frame (content frames skipped), checked to be class.method on `channel`. */
async function expectOn(c: RawClient, ch: number, classId: number, methodId: number): Promise<Frame> {
  for (;;) {
    const f = await c.readFrame();
    expect(f, `expected ${classId}.${methodId}, the server closed the socket`).not.toBeNull();
    if (f!.type !== FRAME_METHOD) continue;
    expect([f!.channel, f!.classId, f!.methodId]).toEqual([ch, classId, methodId]);
    return f!;
  }
}

describe.each(MODES)('CC and BCC headers: $name', ({ workers }) => {
  const server = useBroker(workers);

  /** Everything in the queue, in order; the queue is left empty. */
  async function drain(ch: ConfirmChannel, queue: string): Promise<GetMessage[]> {
    const got: GetMessage[] = [];
    for (;;) {
      const msg = await ch.get(queue, { noAck: true });
      if (msg === false) return got;
      got.push(msg);
    }
  }

  async function queues(ch: ConfirmChannel, prefix: string, count: number): Promise<string[]> {
    const names = Array.from({ length: count }, (_, i) => nameOnShard(prefix, i, workers));
    for (const q of names) await ch.assertQueue(q, { exclusive: true });
    return names;
  }

  it('the default exchange delivers to the queues CC and BCC name, once each; BCC is gone, CC stays, the routing key is the publish’s', async () => {
    const ch = await confirmChannel(await server.connect());
    const [a, b, c, d] = await queues(ch, 'cc-ü€', 4);
    const N = 20;
    for (let i = 0; i < N; i++) {
      // a by its key and again by CC and BCC; b by CC twice; c by BCC; d by nothing
      ch.publish('', a, Buffer.from(`m${i}`), { headers: { CC: [b, a, b], BCC: [c, a], n: i } });
    }
    await ch.waitForConfirms();
    for (const q of [a, b, c]) {
      const got = await drain(ch, q);
      expect(got.map((m) => m.content.toString())).toEqual(Array.from({ length: N }, (_, i) => `m${i}`));
      for (const [i, m] of got.entries()) {
        expect(m.properties.headers).toEqual({ CC: [b, a, b], n: i });
        expect(m.fields.routingKey).toBe(a);
      }
    }
    expect(await drain(ch, d)).toEqual([]);
  });

  it('direct and topic exchanges match each key, also past an exchange-to-exchange binding on the way', async () => {
    const ch = await confirmChannel(await server.connect());
    const [q0, q1, q2] = await queues(ch, 'cc-x', 3);
    const direct = uniq('cc-direct');
    const topic = uniq('cc-topic');
    await ch.assertExchange(direct, 'direct', { autoDelete: true });
    await ch.assertExchange(topic, 'topic', { autoDelete: true });
    await ch.bindQueue(q0, direct, 'k0');
    await ch.bindExchange(topic, direct, 'to-topic');
    await ch.bindQueue(q1, topic, 'to-topic');
    await ch.bindQueue(q2, topic, 'k2.#');
    for (let i = 0; i < 10; i++) ch.publish(direct, 'k0', Buffer.from(`cc-${i}`), { headers: { CC: ['to-topic'] } });
    for (let i = 0; i < 10; i++) ch.publish(direct, 'nothing', Buffer.from(`bcc-${i}`), { headers: { BCC: ['k2.x', 'to-topic'] } });
    await ch.waitForConfirms();
    const numbered = (p: string) => Array.from({ length: 10 }, (_, i) => `${p}-${i}`);
    expect((await drain(ch, q0)).map((m) => m.content.toString())).toEqual(numbered('cc'));
    expect((await drain(ch, q1)).map((m) => m.content.toString())).toEqual([...numbered('cc'), ...numbered('bcc')]);
    // k2.x reached the topic exchange only because BCC's to-topic took the message there first
    expect((await drain(ch, q2)).map((m) => m.content.toString())).toEqual(numbered('bcc'));
  });

  it('an alternate exchange gets the message only when no key matched', async () => {
    const ch = await confirmChannel(await server.connect());
    const [bound, spare] = await queues(ch, 'cc-ae', 2);
    const ae = uniq('cc-ae-fanout');
    const x = uniq('cc-ae-direct');
    await ch.assertExchange(ae, 'fanout', { autoDelete: true });
    await ch.assertExchange(x, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': ae } });
    await ch.bindQueue(bound, x, 'yes');
    await ch.bindQueue(spare, ae, '');
    ch.publish(x, 'no', Buffer.from('m0'), { headers: { CC: ['yes'] } });
    ch.publish(x, 'no', Buffer.from('m1'), { headers: { CC: ['no-either'], BCC: ['nor-this'] } });
    await ch.waitForConfirms();
    expect((await drain(ch, bound)).map((m) => m.content.toString())).toEqual(['m0']);
    expect((await drain(ch, spare)).map((m) => m.content.toString())).toEqual(['m1']);
  });

  it('mandatory: routed by CC alone is not returned; returned messages have no BCC', async () => {
    const ch = await confirmChannel(await server.connect());
    const [q] = await queues(ch, 'cc-mand', 1);
    const returned: Message[] = [];
    ch.on('return', (m: Message) => returned.push(m));
    ch.publish('', uniq('nowhere'), Buffer.from('m0'), { mandatory: true, headers: { CC: [q] } });
    ch.publish('', uniq('nowhere'), Buffer.from('m1'), { mandatory: true, headers: { BCC: [uniq('nowhere')], keep: 'x' } });
    ch.publish('', uniq('nowhere'), Buffer.from('m2'), { mandatory: true, headers: { BCC: [] } });
    await ch.waitForConfirms();
    expect(returned.map((m) => [m.content.toString(), m.properties.headers])).toEqual([
      ['m1', { keep: 'x' }],
      ['m2', {}],
    ]);
    expect((await drain(ch, q)).map((m) => m.content.toString())).toEqual(['m0']);
  });

  it('array items that are not longstr are ignored; a CC or BCC that is not an array is a 406, as in RabbitMQ', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const [a, b] = await queues(ch, 'cc-types', 2);
    ch.publish('', a, Buffer.from('m0'), { headers: { CC: [1, b, true, Buffer.from(a), { q: b }] } });
    await ch.waitForConfirms();
    expect((await drain(ch, a)).map((m) => m.content.toString())).toEqual(['m0']);
    expect((await drain(ch, b)).map((m) => m.content.toString())).toEqual(['m0']);
    const cases: [Record<string, unknown>, string][] = [
      [{ CC: b }, '{unacceptable_type_in_header,"CC",longstr}'],
      [{ BCC: 7 }, '{unacceptable_type_in_header,"BCC",byte}'],
      [{ CC: 70000 }, '{unacceptable_type_in_header,"CC",signedint}'],
      [{ CC: { q: b } }, '{unacceptable_type_in_header,"CC",table}'],
    ];
    for (const [headers, term] of cases) {
      const bad = await confirmChannel(conn);
      const closing = closedWith(bad);
      bad.publish('', a, Buffer.from('refused'), { headers });
      expect(await closing).toEqual({ code: 406, text: `PRECONDITION_FAILED - invalid message: ${term}` });
    }
    expect(await drain(ch, a)).toEqual([]);
    expect(await drain(ch, b)).toEqual([]);
  });

  it('in a transaction: routed at commit with BCC removed, and a CC that is not an array refused at publish time', async () => {
    const conn = await server.connect();
    const check = await confirmChannel(conn);
    const [a, b, c] = await queues(check, 'cc-tx', 3);
    const raw = await RawClient.open(Number(new URL(server.url).port));
    await raw.handshake();
    raw.send(method(1, 20, 10, shortstr('')), method(1, 90, 10));
    await expectOn(raw, 1, 20, 11);
    await expectOn(raw, 1, 90, 11);
    const headers = table([['CC', array(b)], ['BCC', array(c, a)], ['n', Buffer.from('S\0\0\0\x01x', 'latin1')]]);
    for (let i = 0; i < 5; i++) raw.send(...rawPublish(a, headers, `tx${i}`));
    raw.send(method(1, 90, 10)); // a second select: a round trip, so the publishes were read
    await expectOn(raw, 1, 90, 11);
    for (const q of [a, b, c]) expect(await drain(check, q)).toEqual([]);
    raw.send(method(1, 90, 20));
    await expectOn(raw, 1, 90, 21);
    for (const q of [a, b, c]) {
      const got = await drain(check, q);
      expect(got.map((m) => m.content.toString())).toEqual(['tx0', 'tx1', 'tx2', 'tx3', 'tx4']);
      for (const m of got) expect(m.properties.headers).toEqual({ CC: [b], n: 'x' });
    }
    raw.send(...rawPublish(a, table([['CC', Buffer.concat([Buffer.from('S'), longstr(b)])]]), 'bad'));
    const close = await expectOn(raw, 1, 20, 40);
    expect(close.payload.subarray(7, 7 + close.payload[6]).toString()).toBe('PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,"CC",longstr}');
    raw.socket.destroy();
  });

  it('property: any headers with CC/BCC subsets of four queues reach exactly their union, once, without BCC', async () => {
    const ch = await confirmChannel(await server.connect());
    const names = await queues(ch, 'cc-prop-ß', 4);
    const key = fc.integer({ min: 0, max: 4 }); // 4: no such queue
    const keyList = fc.array(key, { maxLength: 6 });
    // amqplib decodes a table into a plain object, where a '__proto__' key is lost
    const others = fc.dictionary(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((k) => k !== 'CC' && k !== 'BCC' && k !== '__proto__' && Buffer.byteLength(k) < 256),
      fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.integer({ min: -1000, max: 1000 })),
      { maxKeys: 4 },
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(key, fc.option(keyList), fc.option(keyList), others, async (base, cc, bcc, rest) => {
        const n = run++;
        const nameOf = (i: number) => (i < 4 ? names[i] : uniq('nowhere'));
        const headers: Record<string, unknown> = { ...rest };
        if (cc !== null) headers.CC = cc.map(nameOf);
        if (bcc !== null) headers.BCC = bcc.map(nameOf);
        ch.publish('', nameOf(base), Buffer.from(`run${n}`), { headers });
        await ch.waitForConfirms();
        const expected = new Set([base, ...(cc ?? []), ...(bcc ?? [])].filter((i) => i < 4));
        const delivered = { ...headers };
        delete delivered.BCC;
        for (let i = 0; i < 4; i++) {
          const got = await drain(ch, names[i]);
          expect(got.map((m) => m.content.toString())).toEqual(expected.has(i) ? [`run${n}`] : []);
          for (const m of got) expect(m.properties.headers).toEqual(delivered);
        }
      }),
      { numRuns: 40 },
    );
  });
});
