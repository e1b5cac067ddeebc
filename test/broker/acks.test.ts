/** Acknowledgements: ack, ack multiple, nack, reject, recover, requeue on channel and connection close. */
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, bodies, channel, closedWith, eventually, sleep, subscribe, uniq, useBroker } from '../helpers.js';

describe.each(MODES)('acks: $name', ({ workers }) => {
  const server = useBroker(workers);

  /** A durable-free named queue holding `messages`, ready to consume. */
  async function queueWith(conn: ChannelModel, messages: string[]): Promise<string> {
    const ch = await channel(conn);
    const queue = uniq('acks');
    await ch.assertQueue(queue, { autoDelete: false });
    for (const body of messages) ch.sendToQueue(queue, Buffer.from(body));
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(messages.length));
    await ch.close();
    return queue;
  }

  /** Consumes on a fresh channel and returns what comes back (with their redelivered flags). */
  async function redeliveries(conn: ChannelModel, queue: string, count: number) {
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: true });
    const got = await inbox.waitFor(count);
    await sleep(50);
    expect(inbox.messages.length).toBe(count);
    return got.map((m) => [m.content.toString(), m.fields.redelivered]);
  }

  it('acked messages are gone; unacked ones come back redelivered when the channel closes', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['a', 'b', 'c']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const [, b] = await inbox.waitFor(3);
    expect(inbox.messages.map((m) => m.fields.redelivered)).toEqual([false, false, false]);
    ch.ack(b);
    await ch.close();
    expect(await redeliveries(conn, queue, 2)).toEqual([
      ['a', true],
      ['c', true],
    ]);
  });

  it('unacked messages come back redelivered when the connection closes', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['x', 'y']);
    const consumerConn = await server.connect();
    const inbox = await subscribe(await channel(consumerConn), queue, { noAck: false });
    await inbox.waitFor(2);
    await consumerConn.close();
    expect(await redeliveries(conn, queue, 2)).toEqual([
      ['x', true],
      ['y', true],
    ]);
  });

  it('ack multiple settles everything up to the tag', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['1', '2', '3', '4', '5']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const got = await inbox.waitFor(5);
    ch.ack(got[2], true); // 1, 2 and 3
    await ch.close();
    expect(await redeliveries(conn, queue, 2)).toEqual([
      ['4', true],
      ['5', true],
    ]);
  });

  it('ackAll (tag 0, multiple) settles every outstanding delivery', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['1', '2', '3']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    await inbox.waitFor(3);
    ch.ackAll();
    await ch.close();
    const check = await channel(conn);
    await sleep(50);
    expect(await check.checkQueue(queue)).toEqual({ queue, messageCount: 0, consumerCount: 0 });
  });

  it('nack multiple with requeue redelivers all of them, in order, redelivered=true', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['1', '2', '3', '4']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const got = await inbox.waitFor(4);
    ch.nack(got[2], true, true); // 1, 2, 3 back to the queue; 4 stays unacked
    const all = await inbox.waitFor(7);
    expect(all.slice(4).map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([
      ['1', true],
      ['2', true],
      ['3', true],
    ]);
    // New deliveries get new tags.
    expect(all.map((m) => m.fields.deliveryTag)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    ch.ackAll();
  });

  it('nack without requeue drops the messages', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['1', '2', '3']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const got = await inbox.waitFor(3);
    ch.nack(got[1], true, false); // drops 1 and 2
    await ch.close();
    expect(await redeliveries(conn, queue, 1)).toEqual([['3', true]]);
  });

  it('reject with requeue redelivers the message with redelivered=true', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['only']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const [first] = await inbox.waitFor(1);
    expect(first.fields.redelivered).toBe(false);
    ch.reject(first, true);
    const [, again] = await inbox.waitFor(2);
    expect(again.content.toString()).toBe('only');
    expect(again.fields.redelivered).toBe(true);
    expect(again.fields.deliveryTag).toBe(2);
    ch.ack(again);
  });

  it('reject without requeue drops the message', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['bad', 'good']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const [bad] = await inbox.waitFor(2);
    ch.reject(bad, false);
    await ch.close();
    expect(await redeliveries(conn, queue, 1)).toEqual([['good', true]]);
  });

  it('a requeued message goes back to its place at the head of the queue', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['1', '2', '3']);
    const ch = await channel(conn);
    const one = await ch.get(queue, { noAck: false });
    const two = await ch.get(queue, { noAck: false });
    expect([one && one.content.toString(), two && two.content.toString()]).toEqual(['1', '2']);
    ch.reject(two as any, true);
    ch.reject(one as any, true);
    const again = [];
    for (let i = 0; i < 3; i++) {
      const msg = await eventually(async () => {
        const got = await ch.get(queue, { noAck: true });
        expect(got).not.toBe(false);
        return got as Exclude<typeof got, false>;
      });
      again.push([msg.content.toString(), msg.fields.redelivered]);
    }
    expect(again).toEqual([
      ['1', true],
      ['2', true],
      ['3', false],
    ]);
  });

  it('basic.recover redelivers the unacked messages, redelivered=true', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['p', 'q']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const [p] = await inbox.waitFor(2);
    ch.ack(p);
    await ch.recover();
    const all = await inbox.waitFor(3);
    expect([all[2].content.toString(), all[2].fields.redelivered]).toEqual(['q', true]);
    await sleep(50);
    expect(bodies(inbox.messages)).toEqual(['p', 'q', 'q']);
    ch.ack(all[2]);
  });

  it('deliveries held while thousands after them are acked stay acknowledgeable, and the rest come back once on close', async () => {
    const total = 6000;
    const conn = await server.connect();
    const queue = await queueWith(conn, Array.from({ length: total }, (_, i) => String(i)));
    const ch = await channel(conn);
    await ch.prefetch(50);
    // Every 500th is held, far behind the tags acked since; the rest are acked as they come.
    const held: ConsumeMessage[] = [];
    const seen = new Set<number>();
    await ch.consume(queue, (msg) => {
      const n = Number(msg!.content.toString());
      expect(seen.has(n)).toBe(false);
      seen.add(n);
      if (n % 500 === 0) held.push(msg!);
      else ch.ack(msg!);
    });
    await eventually(() => expect(seen.size).toBe(total), 10_000);
    expect(held.map((m) => m.fields.deliveryTag)).toEqual(Array.from({ length: 12 }, (_, i) => i * 500 + 1));
    // Half of the held ones acked (the oldest, the newest, some between), the other half come back.
    for (const i of [0, 3, 4, 7, 9, 11]) ch.ack(held[i]);
    await ch.close();
    const back = await redeliveries(conn, queue, 6);
    expect(back).toEqual([1, 2, 5, 6, 8, 10].map((i) => [String(i * 500), true]));
    const check = await channel(conn);
    expect((await check.checkQueue(queue)).messageCount).toBe(0);
  });

  it('acking a tag twice closes the channel with 406 unknown delivery tag', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['once']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const [msg] = await inbox.waitFor(1);
    const close = closedWith(ch);
    ch.ack(msg);
    ch.ack(msg);
    expect(await close).toEqual({ code: 406, text: 'PRECONDITION_FAILED - unknown delivery tag 1' });
    // The first ack counted: nothing comes back.
    const check = await channel(conn);
    await sleep(50);
    expect(await check.checkQueue(queue)).toEqual({ queue, messageCount: 0, consumerCount: 0 });
  });

  it('a no-ack delivery cannot be acked (406)', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['auto']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: true });
    const [msg] = await inbox.waitFor(1);
    const close = closedWith(ch);
    ch.ack(msg);
    expect(await close).toEqual({ code: 406, text: 'PRECONDITION_FAILED - unknown delivery tag 1' });
  });

  it('delivery tags belong to their channel: acking on another channel is 406', async () => {
    const conn = await server.connect();
    const queue = await queueWith(conn, ['m']);
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    const [msg] = await inbox.waitFor(1);
    const other = await channel(conn);
    const close = closedWith(other);
    other.ack(msg);
    expect(await close).toEqual({ code: 406, text: 'PRECONDITION_FAILED - unknown delivery tag 1' });
    // The message is still unacked on its own channel, which can ack it.
    ch.ack(msg);
    await ch.close();
    const check = await channel(conn);
    await sleep(50);
    expect((await check.checkQueue(queue)).messageCount).toBe(0);
  });
});
