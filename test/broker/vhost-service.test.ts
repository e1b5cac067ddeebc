/**
 * VHostService.apply() driven directly (as definitions import and recovery
 * will), on a real broker: every command kind, every refusal with RabbitMQ's
 * code and text, and what it does checked through an amqplib client.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelModel } from 'amqplib';
import type { RunningBroker } from '../../dist/src/index.js';
import type { VHostService } from '../../dist/src/vhost/vhost-service.js';
import type { ExchangeDeclareCommand, QueueDeclareCommand, TopologyCommand } from '../../dist/src/vhost/commands.js';
import { MODES, channel, connect, eventually, exchangeExists, queueExists, start, subscribe, uniq } from '../helpers.js';
import { lockedText as locked } from '../helpers.js';

/** The AmqpError apply() threw or rejected with: code, RabbitMQ's text, and whether it closes the connection. */
async function refusal(service: VHostService, command: TopologyCommand): Promise<{ code: number; text: string; hard: boolean }> {
  try {
    await service.apply(command);
  } catch (err: any) {
    return { code: err.code, text: err.message, hard: err.hard };
  }
  throw new Error(`expected ${command.kind} to be refused`);
}

const exchange = (name: string, over: Partial<ExchangeDeclareCommand> = {}): ExchangeDeclareCommand => ({
  kind: 'exchange.declare',
  name,
  type: 'direct',
  durable: false,
  autoDelete: false,
  internal: false,
  arguments: {},
  ...over,
});

const queue = (name: string, over: Partial<QueueDeclareCommand> = {}): QueueDeclareCommand => ({
  kind: 'queue.declare',
  name,
  durable: false,
  exclusive: false,
  autoDelete: false,
  arguments: {},
  owner: 0,
  ...over,
});


