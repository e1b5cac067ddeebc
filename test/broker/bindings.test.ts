/** Bindings: identity, idempotence, unbind, what deleting queues and exchanges does to them, errors. */
import type { ConfirmChannel, Options } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, channel, confirmChannel, drain, refused, uniq, useBroker } from '../helpers.js';

async function publishAll(pub: ConfirmChannel, exchange: string, messages: [string, string, Options.Publish?][]): Promise<void> {
  for (const [key, body, options] of messages) pub.publish(exchange, key, Buffer.from(body), options);
  await pub.waitForConfirms();
}

describe.each(MODES)('bindings: $name', ({ workers }) => {
  const server = useBroker(workers);

  async function setup() {
    const conn = await server.connect();
    return { conn, ch: await channel(conn), pub: await confirmChannel(conn) };
  }

  it('binding the same key twice is one binding', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('b-twice');
    await ch.assertExchange(ex, 'direct', { autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, 'k');
    await ch.bindQueue(queue, ex, 'k');
    await publishAll(pub, ex, [['k', 'once']]);
    expect(await drain(ch, queue)).toEqual(['once']);
    // One unbind removes it.
    await ch.bindQueue(queue, ex, 'keep'); // keeps the auto-delete exchange alive
    await ch.unbindQueue(queue, ex, 'k');
    await publishAll(pub, ex, [['k', 'unbound']]);
    expect(await drain(ch, queue)).toEqual([]);
  });

  it('one key, several queues: each gets a copy', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('b-fan-key');
    await ch.assertExchange(ex, 'direct', { autoDelete: true });
    const queues: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, ex, 'shared');
      queues.push(queue);
    }
    await publishAll(pub, ex, [['shared', 'all three']]);
    for (const queue of queues) expect(await drain(ch, queue)).toEqual(['all three']);
  });

  it('a fanout queue bound with two keys still gets one copy', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('b-fanout-two');
    await ch.assertExchange(ex, 'fanout', { autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, 'one');
    await ch.bindQueue(queue, ex, 'two');
    await publishAll(pub, ex, [['', 'single']]);
    expect(await drain(ch, queue)).toEqual(['single']);
    // Removing one of the two keeps the queue bound.
    await ch.unbindQueue(queue, ex, 'one');
    await publishAll(pub, ex, [['', 'still bound']]);
    expect(await drain(ch, queue)).toEqual(['still bound']);
  });

  it('a direct binding key is literal: no wildcards', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('b-literal');
    await ch.assertExchange(ex, 'direct', { autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, 'a.*');
    await ch.bindQueue(queue, ex, '#');
    await publishAll(pub, ex, [
      ['a.b', 'no'],
      ['a.*', 'star'],
      ['x', 'no'],
      ['#', 'hash'],
    ]);
    expect(await drain(ch, queue)).toEqual(['star', 'hash']);
  });

  it('headers bindings that differ only in arguments are distinct; unbind needs the same arguments', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('b-headers');
    await ch.assertExchange(ex, 'headers', { autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const red = { 'x-match': 'all', color: 'red' };
    const blue = { 'x-match': 'all', color: 'blue' };
    await ch.bindQueue(queue, ex, '', red);
    await ch.bindQueue(queue, ex, '', blue);
    await publishAll(pub, ex, [
      ['', 'red', { headers: { color: 'red' } }],
      ['', 'blue', { headers: { color: 'blue' } }],
      ['', 'green', { headers: { color: 'green' } }],
    ]);
    expect(await drain(ch, queue)).toEqual(['red', 'blue']);

    // Unbinding with other arguments removes nothing; with the same ones, just that binding.
    await ch.unbindQueue(queue, ex, '', { 'x-match': 'all', color: 'green' });
    await ch.unbindQueue(queue, ex, '', red);
    await publishAll(pub, ex, [
      ['', 'red', { headers: { color: 'red' } }],
      ['', 'blue', { headers: { color: 'blue' } }],
    ]);
    expect(await drain(ch, queue)).toEqual(['blue']);
  });

  it('unbinding something that is not bound succeeds', async () => {
    const { ch } = await setup();
    const ex = uniq('b-not-bound');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await expect(ch.unbindQueue(queue, ex, 'never-bound')).resolves.toEqual({});
    await expect(ch.unbindExchange('amq.direct', ex, 'never-bound')).resolves.toEqual({});
    await ch.deleteExchange(ex);
  });

  it('unbinding from a missing exchange or a missing queue succeeds (RabbitMQ 3.10)', async () => {
    const { ch } = await setup();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await expect(ch.unbindQueue(queue, uniq('b-no-exchange'), 'k')).resolves.toEqual({});
    await expect(ch.unbindQueue(uniq('b-no-queue'), 'amq.direct', 'k')).resolves.toEqual({});
    // The channel is still open.
    await ch.checkQueue(queue);
  });

  it('binding to a missing exchange or queue is 404', async () => {
    const { conn, ch } = await setup();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const missingExchange = uniq('b-missing-ex');
    const missingQueue = uniq('b-missing-q');
    expect(await refused((await channel(conn)).bindQueue(queue, missingExchange, 'k'))).toEqual({
      code: 404,
      text: `NOT_FOUND - no exchange '${missingExchange}' in vhost '/'`,
    });
    expect(await refused((await channel(conn)).bindQueue(missingQueue, 'amq.direct', 'k'))).toEqual({
      code: 404,
      text: `NOT_FOUND - no queue '${missingQueue}' in vhost '/'`,
    });
    expect(await refused((await channel(conn)).bindExchange('amq.direct', missingExchange, 'k'))).toEqual({
      code: 404,
      text: `NOT_FOUND - no exchange '${missingExchange}' in vhost '/'`,
    });
    expect(await refused((await channel(conn)).bindExchange(missingExchange, 'amq.direct', 'k'))).toEqual({
      code: 404,
      text: `NOT_FOUND - no exchange '${missingExchange}' in vhost '/'`,
    });
  });

  it('deleting a queue removes its bindings', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('b-queue-deleted');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const queue = uniq('b-queue');
    await ch.assertQueue(queue);
    await ch.bindQueue(queue, ex, 'k');
    await ch.deleteQueue(queue);
    // A new queue with the same name is not bound.
    await ch.assertQueue(queue);
    await publishAll(pub, ex, [['k', 'to nobody']]);
    expect(await drain(ch, queue)).toEqual([]);
    await ch.deleteQueue(queue);
    await ch.deleteExchange(ex);
  });

  it('deleting the destination exchange removes an exchange-to-exchange binding', async () => {
    const { ch, pub } = await setup();
    const source = uniq('b-e2e-source');
    const destination = uniq('b-e2e-dest');
    await ch.assertExchange(source, 'fanout', { durable: false });
    await ch.assertExchange(destination, 'fanout', { durable: false });
    await ch.bindExchange(destination, source, '');
    await ch.deleteExchange(destination);
    // Recreated, the destination is no longer bound to the source.
    await ch.assertExchange(destination, 'fanout', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, destination, '');
    await publishAll(pub, source, [['', 'lost']]);
    await publishAll(pub, destination, [['', 'direct']]);
    expect(await drain(ch, queue)).toEqual(['direct']);
    await ch.deleteExchange(source);
    await ch.deleteExchange(destination);
  });
});
