/**
 * The headers warren changes (a dead letter's x-death, a quorum queue's
 * x-delivery-count) leave every other header and property as it came, byte
 * for byte (a byte stays a byte, a timestamp a timestamp, a string that is
 * not UTF-8 its bytes), with the table sorted by key: what RabbitMQ 3.10.8
 * sends, compared here by type letter and bytes read off the wire.
 * The expected x-death histories were taken from RabbitMQ 3.10.8 with the
 * same publishes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, channel, sleep, uniq, useBroker } from '../helpers.js';
import { fieldValueBytes, propertiesBytes } from '../property/arbitraries.js';
import { shortstr, u16, u32, u8 } from '../wire/raw-client.js';
import { Wire, entryOf, propertiesOf, typed, type Typed } from '../wire/property-wire.js';
import { u64 } from '../wire/raw-client.js';

const RESERVED = /^(x-death|x-first-death-.*|CC|BCC|x-delivery-count)$/;

/** Every header of `sent` but those warren sets is in `got` with the same bytes, and `got` is sorted by key. */
function expectKept(sent: Buffer, got: Buffer, dropped: number[]): void {
  const before = propertiesOf(sent);
  const after = propertiesOf(got);
  const keys = after.headers.map((e) => e.key);
  for (let i = 1; i < keys.length; i++) expect(Buffer.compare(keys[i - 1], keys[i]), 'headers sorted by key').toBeLessThanOrEqual(0);
  const remaining = after.headers.map((e) => Buffer.concat([u8(e.key.length), e.key, e.value]).toString('hex'));
  for (const e of before.headers) {
    if (RESERVED.test(e.key.toString('latin1'))) continue;
    const at = remaining.indexOf(Buffer.concat([u8(e.key.length), e.key, e.value]).toString('hex'));
    expect(at, `header ${e.key.toString('hex')} ${typed(e.value)[0]} kept as it came`).toBeGreaterThanOrEqual(0);
    remaining.splice(at, 1);
  }
  for (const [bit, value] of before.values) {
    if (bit === 0x2000) continue;
    if (dropped.includes(bit)) expect(after.values.has(bit)).toBe(false);
    else expect(after.values.get(bit)?.toString('hex'), `property 0x${bit.toString(16)}`).toBe(value.toString('hex'));
  }
  expect(after.flags & 0x0002).toBe(before.flags & 0x0002);
}

const deadLetterTo = (queue: string) => ({ arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue } });

describe.each(MODES)('header bytes: $name', ({ workers }) => {
  const server = useBroker(workers);

  /** A raw connection, a queue that dead-letters into another (and that one back into it with `cycle`); `done` removes them. */
  async function deadLetterPair(prefix: string, cycle = false) {
    const ch = await channel(await server.connect());
    const wire = await Wire.open(server.port);
    const source = uniq(prefix);
    const dead = uniq(`${prefix}-dead`);
    await ch.assertQueue(dead, cycle ? deadLetterTo(source) : {});
    await ch.assertQueue(source, deadLetterTo(dead));
    return { ch, wire, source, dead, done: async (...more: string[]) => {
      wire.close();
      for (const q of [source, dead, ...more]) await ch.deleteQueue(q);
    } };
  }

  it('a dead letter and a quorum redelivery keep every other header and property byte for byte, sorted by key (fast-check)', async () => {
    const { ch, wire, source, dead, done } = await deadLetterPair('hb-src');
    const quorum = uniq('hb-quorum');
    await ch.assertQueue(quorum, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    // no header that warren sets itself (a CC that is not an array would be refused)
    const properties = propertiesBytes().filter((p) => !propertiesOf(p).headers.some((e) => RESERVED.test(e.key.toString('latin1'))));
    try {
      await fc.assert(
        fc.asyncProperty(properties, async (sent) => {
          wire.publish(source, sent, 'dl');
          wire.reject((await wire.get(source, false)).tag);
          const dl = (await wire.get(dead, true)).properties;
          expectKept(sent, dl, [0x0100]);
          const death = typed(entryOf(propertiesOf(dl).headers, 'x-death')!.value);
          const expiration = propertiesOf(sent).values.get(0x0100);
          expect(death[0]).toBe('A');
          const [table] = death[1] as Typed[];
          const fields = (table[1] as [string, Typed][]).map(([k, v]) => [k, v[0]]);
          expect(fields).toEqual([['count', 'l'], ['reason', 'S'], ['queue', 'S'], ['time', 'T'], ['exchange', 'S'], ['routing-keys', 'A'],
            ...(expiration === undefined ? [] : [['original-expiration', 'S']])]);
          if (expiration !== undefined) expect((table[1] as [string, Typed][])[6][1][1]).toBe(expiration.toString('latin1', 1));

          wire.publish(quorum, sent, 'qq');
          wire.nackRequeue((await wire.get(quorum, false)).tag);
          const again = (await wire.get(quorum, true)).properties;
          expectKept(sent, again, []);
          expect(typed(entryOf(propertiesOf(again).headers, 'x-delivery-count')!.value)).toEqual(['l', '0000000000000001']);
        }),
        { numRuns: 30 },
      );
    } finally {
      await done(quorum);
    }
  });

  it('whatever x-death a client sent, dead-lettering goes on: three deaths later the event counted leads a readable x-death (fast-check)', async () => {
    const { ch, wire, source, dead, done } = await deadLetterPair('hb-any', true);
    const S = (s: string) => Buffer.concat([Buffer.from('S'), u32(Buffer.byteLength(s)), Buffer.from(s)]);
    const entry = (k: string, v: Buffer) => Buffer.concat([shortstr(k), v]);
    const field = (key: string, ...values: fc.Arbitrary<Buffer>[]) => fc.option(fc.oneof(...values, fieldValueBytes(1)).map((v) => entry(key, v)), { nil: undefined });
    // tables that look like death entries (this queue's or another's, counts of any type), and anything else
    const item = fc.oneof(
      fc.tuple(field('queue', fc.constant(S(source)), fc.constant(S(dead))), field('reason', fc.constant(S('rejected'))), field('count', ...['l0000000000000007', 'l7fffffffffffffff', 'Tffffffffffffffff', 'b80'].map((v) => fc.constant(Buffer.concat([Buffer.from(v[0]), Buffer.from(v.slice(1), 'hex')])))), field('time'))
        .map((entries) => {
          const body = Buffer.concat(entries.flatMap((e) => (e === undefined ? [] : [e])));
          return Buffer.concat([Buffer.from('F'), u32(body.length), body]);
        }),
      fieldValueBytes(2),
    );
    const xDeath = fc.oneof(fc.array(item, { maxLength: 6 }).map((items) => Buffer.concat([Buffer.from('A'), u32(Buffer.concat(items).length), ...items])), fieldValueBytes(1));
    try {
      await fc.assert(
        fc.asyncProperty(xDeath, async (value) => {
          const headers = Buffer.concat([shortstr('x-death'), value]);
          wire.publish(source, Buffer.concat([u16(0x2000), u32(headers.length), headers]), 'any');
          for (const queue of [source, dead, source]) wire.reject((await wire.get(queue, false)).tag);
          const got = propertiesOf((await wire.get(dead, true)).properties).headers;
          const [type, items] = typed(entryOf(got, 'x-death')!.value);
          expect(type).toBe('A');
          const first = new Map((items as Typed[])[0][1] as [string, Typed][]);
          expect([first.get('queue'), first.get('reason'), first.get('count')?.[0]]).toEqual([['S', source], ['S', 'rejected'], 'l']);
        }),
        { numRuns: 40 },
      );
      // and the broker still serves
      expect((await ch.checkQueue(source)).messageCount).toBe(0);
    } finally {
      await done();
    }
  });

  it("an x-death history, as RabbitMQ 3.10.8 rewrites it: the event's entry first, counted, its first time kept; the others grouped, in reverse", async () => {
    const { wire, source, dead, done } = await deadLetterPair('hb-hist');
    const S = (s: string) => Buffer.concat([Buffer.from('S'), u32(Buffer.byteLength(s)), Buffer.from(s)]);
    const entry = (k: string, v: Buffer) => Buffer.concat([shortstr(k), v]);
    const table = (...e: Buffer[]) => Buffer.concat([u32(Buffer.concat(e).length), ...e]);
    const death = (q: string, r: string, ...more: Buffer[]) => Buffer.concat([Buffer.from('F'), table(entry('queue', S(q)), entry('reason', S(r)), ...more)]);
    const deaths = [
      death('qX', 'rejected', entry('count', Buffer.from('b\x05', 'latin1'))),
      death('qY', 'expired'),
      death(source, 'rejected', entry('count', Buffer.concat([Buffer.from('I'), u32(9)])), entry('time', Buffer.concat([Buffer.from('T'), u64(1000)]))),
      death('qY', 'expired'),
      death('qZ', 'maxlen'),
    ];
    const history = Buffer.concat([u16(0x2000), table(entry('zz', Buffer.from('b\x01', 'latin1')), entry('x-death', Buffer.concat([Buffer.from('A'), u32(Buffer.concat(deaths).length), ...deaths])))]);
    const notArray = Buffer.concat([u16(0x2000), table(entry('x-death', S('junk')), entry('a', Buffer.from('b\x01', 'latin1')))]);
    const l = (n: number): Typed => ['l', n.toString(16).padStart(16, '0')];
    try {
      wire.publish(source, history, 'h');
      wire.reject((await wire.get(source, false)).tag);
      const got = propertiesOf((await wire.get(dead, true)).properties).headers.map((e) => [e.key.toString(), typed(e.value)]);
      expect(got).toEqual([
        ['x-death', ['A', [
          ['F', [['count', l(10)], ['queue', ['S', source]], ['reason', ['S', 'rejected']], ['time', ['T', '00000000000003e8']]]],
          ['F', [['count', l(1)], ['queue', ['S', 'qZ']], ['reason', ['S', 'maxlen']]]],
          ['F', [['count', l(2)], ['queue', ['S', 'qY']], ['reason', ['S', 'expired']]]],
          ['F', [['queue', ['S', 'qX']], ['reason', ['S', 'rejected']], ['count', ['b', '05']]]],
        ]]],
        ['zz', ['b', '01']],
      ]);

      wire.publish(source, notArray, 'n');
      wire.reject((await wire.get(source, false)).tag);
      const reset = propertiesOf((await wire.get(dead, true)).properties).headers.map((e) => [e.key.toString(), typed(e.value)]);
      expect(reset.map(([k]) => k)).toEqual(['a', 'x-death']);
      expect(reset[0][1]).toEqual(['b', '01']);
      const [only] = (reset[1][1] as Typed)[1] as Typed[];
      expect((only[1] as [string, Typed][]).map(([k]) => k)).toEqual(['count', 'reason', 'queue', 'time', 'exchange', 'routing-keys']);
    } finally {
      await done();
    }
  });

  it('dead-lettered twice through the same queue: count 2, the time of the first death kept, the second queue\'s entry sorted', async () => {
    const { wire, source, dead, done } = await deadLetterPair('hb-cyc', true);
    try {
      wire.publish(source, Buffer.concat([u16(0x0100), shortstr('600000')]), 'c');
      wire.reject((await wire.get(source, false)).tag);
      const first = await wire.get(dead, false);
      const firstTime = typed(entryOf(propertiesOf(first.properties).headers, 'x-death')!.value);
      wire.reject(first.tag);
      await sleep(1100); // a later second: a time that moved would show
      wire.reject((await wire.get(source, false)).tag);
      const got = propertiesOf((await wire.get(dead, true)).properties).headers.map((e) => [e.key.toString(), typed(e.value)]);
      const time = ((firstTime[1] as Typed[])[0][1] as [string, Typed][])[3][1];
      expect(time[0]).toBe('T');
      expect(time[1]).toMatch(/^[0-9a-f]{16}$/);
      expect(got.map(([k]) => k)).toEqual(['x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason']);
      const [inSource, inDead] = (got[0][1] as Typed)[1] as Typed[];
      expect(inSource).toEqual(['F', [['count', ['l', '0000000000000002']], ['exchange', ['S', '']], ['original-expiration', ['S', '600000']],
        ['queue', ['S', source]], ['reason', ['S', 'rejected']], ['routing-keys', ['A', [['S', source]]]], ['time', time]]]);
      expect((inDead[1] as [string, Typed][]).map(([k, v]) => [k, v[0]])).toEqual([['count', 'l'], ['exchange', 'S'], ['queue', 'S'], ['reason', 'S'], ['routing-keys', 'A'], ['time', 'T']]);
    } finally {
      await done();
    }
  });
});
