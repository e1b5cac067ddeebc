/**
 * Publisher confirms: a publish is acked once every shard it was routed to
 * stored it, consecutive confirms are coalesced into basic.ack multiple=true,
 * unroutable publishes are acked at once, and a return goes before its ack.
 * Each publish is numbered and every tag is checked to be answered exactly once.
 * A fast-check property mixes routable, unroutable and refused publishes across
 * shards and checks each tag's ack or nack against a model.
 */
import type { Message } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shardOf } from '../../dist/src/shard/placement.js';
import { MODES, channel, confirmChannel, uniq, useBroker, within } from '../helpers.js';
import { FRAME_METHOD, RawClient, frame, method, shortstr, u16, u32, u8 } from '../wire/raw-client.js';

/**
 * What a client makes of basic.ack / basic.nack frames: a multiple one answers
 * every tag up to it that is not answered yet. Fails on a tag answered twice or
 * a tag never published.
 */
class Ledger {
  /** tag -> true (acked) or false (nacked) */
  readonly answered = new Map<number, boolean>();
  frames = 0;
  multiples = 0;
  private low = 1;

  constructor(private readonly published: () => number) {}

  apply(tag: number, multiple: boolean, ack: boolean): void {
    this.frames++;
    expect(this.answered.has(tag), `tag ${tag} answered twice`).toBe(false);
    expect(tag, `tag ${tag} answered before it was published`).toBeLessThanOrEqual(this.published());
    if (multiple) {
      this.multiples++;
      for (let t = this.low; t <= tag; t++) if (!this.answered.has(t)) this.answered.set(t, ack);
    } else {
      this.answered.set(tag, ack);
    }
    while (this.answered.has(this.low)) this.low++;
  }

  /** true when tags 1..n are all answered, and nothing else */
  complete(n: number): boolean {
    return this.low === n + 1 && this.answered.size === n;
  }
}

/** A queue name that lands on the given shard when there are `shards` of them. */
function nameOnShard(prefix: string, shard: number, shards: number): string {
  for (;;) {
    const name = uniq(prefix);
    if (shardOf('/', name, shards) === shard) return name;
  }
}

// --- raw frames ---------------------------------------------------------------

const CH = 1;
const basicPublish = (exchange: string, routingKey: string, bits = 0) => method(CH, 60, 40, u16(0), shortstr(exchange), shortstr(routingKey), u8(bits));
function contentHeader(bodySize: number): Buffer {
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(bodySize));
  return frame(2, CH, Buffer.concat([u16(60), u16(0), size, u16(0)]));
}
const publishFrames = (exchange: string, routingKey: string, body: string, bits = 0) =>
  Buffer.concat([basicPublish(exchange, routingKey, bits), contentHeader(Buffer.byteLength(body)), frame(3, CH, Buffer.from(body))]);

/** A raw client with channel 1 open in confirm mode. */
async function confirmClient(url: string): Promise<RawClient> {
  const c = await RawClient.open(Number(new URL(url).port));
  await c.handshake();
  c.send(method(CH, 20, 10, shortstr('')), method(CH, 85, 10, u8(0))); // channel.open, confirm.select
  await expectMethodOn(c, 20, 11);
  await expectMethodOn(c, 85, 11);
  return c;
}

async function expectMethodOn(c: RawClient, classId: number, methodId: number) {
  const f = await c.readFrame();
  expect(f && [f.type, f.channel, f.classId, f.methodId]).toEqual([FRAME_METHOD, CH, classId, methodId]);
  return f!;
}

type Event = { kind: 'ack' | 'nack'; tag: number; multiple: boolean } | { kind: 'return'; code: number };

/** Reads channel-1 frames until `done`; acks/nacks go into the ledger, returns are listed in order with them. */
async function readConfirms(c: RawClient, ledger: Ledger, done: () => boolean): Promise<Event[]> {
  const events: Event[] = [];
  while (!done()) {
    const f = await c.readFrame();
    expect(f, 'the server closed the socket').not.toBeNull();
    if (f!.type !== FRAME_METHOD || f!.classId !== 60) continue; // content of a return
    if (f!.methodId === 80 || f!.methodId === 120) {
      const tag = Number(f!.payload.readBigUInt64BE(4));
      const multiple = (f!.payload[12] & 1) === 1;
      const kind = f!.methodId === 80 ? 'ack' : 'nack';
      events.push({ kind, tag, multiple });
      ledger.apply(tag, multiple, kind === 'ack');
    } else if (f!.methodId === 50) {
      events.push({ kind: 'return', code: f!.payload.readUInt16BE(4) });
    }
  }
  return events;
}

