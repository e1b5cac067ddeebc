/**
 * Any legal shortstr (0-255 bytes of UTF-8, multi-byte characters, the
 * longest names) works as a queue, exchange, routing key and consumer tag,
 * through declare, bind, publish, get, consume, cancel, unbind and delete, with
 * the shards inline and in worker threads. After each case a bystander
 * connection, opened before the first, still publishes and consumes.
 */
import fc from 'fast-check';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, channel, confirmChannel, connect, start, subscribe, within } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';
import { EDGE_NAMES, shortstrText } from './arbitraries.js';

/** Names a client may declare: not empty (server-named / default exchange) and not in the reserved amq. space. */
const declarable = () => shortstrText().filter((s) => s.length > 0 && !s.startsWith('amq.'));

describe.each(MODES)('shortstr names, $name', ({ workers }) => {
  let broker: RunningBroker;
  let conn: ChannelModel;
  let ch: ConfirmChannel;
  let bystander: ChannelModel;
  let bystanderCh: Channel;
  const bystanderQueue = `bystander-${workers}`;
  let run = 0;

  beforeAll(async () => {
    broker = await start(workers);
    bystander = await connect(broker.url);
    bystanderCh = await channel(bystander);
    await bystanderCh.assertQueue(bystanderQueue);
    conn = await connect(broker.url);
  });

  afterAll(async () => {
    await conn?.close().catch(() => {});
    await bystander?.close().catch(() => {});
    await broker?.close();
  });

  /** The bystander's own message comes back to it. */
  async function bystanderWorks(n: number): Promise<void> {
    bystanderCh.sendToQueue(bystanderQueue, Buffer.from(`bystander ${n}`));
    const inbox = await subscribe(bystanderCh, bystanderQueue);
    expect((await inbox.waitFor(1))[0].content.toString()).toBe(`bystander ${n}`);
    await bystanderCh.cancel(inbox.consumerTag);
  }

  async function roundTrip(queue: string, exchange: string, type: string, routingKey: string, tag: string): Promise<void> {
    const n = ++run;
    // A fresh channel, clear of what a failed (shrinking) run may have left
    ch = await confirmChannel(conn);
    await ch.deleteExchange(exchange);
    await ch.deleteQueue(queue);
    await ch.assertExchange(exchange, type, { durable: false, autoDelete: false });
    expect((await ch.assertQueue(queue, { durable: false })).queue).toBe(queue);
    await ch.bindQueue(queue, exchange, routingKey);
    for (let i = 0; i < 3; i++) ch.publish(exchange, routingKey, Buffer.from(`${n}-${i}`), { mandatory: true });
    ch.sendToQueue(queue, Buffer.from(`${n}-direct`));
    await ch.waitForConfirms();
    expect(await ch.checkQueue(queue)).toEqual({ queue, messageCount: 4, consumerCount: 0 });

    const got = await ch.get(queue, { noAck: true });
    expect(got && [got.content.toString(), got.fields.exchange, got.fields.routingKey]).toEqual([`${n}-0`, exchange, routingKey]);

    const inbox = await subscribe(ch, queue, { noAck: true, consumerTag: tag });
    if (tag !== '') expect(inbox.consumerTag).toBe(tag);
    const rest = await inbox.waitFor(3);
    expect(rest.map((m) => [m.content.toString(), m.fields.exchange, m.fields.routingKey, m.fields.consumerTag])).toEqual([
      [`${n}-1`, exchange, routingKey, inbox.consumerTag],
      [`${n}-2`, exchange, routingKey, inbox.consumerTag],
      [`${n}-direct`, '', queue, inbox.consumerTag],
    ]);
    await ch.cancel(inbox.consumerTag);

    await ch.unbindQueue(queue, exchange, routingKey);
    expect(await ch.deleteQueue(queue)).toEqual({ messageCount: 0 });
    await ch.deleteExchange(exchange);
    await ch.close();
    await within(bystanderWorks(n), 3000, 'bystander round trip');
  }

  it('every edge name, as every kind of name at once', async () => {
    for (const name of EDGE_NAMES) await roundTrip(name, name, 'direct', name, name);
  });

  it('arbitrary names through declare/bind/publish/get/consume/cancel/delete', async () => {
    await fc.assert(
      fc.asyncProperty(
        declarable(),
        declarable(),
        fc.constantFrom('direct', 'topic', 'fanout', 'headers'),
        shortstrText(),
        shortstrText().filter((s) => !s.startsWith('amq.ctag')),
        (queue, exchange, type, routingKey, tag) => roundTrip(queue, exchange, type, routingKey, tag),
      ),
      { numRuns: 40 },
    );
  });
});