describe.each(MODES)('vhost service apply(): $name', ({ workers }) => {
  let running: RunningBroker;
  let service: VHostService;
  const opened: ChannelModel[] = [];
  const client = async () => {
    const conn = await connect(running.url);
    opened.push(conn);
    return conn;
  };
  /** the server-side id of an amqplib connection, the owner its exclusive queues carry */
  const serverId = (conn: ChannelModel): number => {
    const port = (conn as any).connection.stream.localPort;
    return [...running.broker.connections].find((c) => c.socket.remotePort === port)!.id;
  };

  beforeAll(async () => {
    running = await start(workers);
    service = running.broker.vhosts.get('/')!;
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((conn) => conn.close().catch(() => {})));
  });
  afterAll(() => running.close());

  it('queue.declare: a queue declared through apply() is there for an amqplib client, which can publish to it and consume from it', async () => {
    const name = uniq('svc-q');
    expect(await service.apply(queue(name, { durable: true }))).toEqual({ queue: name, messageCount: 0, consumerCount: 0 });
    const conn = await client();
    const ch = await channel(conn);
    expect(await ch.checkQueue(name)).toEqual({ queue: name, messageCount: 0, consumerCount: 0 });
    // An amqplib redeclare with the same flags is equivalent.
    await ch.assertQueue(name, { durable: true });
    for (let i = 0; i < 5; i++) ch.sendToQueue(name, Buffer.from(`m${i}`));
    await eventually(async () => expect((await service.apply(queue(name, { passive: true }))).messageCount).toBe(5));
    const inbox = await subscribe(ch, name);
    expect((await inbox.waitFor(5)).map((m) => m.content.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(await service.apply(queue(name, { durable: true }))).toEqual({ queue: name, messageCount: 0, consumerCount: 1 });
  });

  it("queue.declare: '' gets a generated name; passive, amq.* prefix, inequivalent flags and arguments are refused", async () => {
    const generated = await service.apply(queue(''));
    expect(generated.queue).toMatch(/^amq\.gen-[A-Za-z0-9_-]{22}$/);
    expect(await queueExists(await client(), generated.queue)).toBe(true);

    const missing = uniq('svc-missing');
    expect(await refusal(service, queue(missing, { passive: true }))).toEqual({ code: 404, text: `NOT_FOUND - no queue '${missing}' in vhost '/'`, hard: false });
    expect(await refusal(service, queue('amq.mine'))).toEqual({ code: 403, text: `ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'`, hard: false });

    const name = uniq('svc-eq');
    await service.apply(queue(name, { durable: true, arguments: { 'x-max-length': 10 } }));
    const where = `for queue '${name}' in vhost '/'`;
    expect(await refusal(service, queue(name, { durable: false, arguments: { 'x-max-length': 10 } }))).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - inequivalent arg 'durable' ${where}: received 'false' but current is 'true'`,
      hard: false,
    });
    expect(await refusal(service, queue(name, { durable: true, autoDelete: true, arguments: { 'x-max-length': 10 } }))).toMatchObject({
      code: 406,
      text: `PRECONDITION_FAILED - inequivalent arg 'auto_delete' ${where}: received 'true' but current is 'false'`,
    });
    expect(await refusal(service, queue(name, { durable: true }))).toMatchObject({
      code: 406,
      text: `PRECONDITION_FAILED - inequivalent arg 'x-max-length' ${where}: received none but current is the value '10' of type 'byte'`,
    });
    // Arguments RabbitMQ does not compare may differ.
    await service.apply(queue(name, { durable: true, arguments: { 'x-max-length': 10, 'x-custom': 'anything' } }));
  });

  it('exclusive queues belong to their owner id: 405 for others, gone when the owning connection closes', async () => {
    const conn = await client();
    const owner = serverId(conn);
    const name = uniq('svc-excl');
    await service.apply(queue(name, { exclusive: true, owner }));
    expect(service.exclusiveQueues(owner).size).toBe(1);
    // Its owner, over AMQP, may use it; anyone else gets 405, through apply() or AMQP.
    const ch = await channel(conn);
    expect(await ch.checkQueue(name)).toMatchObject({ queue: name });
    expect(await refusal(service, queue(name, { passive: true, owner: owner + 1000 }))).toEqual({ code: 405, text: locked(name), hard: false });
    expect(await refusal(service, queue(name, { exclusive: false, owner }))).toMatchObject({ code: 405, text: locked(name) });
    expect(await refusal(service, { kind: 'queue.purge', name, owner: 0 })).toMatchObject({ code: 405 });
    expect(await refusal(service, { kind: 'queue.delete', name, owner: 0 })).toMatchObject({ code: 405 });
    expect(await refusal(service, { kind: 'bind', exchange: 'amq.direct', queue: name, routingKey: 'k', arguments: {}, owner: 0 })).toMatchObject({ code: 405 });
    // An unbind of a binding it has (RabbitMQ looks at the owner only then; what is not bound unbinds fine).
    await service.apply({ kind: 'bind', exchange: 'amq.direct', queue: name, routingKey: 'k', arguments: {}, owner });
    expect(await refusal(service, { kind: 'unbind', exchange: 'amq.direct', queue: name, routingKey: 'k', arguments: {}, owner: 0 })).toMatchObject({ code: 405 });
    await service.apply({ kind: 'unbind', exchange: 'amq.direct', queue: name, routingKey: 'not-bound', arguments: {}, owner: 0 });
    expect(() => service.queue(name, 0)).toThrow(locked(name));
    // Exclusive needs an owner.
    expect(await refusal(service, queue(uniq('svc-noowner'), { exclusive: true, owner: 0 }))).toMatchObject({ code: 406 });

    await conn.close();
    await eventually(() => expect(running.broker.vhosts.get('/')!.topology.queues.has(name)).toBe(false));
    expect(service.exclusiveQueues(owner).size).toBe(0);
  });

  it('queue.purge and queue.delete return the messages removed; if-unused, if-empty and 404 are enforced', async () => {
    const name = uniq('svc-del');
    await service.apply(queue(name));
    const conn = await client();
    const ch = await channel(conn);
    for (let i = 0; i < 3; i++) ch.sendToQueue(name, Buffer.from(`m${i}`));
    await eventually(async () => expect((await ch.checkQueue(name)).messageCount).toBe(3));
    expect(await service.apply({ kind: 'queue.purge', name, owner: 0 })).toEqual({ messageCount: 3 });
    expect(await refusal(service, { kind: 'queue.purge', name: uniq('svc-none'), owner: 0 })).toMatchObject({ code: 404 });

    for (let i = 0; i < 2; i++) ch.sendToQueue(name, Buffer.from(`n${i}`));
    await eventually(async () => expect((await ch.checkQueue(name)).messageCount).toBe(2));
    expect(await refusal(service, { kind: 'queue.delete', name, ifEmpty: true, owner: 0 })).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - queue '${name}' in vhost '/' not empty`,
      hard: false,
    });
    const consumer = await ch.consume(name, () => {}, { noAck: false });
    await eventually(() => expect(service.topology.queues.get(name)!.consumerCount).toBe(1));
    expect(await refusal(service, { kind: 'queue.delete', name, ifUnused: true, owner: 0 })).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - queue '${name}' in vhost '/' in use`,
      hard: false,
    });
    await ch.cancel(consumer.consumerTag);
    await ch.recover(); // the two unacked deliveries go back
    expect(await service.apply({ kind: 'queue.delete', name, owner: 0 })).toEqual({ messageCount: 2 });
    expect(await queueExists(conn, name)).toBe(false);
    // Deleting what does not exist succeeds, as in RabbitMQ.
    expect(await service.apply({ kind: 'queue.delete', name, owner: 0 })).toEqual({ messageCount: 0 });
  });

  it('queue.delete cancels the queue’s amqplib consumers (basic.cancel from the server)', async () => {
    const name = uniq('svc-cancel');
    await service.apply(queue(name));
    const ch = await channel(await client());
    const inbox = await subscribe(ch, name);
    await service.apply({ kind: 'queue.delete', name, owner: 0 });
    await eventually(() => expect(inbox.cancelled).toBe(true));
  });

  it('exchange.declare: created, visible and routable; equivalence, passive, default, amq.* and unknown types are enforced', async () => {
    const name = uniq('svc-x');
    service.apply(exchange(name, { type: 'topic', durable: true }));
    const conn = await client();
    expect(await exchangeExists(conn, name)).toBe(true);
    service.apply(exchange(name, { type: 'topic', durable: true, arguments: { unrelated: 1 } }));
    const where = `for exchange '${name}' in vhost '/'`;
    expect(await refusal(service, exchange(name, { type: 'fanout', durable: true }))).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - inequivalent arg 'type' ${where}: received 'fanout' but current is 'topic'`,
      hard: false,
    });
    expect(await refusal(service, exchange(name, { type: 'topic', durable: false }))).toMatchObject({ code: 406, text: expect.stringContaining(`'durable' ${where}`) });
    expect(await refusal(service, exchange(name, { type: 'topic', durable: true, autoDelete: true }))).toMatchObject({
      text: expect.stringContaining(`'auto_delete' ${where}`),
    });
    expect(await refusal(service, exchange(name, { type: 'topic', durable: true, internal: true }))).toMatchObject({
      text: expect.stringContaining(`'internal' ${where}`),
    });
    expect(await refusal(service, exchange(name, { type: 'topic', durable: true, arguments: { 'alternate-exchange': 'ae' } }))).toMatchObject({
      text: `PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' ${where}: received the value 'ae' of type 'longstr' but current is none`,
    });
    const missing = uniq('svc-nox');
    expect(await refusal(service, exchange(missing, { passive: true }))).toEqual({ code: 404, text: `NOT_FOUND - no exchange '${missing}' in vhost '/'`, hard: false });
    expect(await refusal(service, exchange(''))).toEqual({ code: 403, text: 'ACCESS_REFUSED - operation not permitted on the default exchange', hard: false });
    expect(await refusal(service, exchange('amq.custom'))).toEqual({
      code: 403,
      text: `ACCESS_REFUSED - exchange name 'amq.custom' contains reserved prefix 'amq.*'`,
      hard: false,
    });
    expect(await refusal(service, exchange(uniq('svc-bad'), { type: 'x-nonsense' }))).toEqual({
      code: 503,
      text: `COMMAND_INVALID - unknown exchange type 'x-nonsense'`,
      hard: true,
    });
    // Existing system exchanges redeclare fine.
    service.apply(exchange('amq.topic', { type: 'topic', durable: true }));
  });

  it('exchange.delete: missing succeeds; default and amq.* refused; if-unused refused while bound', async () => {
    const name = uniq('svc-xdel');
    service.apply({ kind: 'exchange.delete', name });
    expect(await refusal(service, { kind: 'exchange.delete', name: '' })).toMatchObject({ code: 403 });
    expect(await refusal(service, { kind: 'exchange.delete', name: 'amq.direct' })).toEqual({
      code: 403,
      text: `ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed`,
      hard: false,
    });
    service.apply(exchange(name));
    const q = uniq('svc-xdel-q');
    await service.apply(queue(q));
    service.apply({ kind: 'bind', exchange: name, queue: q, routingKey: 'k', arguments: {}, owner: 0 });
    expect(await refusal(service, { kind: 'exchange.delete', name, ifUnused: true })).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - exchange '${name}' in vhost '/' in use`,
      hard: false,
    });
    service.apply({ kind: 'exchange.delete', name });
    expect(await exchangeExists(await client(), name)).toBe(false);
  });

  it('bind / unbind route and stop routing for an amqplib publisher; missing ends and the default exchange are refused', async () => {
    const x = uniq('svc-bx');
    const q = uniq('svc-bq');
    service.apply(exchange(x, { type: 'direct' }));
    await service.apply(queue(q));
    const bind = { exchange: x, queue: q, routingKey: 'key', arguments: {}, owner: 0 };
    service.apply({ kind: 'bind', ...bind });
    const ch = await channel(await client());
    const inbox = await subscribe(ch, q);
    ch.publish(x, 'key', Buffer.from('one'));
    await inbox.waitFor(1);
    service.apply({ kind: 'unbind', ...bind });
    service.apply({ kind: 'unbind', ...bind }); // again: unbinding what is not there succeeds
    ch.publish(x, 'key', Buffer.from('two'));
    ch.sendToQueue(q, Buffer.from('three')); // behind 'two' on the same channel: 'two' was dropped if 'three' comes next
    const got = await inbox.waitFor(2);
    expect(got.map((m) => m.content.toString())).toEqual(['one', 'three']);

    const nq = uniq('svc-nq');
    const nx = uniq('svc-nx');
    expect(await refusal(service, { kind: 'bind', ...bind, queue: nq })).toEqual({ code: 404, text: `NOT_FOUND - no queue '${nq}' in vhost '/'`, hard: false });
    expect(await refusal(service, { kind: 'bind', ...bind, exchange: nx })).toEqual({ code: 404, text: `NOT_FOUND - no exchange '${nx}' in vhost '/'`, hard: false });
    expect(await refusal(service, { kind: 'bind', ...bind, exchange: '' })).toMatchObject({ code: 403 });
    service.apply({ kind: 'unbind', ...bind, exchange: nx });
  });

  it('exchange.bind / exchange.unbind: routes through the chain; an auto-delete source goes with its last binding', async () => {
    const source = uniq('svc-src');
    const middle = uniq('svc-mid');
    const q = uniq('svc-eq');
    service.apply(exchange(source, { type: 'fanout', autoDelete: true }));
    service.apply(exchange(middle, { type: 'direct' }));
    await service.apply(queue(q));
    service.apply({ kind: 'bind', exchange: middle, queue: q, routingKey: 'k', arguments: {}, owner: 0 });
    service.apply({ kind: 'exchange.bind', source, destination: middle, routingKey: '', arguments: {} });
    const conn = await client();
    const ch = await channel(conn);
    const inbox = await subscribe(ch, q);
    ch.publish(source, 'k', Buffer.from('via source'));
    expect((await inbox.waitFor(1))[0].content.toString()).toBe('via source');

    const nx = uniq('svc-nx');
    expect(await refusal(service, { kind: 'exchange.bind', source, destination: nx, routingKey: '', arguments: {} })).toMatchObject({
      code: 404,
      text: `NOT_FOUND - no exchange '${nx}' in vhost '/'`,
    });
    expect(await refusal(service, { kind: 'exchange.bind', source: nx, destination: middle, routingKey: '', arguments: {} })).toMatchObject({ code: 404 });
    expect(await refusal(service, { kind: 'exchange.bind', source: '', destination: middle, routingKey: '', arguments: {} })).toMatchObject({ code: 403 });

    service.apply({ kind: 'exchange.unbind', source, destination: middle, routingKey: '', arguments: {} });
    expect(await exchangeExists(conn, source)).toBe(false);
    expect(await exchangeExists(conn, middle)).toBe(true);
  });
});