describe.each(MODES)('publisher confirms: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('acks each of 10,000 publishes exactly once, and the last ack means all 10,000 are in the queue', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { queue } = await ch.assertQueue(uniq('cf-10k'), { exclusive: true });
    const n = 10_000;
    let published = 0;
    const ledger = new Ledger(() => published);
    ch.on('ack', (f: { deliveryTag: number; multiple: boolean }) => ledger.apply(f.deliveryTag, f.multiple, true));
    ch.on('nack', (f: { deliveryTag: number; multiple: boolean }) => ledger.apply(f.deliveryTag, f.multiple, false));
    const callbacks = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      published++;
      ch.sendToQueue(queue, Buffer.from(String(i)), {}, (err) => {
        expect(err).toBeNull();
        callbacks[i]++;
      });
    }
    await within(ch.waitForConfirms(), 20_000, 'confirms for 10,000 publishes');
    expect(callbacks.every((c) => c === 1)).toBe(true);
    expect(ledger.complete(n)).toBe(true);
    expect([...ledger.answered.values()].every(Boolean)).toBe(true);
    expect(ledger.frames).toBeLessThan(n); // coalesced
    expect((await ch.checkQueue(queue)).messageCount).toBe(n);
    const got = new Set<string>();
    for (let msg = await ch.get(queue, { noAck: true }); msg !== false; msg = await ch.get(queue, { noAck: true })) got.add(msg.content.toString());
    expect(got.size).toBe(n);
  });

  it('coalesces: 1,000 publishes in one write get fewer acks, some multiple, covering tags 1..1000 exactly', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue(uniq('cf-coalesce'), { exclusive: false, autoDelete: false });
    const c = await confirmClient(server.url);
    const n = 1000;
    const ledger = new Ledger(() => n);
    c.send(...Array.from({ length: n }, (_, i) => publishFrames('', queue, `m${i}`)));
    const events = await within(readConfirms(c, ledger, () => ledger.complete(n)), 10_000, 'acks for 1,000 publishes');
    expect(events.every((e) => e.kind === 'ack')).toBe(true);
    expect(ledger.frames).toBeLessThan(n);
    expect(ledger.multiples).toBeGreaterThan(0);
    expect((await ch.checkQueue(queue)).messageCount).toBe(n);
    c.destroy();
    await ch.deleteQueue(queue);
  });

  it('with a fanout over queues on two shards, acks after both stored; a return goes before its ack', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const ex = uniq('cf-fanout');
    const queues = [nameOnShard('cf-a', 0, 2), nameOnShard('cf-b', 1, 2)];
    await ch.assertExchange(ex, 'fanout', { durable: false, autoDelete: false });
    for (const q of queues) {
      await ch.assertQueue(q, { durable: false });
      await ch.bindQueue(q, ex, '');
    }
    const c = await confirmClient(server.url);
    const n = 1000;
    const ledger = new Ledger(() => n + 2);
    // Tags 1..1000 to both queues; 1001 immediate with no consumer anywhere (returned
    // once both shards answered); 1002 mandatory to a key nothing is bound to.
    c.send(
      ...Array.from({ length: n }, (_, i) => publishFrames(ex, '', `m${i}`)),
      publishFrames(ex, '', 'immediate', 2),
      publishFrames('amq.direct', uniq('cf-nowhere'), 'mandatory', 1),
    );
    const events = await within(readConfirms(c, ledger, () => ledger.complete(n + 2)), 10_000, 'acks for 1,002 publishes');
    expect([...ledger.answered.values()].every(Boolean)).toBe(true);
    // Each return comes before the ack that answers its tag.
    const answeredAt = (tag: number) => events.findIndex((e) => e.kind === 'ack' && (e.tag === tag || (e.multiple && e.tag > tag)));
    const returns = events.flatMap((e, i) => (e.kind === 'return' ? [{ code: e.code, at: i }] : []));
    expect(returns.map((r) => r.code).sort()).toEqual([312, 313]); // NO_ROUTE (mandatory), NO_CONSUMERS (immediate)
    expect(returns.find((r) => r.code === 313)!.at).toBeLessThan(answeredAt(n + 1));
    expect(returns.find((r) => r.code === 312)!.at).toBeLessThan(answeredAt(n + 2));
    for (const q of queues) expect((await ch.checkQueue(q)).messageCount).toBe(n);
    c.destroy();
    for (const q of queues) await ch.deleteQueue(q);
    await ch.deleteExchange(ex);
  });

  it('acks unroutable publishes at once, returned mandatory ones after their return (amqplib)', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const order: string[] = [];
    ch.on('return', (msg: Message) => order.push(`return ${msg.content.toString()}`));
    const acked = (name: string) => (err: unknown) => order.push(err === null ? `ack ${name}` : `nack ${name}`);
    for (let i = 0; i < 50; i++) {
      const mandatory = i % 2 === 0;
      ch.publish('amq.direct', uniq('cf-nowhere'), Buffer.from(String(i)), { mandatory }, acked(String(i)));
    }
    await within(ch.waitForConfirms(), 5000, 'confirms');
    const expected = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? [`return ${i}`, `ack ${i}`] : [`ack ${i}`])).flat();
    expect(order).toEqual(expected);
  });

  /**
   * Where a publish goes: one shard, two shards, a full reject-publish queue
   * (alone, or beside a queue that takes it: nacked all the same, as RabbitMQ
   * does), or nowhere (dropped, or returned when mandatory; acked either way).
   */
  const KINDS = ['a', 'b', 'ab', 'r', 'ar', 'br', 'x', 'xm'] as const;
  type Kind = (typeof KINDS)[number];

  it('a mix of routable, unroutable and refused publishes across shards: each tag answered once, ack or nack as the model says', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const chunks = fc.array(fc.array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 5 });
    await fc.assert(
      fc.asyncProperty(chunks, fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 1 }), async (batches, maxLength, rShard) => {
        const ex = uniq('cf-mix');
        const qa = nameOnShard('cf-mix-a', 0, 2);
        const qb = nameOnShard('cf-mix-b', 1, 2);
        const qr = nameOnShard('cf-mix-r', rShard, 2);
        await ch.assertExchange(ex, 'direct', { durable: false, autoDelete: false });
        await ch.assertQueue(qa, { durable: false });
        await ch.assertQueue(qb, { durable: false });
        await ch.assertQueue(qr, { durable: false, arguments: { 'x-max-length': maxLength, 'x-overflow': 'reject-publish' } });
        const bind: Array<[string, Kind]> = [[qa, 'a'], [qb, 'b'], [qa, 'ab'], [qb, 'ab'], [qr, 'r'], [qa, 'ar'], [qr, 'ar'], [qb, 'br'], [qr, 'br']];
        for (const [q, key] of bind) await ch.bindQueue(q, ex, key);

        // The model: tag -> ack?, the numbers each queue keeps, and the tags returned.
        const kinds = batches.flat();
        const n = kinds.length;
        const expectAck: boolean[] = [];
        const kept: Record<string, number[]> = { [qa]: [], [qb]: [], [qr]: [] };
        const returned: number[] = [];
        kinds.forEach((kind, i) => {
          const tag = i + 1;
          let ack = true;
          if (kind.includes('r')) {
            if (kept[qr].length < maxLength) kept[qr].push(i);
            else ack = false;
          }
          if (kind.includes('a')) kept[qa].push(i);
          if (kind.includes('b')) kept[qb].push(i);
          if (kind === 'xm') returned.push(tag);
          expectAck.push(ack);
        });

        const c = await confirmClient(server.url);
        const ledger = new Ledger(() => n);
        let i = 0;
        for (const batch of batches) {
          c.send(...batch.map((kind) => publishFrames(ex, kind, `m${i++}`, kind === 'xm' ? 1 : 0)));
        }
        const events = await within(readConfirms(c, ledger, () => ledger.complete(n)), 10_000, `answers for ${n} publishes`);
        c.destroy();
        for (let tag = 1; tag <= n; tag++) expect(ledger.answered.get(tag), `tag ${tag} (${kinds[tag - 1]})`).toBe(expectAck[tag - 1]);
        // Each return (they come in publish order) goes before the answer to its tag.
        const answeredAt = (tag: number) => events.findIndex((e) => e.kind !== 'return' && (e.tag === tag || (e.multiple && e.tag > tag)));
        const returns = events.flatMap((e, at) => (e.kind === 'return' ? [{ code: e.code, at }] : []));
        expect(returns.map((r) => r.code)).toEqual(returned.map(() => 312));
        returns.forEach((r, k) => expect(r.at).toBeLessThan(answeredAt(returned[k])));
        // Every number its queues should keep, once each and in order.
        for (const q of [qa, qb, qr]) {
          const got: number[] = [];
          for (let msg = await ch.get(q, { noAck: true }); msg !== false; msg = await ch.get(q, { noAck: true })) got.push(Number(msg.content.toString().slice(1)));
          expect(got, q).toEqual(kept[q]);
        }
        for (const q of [qa, qb, qr]) await ch.deleteQueue(q);
        await ch.deleteExchange(ex);
      }),
      { numRuns: 25 },
    );
  });
});
