/**
 * broker.on('publish' | 'deliver' | 'ack' | 'return' | 'connection' | 'close'):
 * amqplib clients publish, consume, get, ack, nack and reject numbered
 * messages; each client action gives exactly one event, with what the
 * client sent or received. Without listeners the hooks' flags are off.
 */
import amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AckEvent, CloseEvent, ConnectionEvent, DeliverEvent, PublishEvent, ReturnEvent, RunningBroker } from '../../dist/src/index.js';
import { MODES, namedConnections, channel, confirmChannel, eventually, nextEvent, start, subscribe } from '../helpers.js';

const N = 200;

describe.each(MODES)('observing hooks ($name)', ({ workers }) => {
  let broker: RunningBroker;
  const connections = namedConnections(() => broker.url);
  const named = connections.open;
  beforeAll(async () => {
    broker = await start(workers);
  });
  afterEach(async () => {
    broker.broker.removeAllListeners('publish').removeAllListeners('deliver').removeAllListeners('ack');
    broker.broker.removeAllListeners('return').removeAllListeners('connection').removeAllListeners('close');
    await connections.closeAll();
    await broker.reset();
  });
  afterAll(async () => {
    await broker.close();
  });

  it('N numbered publishes give N publish events, N deliveries N deliver events, N acks N ack events', async () => {
    const published: PublishEvent[] = [];
    const delivered: DeliverEvent[] = [];
    const acked: AckEvent[] = [];
    broker.on('publish', (e) => published.push(e)).on('deliver', (e) => delivered.push(e)).on('ack', (e) => acked.push(e));
    const conn = await named('observed');
    const pub = await confirmChannel(conn);
    await pub.assertExchange('obs-x', 'direct', { durable: false });
    await pub.assertQueue('obs-q', { durable: false });
    await pub.bindQueue('obs-q', 'obs-x', 'k');
    for (let i = 0; i < N; i++) pub.publish('obs-x', 'k', Buffer.from(`m-${i}`), { messageId: `id-${i}`, headers: { n: i }, persistent: i % 2 === 0 });
    await pub.waitForConfirms();
    expect(published.map((e) => e.body.toString())).toEqual(Array.from({ length: N }, (_, i) => `m-${i}`));
    for (const [i, e] of published.entries()) {
      expect(e).toMatchObject({ vhost: '/', exchange: 'obs-x', routingKey: 'k', ccKeys: [], size: `m-${i}`.length, mandatory: false, queues: 1, routedQueues: ['obs-q'], clientName: 'observed', user: 'guest' });
      expect(e.properties.messageId).toBe(`id-${i}`);
      expect(e.properties.headers).toEqual({ n: i });
      expect(e.properties.deliveryMode === 2).toBe(i % 2 === 0);
      // the bytes as amqplib sent them: flags (message-id, headers, delivery-mode), the table, then the values
      expect(e.propertyBytes.readUInt16BE(0)).toBe(0x2000 | 0x1000 | 0x0080);
      expect(e.propertyBytes.includes(Buffer.from(`id-${i}`))).toBe(true);
    }

    const ch = await channel(conn);
    const inbox = await subscribe(ch, 'obs-q', { noAck: false });
    const messages = await inbox.waitFor(N);
    expect(delivered.map((e) => e.body.toString())).toEqual(messages.map((m) => m.content.toString()));
    for (const [i, e] of delivered.entries()) {
      expect(e).toMatchObject({ vhost: '/', queue: 'obs-q', consumerTag: inbox.consumerTag, get: false, redelivered: false, exchange: 'obs-x', routingKey: 'k' });
      expect(e.deliveryTag).toBe(messages[i].fields.deliveryTag);
      expect(e.properties.messageId).toBe(`id-${i}`);
      expect(e.propertyBytes.equals(published[i].propertyBytes)).toBe(true);
    }
    for (const m of messages) ch.ack(m);
    await eventually(() => expect(acked).toHaveLength(N));
    expect(acked.map((e) => e.deliveryTag)).toEqual(messages.map((m) => m.fields.deliveryTag));
    expect(acked.every((e) => e.kind === 'ack' && !e.multiple && !e.requeue && e.channel === delivered[0].channel)).toBe(true);
    // Nothing more than one event per action.
    expect(published).toHaveLength(N);
    expect(delivered).toHaveLength(N);
  });

  it('nack, reject, redelivery, basic.get and multiple acks each show as they happened', async () => {
    const delivered: DeliverEvent[] = [];
    const acked: AckEvent[] = [];
    broker.on('deliver', (e) => delivered.push(e)).on('ack', (e) => acked.push(e));
    const conn = await named('settler');
    const ch = await channel(conn);
    await ch.assertQueue('obs-settle', { durable: false });
    for (let i = 0; i < 4; i++) ch.sendToQueue('obs-settle', Buffer.from(`m-${i}`));
    await broker.waitFor.queue('obs-settle', { messages: 4 });
    const got = [];
    for (let i = 0; i < 4; i++) {
      const m = await ch.get('obs-settle');
      if (m === false) throw new Error('empty');
      got.push(m);
    }
    expect(delivered.map((e) => [e.body.toString(), e.get, e.consumerTag, e.queue, e.deliveryTag])).toEqual(
      got.map((m, i) => [`m-${i}`, true, undefined, 'obs-settle', m.fields.deliveryTag]),
    );
    ch.nack(got[0], false, true);
    ch.reject(got[1], false);
    ch.ack(got[3], true); // multiple: tags 3 and 4
    await eventually(() => expect(acked).toHaveLength(3));
    expect(acked.map((e) => [e.kind, e.deliveryTag, e.multiple, e.requeue])).toEqual([
      ['nack', got[0].fields.deliveryTag, false, true],
      ['reject', got[1].fields.deliveryTag, false, false],
      ['ack', got[3].fields.deliveryTag, true, false],
    ]);
    // m-0 went back: its next delivery is marked redelivered.
    const again = await ch.get('obs-settle', { noAck: true });
    expect(again !== false && again.content.toString()).toBe('m-0');
    expect(delivered.at(-1)).toMatchObject({ get: true, redelivered: true, queue: 'obs-settle' });
    expect(delivered).toHaveLength(5);
  });

  it('an unroutable mandatory publish gives a publish event with queues 0 and a return event', async () => {
    const published: PublishEvent[] = [];
    const returned: ReturnEvent[] = [];
    broker.on('publish', (e) => published.push(e)).on('return', (e) => returned.push(e));
    const conn = await named('returns');
    const ch = await confirmChannel(conn);
    const clientReturns: string[] = [];
    ch.on('return', (m) => clientReturns.push(m.content.toString()));
    for (let i = 0; i < 5; i++) ch.publish('amq.direct', `nowhere-${i}`, Buffer.from(`r-${i}`), { mandatory: true, contentType: 'text/plain' });
    await ch.waitForConfirms();
    expect(published.map((e) => [e.routingKey, e.queues, e.mandatory])).toEqual(Array.from({ length: 5 }, (_, i) => [`nowhere-${i}`, 0, true]));
    expect(returned.map((e) => [e.body.toString(), e.replyCode, e.replyText, e.exchange, e.routingKey, e.properties.contentType])).toEqual(
      Array.from({ length: 5 }, (_, i) => [`r-${i}`, 312, 'NO_ROUTE', 'amq.direct', `nowhere-${i}`, 'text/plain']),
    );
    await eventually(() => expect(clientReturns).toHaveLength(5));
  });

  it('connection and close events: who opened, and how it ended (client close, forced close)', async () => {
    const connections: ConnectionEvent[] = [];
    const closes: CloseEvent[] = [];
    // Only this test's connections: an earlier test's may still be closing.
    const ours = (e: { clientName?: string }) => e.clientName?.startsWith('obs-') === true;
    broker.on('connection', (e) => ours(e) && connections.push(e)).on('close', (e) => ours(e) && closes.push(e));
    const a = await named('obs-a');
    const b = await named('obs-b');
    expect(connections.map((e) => [e.clientName, e.user, e.vhost, e.clientProperties.connection_name])).toEqual([
      ['obs-a', 'guest', '/', 'obs-a'],
      ['obs-b', 'guest', '/', 'obs-b'],
    ]);
    await a.close();
    await eventually(() => expect(closes).toHaveLength(1));
    expect(closes[0]).toMatchObject({ clientName: 'obs-a', user: 'guest', vhost: '/', code: 200, by: 'client' });
    const gone = nextEvent(b, 'close');
    broker.faults.closeConnections({ name: 'obs-b' }, { code: 320, text: 'observed' });
    await gone;
    await eventually(() => expect(closes).toHaveLength(2));
    expect(closes[1]).toMatchObject({ clientName: 'obs-b', code: 320, text: 'CONNECTION_FORCED - observed', by: 'server' });
    expect(closes[1].connection).toBe(connections[1].connection);
    // A client that vanishes without connection.close: no code, no text.
    const c = await amqp.connect(broker.url, { clientProperties: { connection_name: 'obs-c' } }); // not closed after: it has no socket
    c.on('error', () => {});
    (c.connection as unknown as { stream: { destroy(): void } }).stream.destroy();
    await eventually(() => expect(closes).toHaveLength(3));
    expect(closes[2]).toMatchObject({ clientName: 'obs-c', code: undefined, text: undefined, by: undefined });
  });

  it('a direct reply-to answer is a deliver event of queue amq.rabbitmq.reply-to', async () => {
    const delivered: DeliverEvent[] = [];
    broker.on('deliver', (e) => delivered.push(e));
    const ch = await channel(await named('rpc'));
    const inbox = await subscribe(ch, 'amq.rabbitmq.reply-to', { noAck: true });
    await ch.assertQueue('obs-rpc', { durable: false });
    ch.sendToQueue('obs-rpc', Buffer.from('question'), { replyTo: 'amq.rabbitmq.reply-to' });
    const request = await eventually(async () => {
      const m = await ch.get('obs-rpc', { noAck: true });
      if (m === false) throw new Error('not yet');
      return m;
    });
    ch.publish('', request.properties.replyTo, Buffer.from('answer'));
    const [answer] = await inbox.waitFor(1);
    expect(answer.content.toString()).toBe('answer');
    await eventually(() => expect(delivered).toHaveLength(2));
    expect(delivered[1]).toMatchObject({ queue: 'amq.rabbitmq.reply-to', consumerTag: inbox.consumerTag, get: false, deliveryTag: answer.fields.deliveryTag });
    expect(delivered[1].body.toString()).toBe('answer');
  });

  it('off() removes a listener; the flags follow the listeners', async () => {
    const flags = broker.broker.observers;
    expect([flags.publish, flags.deliver, flags.ack, flags.return, flags.connection, flags.close]).toEqual([false, false, false, false, false, false]);
    const seen: string[] = [];
    const first = (e: PublishEvent) => seen.push(`1:${e.body}`);
    const second = (e: PublishEvent) => seen.push(`2:${e.body}`);
    broker.on('publish', first).on('publish', second);
    expect(flags.publish).toBe(true);
    const ch = await confirmChannel(await named('off'));
    ch.publish('amq.fanout', '', Buffer.from('a'));
    await ch.waitForConfirms();
    broker.off('publish', first);
    expect(flags.publish).toBe(true);
    ch.publish('amq.fanout', '', Buffer.from('b'));
    await ch.waitForConfirms();
    broker.off('publish', second);
    expect(flags.publish).toBe(false);
    ch.publish('amq.fanout', '', Buffer.from('c'));
    await ch.waitForConfirms();
    expect(seen).toEqual(['1:a', '2:a', '2:b']);
  });

  it('a listener that throws is logged; the client goes on', async () => {
    broker.on('publish', () => {
      throw new Error('listener bug');
    });
    const ch = await confirmChannel(await named('throwing'));
    await ch.assertQueue('obs-throw', { durable: false });
    ch.sendToQueue('obs-throw', Buffer.from('still'));
    await ch.waitForConfirms();
    await broker.waitFor.queue('obs-throw', { messages: 1 });
  });
});
