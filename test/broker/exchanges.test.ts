/** Exchanges: the four types, the predeclared ones, declare/delete rules, exchange-to-exchange bindings. */
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, bodies, channel, closedWith, confirmChannel, drain, eventually, exchangeExists, nextEvent, reason, refused, subscribe, uniq, useBroker } from '../helpers.js';

/** Publishes [routingKey, body, options?] triples and waits until the broker has routed them all. */
async function publishAll(pub: ConfirmChannel, exchange: string, messages: [string, string, Options.Publish?][]): Promise<void> {
  for (const [key, body, options] of messages) pub.publish(exchange, key, Buffer.from(body), options);
  await pub.waitForConfirms();
}

describe.each(MODES)('exchanges: $name', ({ workers }) => {
  const server = useBroker(workers);

  async function setup(): Promise<{ conn: ChannelModel; ch: Awaited<ReturnType<typeof channel>>; pub: ConfirmChannel }> {
    const conn = await server.connect();
    return { conn, ch: await channel(conn), pub: await confirmChannel(conn) };
  }

  /** Declares auto-delete queues bound to `exchange` with the given keys (or header args). */
  async function boundQueues(ch: Awaited<ReturnType<typeof channel>>, exchange: string, bindings: [string, Record<string, unknown>?][]) {
    const names: string[] = [];
    for (const [key, args] of bindings) {
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, exchange, key, args);
      names.push(queue);
    }
    return names;
  }

  it('direct: routes on the exact routing key', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('ex-direct');
    await ch.assertExchange(ex, 'direct', { autoDelete: true });
    const [qa, qb] = await boundQueues(ch, ex, [['a'], ['b']]);
    await publishAll(pub, ex, [
      ['a', 'a1'],
      ['b', 'b1'],
      ['c', 'nobody'],
      ['a.b', 'nobody'],
      ['a', 'a2'],
    ]);
    expect(await drain(ch, qa)).toEqual(['a1', 'a2']);
    expect(await drain(ch, qb)).toEqual(['b1']);
  });

  it('direct: a delivery names the exchange and routing key it was published with', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('ex-direct-fields');
    await ch.assertExchange(ex, 'direct', { autoDelete: true });
    const [q] = await boundQueues(ch, ex, [['key']]);
    const inbox = await subscribe(ch, q);
    await publishAll(pub, ex, [['key', 'hello']]);
    const [msg] = await inbox.waitFor(1);
    expect(msg.fields).toMatchObject({ exchange: ex, routingKey: 'key', redelivered: false, consumerTag: inbox.consumerTag });
  });

  it('fanout: every bound queue gets every message, whatever the key', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('ex-fanout');
    await ch.assertExchange(ex, 'fanout', { autoDelete: true });
    // Six queues, so that with worker threads they sit on different shards.
    const queues = await boundQueues(ch, ex, [['x'], [''], ['y'], ['z'], [''], ['#']]);
    await publishAll(pub, ex, [
      ['', 'm1'],
      ['anything', 'm2'],
    ]);
    for (const q of queues) expect(await drain(ch, q)).toEqual(['m1', 'm2']);
  });

  it("topic: '*' matches exactly one word", async () => {
    const { ch, pub } = await setup();
    const ex = uniq('ex-topic-star');
    await ch.assertExchange(ex, 'topic', { autoDelete: true });
    const [q] = await boundQueues(ch, ex, [['a.*.c']]);
    await publishAll(pub, ex, [
      ['a.b.c', 'yes-1'],
      ['a.c', 'no'],
      ['a.b.b.c', 'no'],
      ['a..c', 'yes-2'], // an empty word is still a word
      ['a.b.c.d', 'no'],
      ['x.b.c', 'no'],
    ]);
    expect(await drain(ch, q)).toEqual(['yes-1', 'yes-2']);
  });

  it("topic: '#' matches zero or more words", async () => {
    const { ch, pub } = await setup();
    const ex = uniq('ex-topic-hash');
    await ch.assertExchange(ex, 'topic', { autoDelete: true });
    const [tail, middle, all] = await boundQueues(ch, ex, [['a.#'], ['a.#.z'], ['#']]);
    await publishAll(pub, ex, [
      ['a', 'a'],
      ['a.b', 'a.b'],
      ['a.b.c', 'a.b.c'],
      ['a.z', 'a.z'],
      ['a.b.c.z', 'a.b.c.z'],
      ['b.a', 'b.a'],
      ['', 'empty'],
    ]);
    expect(await drain(ch, tail)).toEqual(['a', 'a.b', 'a.b.c', 'a.z', 'a.b.c.z']);
    expect(await drain(ch, middle)).toEqual(['a.z', 'a.b.c.z']);
    expect(await drain(ch, all)).toEqual(['a', 'a.b', 'a.b.c', 'a.z', 'a.b.c.z', 'b.a', 'empty']);
  });

  it('topic: a queue matched by several bindings gets one copy', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('ex-topic-dup');
    await ch.assertExchange(ex, 'topic', { autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (const key of ['a.*', 'a.#', '#', '*.b']) await ch.bindQueue(queue, ex, key);
    await publishAll(pub, ex, [['a.b', 'once']]);
    expect(await drain(ch, queue)).toEqual(['once']);
  });

  it("headers: x-match 'all' needs every header, 'any' needs one", async () => {
    const { ch, pub } = await setup();
    const ex = uniq('ex-headers');
    await ch.assertExchange(ex, 'headers', { autoDelete: true });
    const [all, any, byDefault] = await boundQueues(ch, ex, [
      ['', { 'x-match': 'all', format: 'pdf', type: 'report' }],
      ['', { 'x-match': 'any', format: 'pdf', type: 'log' }],
      ['', { format: 'pdf', type: 'report' }], // no x-match: 'all'
    ]);
    await publishAll(pub, ex, [
      ['', 'pdf-report', { headers: { format: 'pdf', type: 'report' } }],
      ['', 'pdf', { headers: { format: 'pdf' } }],
      ['', 'zip-log', { headers: { format: 'zip', type: 'log' } }],
      ['', 'zip-report', { headers: { format: 'zip', type: 'report' } }],
      ['', 'no-headers'],
      ['ignored-key', 'pdf-report-extra', { headers: { format: 'pdf', type: 'report', other: 1 } }],
    ]);
    expect(await drain(ch, all)).toEqual(['pdf-report', 'pdf-report-extra']);
    expect(await drain(ch, any)).toEqual(['pdf-report', 'pdf', 'zip-log', 'pdf-report-extra']);
    expect(await drain(ch, byDefault)).toEqual(['pdf-report', 'pdf-report-extra']);
  });

  it('headers: values must match in value, not only in name', async () => {
    const { ch, pub } = await setup();
    const ex = uniq('ex-headers-values');
    await ch.assertExchange(ex, 'headers', { autoDelete: true });
    const [q] = await boundQueues(ch, ex, [['', { 'x-match': 'all', n: 42, flag: true }]]);
    await publishAll(pub, ex, [
      ['', 'match', { headers: { n: 42, flag: true } }],
      ['', 'wrong-number', { headers: { n: 43, flag: true } }],
      ['', 'wrong-bool', { headers: { n: 42, flag: false } }],
      ['', 'missing', { headers: { n: 42 } }],
    ]);
    expect(await drain(ch, q)).toEqual(['match']);
  });

  it('the default exchange routes to the queue named by the routing key', async () => {
    const { ch, pub } = await setup();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const inbox = await subscribe(ch, queue);
    await publishAll(pub, '', [
      [queue, 'direct to queue'],
      [uniq('no-such-queue'), 'dropped'],
    ]);
    const [msg] = await inbox.waitFor(1);
    expect(msg.content.toString()).toBe('direct to queue');
    expect(msg.fields).toMatchObject({ exchange: '', routingKey: queue });
  });

  it('the default exchange may not be declared, bound or deleted', async () => {
    const { conn } = await setup();
    // amqplib sends exchange.declare for '' like any other name.
    expect(await refused((await channel(conn)).assertExchange('', 'direct'))).toEqual({
      code: 403,
      text: 'ACCESS_REFUSED - operation not permitted on the default exchange',
    });
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    expect(await refused(ch.bindQueue(queue, '', 'key'))).toEqual({
      code: 403,
      text: 'ACCESS_REFUSED - operation not permitted on the default exchange',
    });
    expect(await refused((await channel(conn)).deleteExchange(''))).toEqual({
      code: 403,
      text: 'ACCESS_REFUSED - operation not permitted on the default exchange',
    });
  });

  it('binding or unbinding the default exchange is refused (403) before anything is looked up, as in RabbitMQ', async () => {
    const { conn } = await setup();
    const refusal = { code: 403, text: 'ACCESS_REFUSED - operation not permitted on the default exchange' };
    const { queue } = await (await channel(conn)).assertQueue('', { exclusive: true });
    const missing = uniq('no-such');
    // Before: unbinds answered unbind-ok, and a bind to a missing queue or exchange 404.
    expect(await refused((await channel(conn)).unbindQueue(queue, '', queue))).toEqual(refusal);
    expect(await refused((await channel(conn)).bindQueue(missing, '', 'k'))).toEqual(refusal);
    expect(await refused((await channel(conn)).unbindQueue(missing, '', 'k'))).toEqual(refusal);
    expect(await refused((await channel(conn)).bindExchange(missing, '', 'k'))).toEqual(refusal);
    expect(await refused((await channel(conn)).bindExchange('', 'amq.direct', 'k'))).toEqual(refusal);
    expect(await refused((await channel(conn)).unbindExchange('amq.fanout', '', 'k'))).toEqual(refusal);
    expect(await refused((await channel(conn)).unbindExchange('', missing, 'k'))).toEqual(refusal);
    // The default exchange still routes by queue name.
    const ch = await channel(conn);
    ch.sendToQueue(queue, Buffer.from('still routed'));
    expect(await drain(ch, queue)).toEqual(['still routed']);
  });

  it("a new exchange's alternate-exchange must be a string (406 with RabbitMQ's text); a redeclare checks only equivalence", async () => {
    const { conn } = await setup();
    const ex = uniq('ae-type');
    const cases: [unknown, string][] = [[5, 'byte'], [255, 'short'], [true, 'bool'], [null, 'void'], [['a'], 'array'], [{ a: 1 }, 'table'], [Buffer.from('ab'), 'binary'], [1.5, 'double'],
      // the type it was sent as, which RabbitMQ names: amqplib's { '!': type } sends any
      [{ '!': 'int', value: 5 }, 'signedint'], [{ '!': 'double', value: 5 }, 'double'], [{ '!': 'timestamp', value: 5 }, 'timestamp']];
    for (const [value, type] of cases) {
      expect(await refused((await channel(conn)).assertExchange(ex, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': value } }))).toEqual({
        code: 406,
        text: `PRECONDITION_FAILED - invalid type '${type}' for arg 'alternate-exchange' in exchange '${ex}' in vhost '/'`,
      });
    }
    const ch = await channel(conn);
    await expect(ch.checkExchange(ex)).rejects.toThrow(/404/);
    await (await channel(conn)).assertExchange(ex, 'direct', { autoDelete: false, arguments: { 'alternate-exchange': 'some-ae' } });
    expect(await refused((await channel(conn)).assertExchange(ex, 'direct', { autoDelete: false, arguments: { 'alternate-exchange': 5 } }))).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '${ex}' in vhost '/': received '5' but current is 'some-ae'`,
    });
    await (await channel(conn)).deleteExchange(ex);
  });

  it('the amq.* exchanges exist with their types', async () => {
    const { ch, pub } = await setup();
    for (const name of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']) {
      await expect(ch.checkExchange(name)).resolves.toBeDefined();
    }
    // Redeclaring them with their own type (durable, not auto-delete) is fine...
    await ch.assertExchange('amq.direct', 'direct', { durable: true });
    await ch.assertExchange('amq.match', 'headers', { durable: true });
    // ...and they route like their type.
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const key = uniq('amq-topic');
    await ch.bindQueue(queue, 'amq.topic', `${key}.*`);
    await ch.bindQueue(queue, 'amq.match', '', { 'x-match': 'any', [key]: 'yes' });
    await publishAll(pub, 'amq.topic', [[`${key}.x`, 'topic'], [`${key}`, 'no']]);
    await publishAll(pub, 'amq.match', [['', 'headers', { headers: { [key]: 'yes' } }]]);
    expect(await drain(ch, queue)).toEqual(['topic', 'headers']);
    // They cannot be redeclared with another type.
    expect(await refused(ch.assertExchange('amq.fanout', 'direct'))).toEqual({
      code: 406,
      text: "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.fanout' in vhost '/': received 'direct' but current is 'fanout'",
    });
  });

  it('declares durable, auto-delete and internal exchanges; passive declare finds them', async () => {
    const { conn, ch } = await setup();
    const durable = uniq('ex-durable');
    const transient = uniq('ex-transient');
    const autoDelete = uniq('ex-autodelete');
    const internal = uniq('ex-internal');
    await ch.assertExchange(durable, 'direct', { durable: true });
    await ch.assertExchange(transient, 'topic', { durable: false });
    await ch.assertExchange(autoDelete, 'fanout', { durable: false, autoDelete: true });
    await ch.assertExchange(internal, 'direct', { durable: false, internal: true });
    // Redeclaring with the same type and flags is a no-op.
    await ch.assertExchange(durable, 'direct', { durable: true });
    await ch.assertExchange(internal, 'direct', { durable: false, internal: true });
    // An auto-delete exchange that never had a binding stays.
    for (const name of [durable, transient, autoDelete, internal]) {
      expect(await ch.checkExchange(name)).toEqual({});
    }
    for (const name of [durable, transient, autoDelete, internal]) await ch.deleteExchange(name);
    for (const name of [durable, transient, autoDelete, internal]) {
      expect(await exchangeExists(conn, name)).toBe(false);
    }
  });

  it('refuses a redeclare with another type or other flags (406)', async () => {
    const { conn } = await setup();
    const ex = uniq('ex-redeclare');
    const ch = await channel(conn);
    await ch.assertExchange(ex, 'direct', { durable: false });
    const where = `for exchange '${ex}' in vhost '/'`;
    const cases: [string, Options.AssertExchange, string][] = [
      ['fanout', { durable: false }, `inequivalent arg 'type' ${where}: received 'fanout' but current is 'direct'`],
      ['direct', { durable: true }, `inequivalent arg 'durable' ${where}: received 'true' but current is 'false'`],
      ['direct', { durable: false, autoDelete: true }, `inequivalent arg 'auto_delete' ${where}: received 'true' but current is 'false'`],
      ['direct', { durable: false, internal: true }, `inequivalent arg 'internal' ${where}: received 'true' but current is 'false'`],
    ];
    for (const [type, options, text] of cases) {
      const attempt = await channel(conn);
      expect(await refused(attempt.assertExchange(ex, type, options))).toEqual({ code: 406, text: `PRECONDITION_FAILED - ${text}` });
    }
    // The exchange is unchanged.
    await ch.assertExchange(ex, 'direct', { durable: false });
    await ch.deleteExchange(ex);
  });

  it('passive declare of a missing exchange is 404', async () => {
    const { ch } = await setup();
    const ex = uniq('ex-missing');
    expect(await refused(ch.checkExchange(ex))).toEqual({ code: 404, text: `NOT_FOUND - no exchange '${ex}' in vhost '/'` });
  });

  it("refuses to declare a name with the reserved 'amq.' prefix (403)", async () => {
    const { ch } = await setup();
    const ex = uniq('amq.custom');
    expect(await refused(ch.assertExchange(ex, 'direct'))).toEqual({
      code: 403,
      text: `ACCESS_REFUSED - exchange name '${ex}' contains reserved prefix 'amq.*'`,
    });
  });

  it('refuses an unknown exchange type with a connection error (503)', async () => {
    const { conn } = await setup();
    const ch = await channel(conn);
    const connError = nextEvent(conn, 'error');
    // The pending declare only learns that the channel ended; the connection carries the reason.
    await expect(ch.assertExchange(uniq('ex-badtype'), 'no-such-type')).rejects.toThrow();
    expect(reason(await connError)).toEqual({ code: 503, text: "COMMAND_INVALID - unknown exchange type 'no-such-type'" });
  });

  it('checks the type before the name, as RabbitMQ: the default exchange with an unknown type is a 503, passive it is a 403', async () => {
    const { conn } = await setup();
    expect(await refused((await channel(conn)).checkExchange(''))).toEqual({ code: 403, text: 'ACCESS_REFUSED - operation not permitted on the default exchange' });
    const ch = await channel(conn);
    const connError = nextEvent(conn, 'error');
    await expect(ch.assertExchange('', 'no-such-type')).rejects.toThrow();
    expect(reason(await connError)).toEqual({ code: 503, text: "COMMAND_INVALID - unknown exchange type 'no-such-type'" });
  });

  it('refuses to delete an amq.* exchange (403)', async () => {
    const { ch } = await setup();
    expect(await refused(ch.deleteExchange('amq.direct'))).toEqual({
      code: 403,
      text: "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed",
    });
  });

  it('delete if-unused refuses an exchange with bindings (406); plain delete removes it', async () => {
    const { conn, ch } = await setup();
    const ex = uniq('ex-in-use');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, 'k');
    const attempt = await channel(conn);
    expect(await refused(attempt.deleteExchange(ex, { ifUnused: true }))).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - exchange '${ex}' in vhost '/' in use`,
    });
    expect(await exchangeExists(conn, ex)).toBe(true);
    await ch.unbindQueue(queue, ex, 'k');
    await ch.deleteExchange(ex, { ifUnused: true });
    expect(await exchangeExists(conn, ex)).toBe(false);

    // Deleting an exchange with bindings (no if-unused) takes them with it.
    await ch.assertExchange(ex, 'direct', { durable: false });
    await ch.bindQueue(queue, ex, 'k');
    await ch.deleteExchange(ex);
    await ch.assertExchange(ex, 'direct', { durable: false });
    const pub = await confirmChannel(conn);
    await publishAll(pub, ex, [['k', 'no binding left']]);
    expect(await drain(ch, queue)).toEqual([]);
    await ch.deleteExchange(ex);
  });

  it('deleting a missing exchange succeeds', async () => {
    const { ch } = await setup();
    await expect(ch.deleteExchange(uniq('ex-never'))).resolves.toEqual({});
  });

  it('exchange-to-exchange: messages flow e1 -> e2 -> queue until unbound', async () => {
    const { ch, pub } = await setup();
    const e1 = uniq('ex-source');
    const e2 = uniq('ex-destination');
    await ch.assertExchange(e1, 'direct', { durable: false });
    await ch.assertExchange(e2, 'fanout', { durable: false });
    const [q] = await boundQueues(ch, e2, [['']]);
    await ch.bindExchange(e2, e1, 'pass');

    const inbox = await subscribe(ch, q);
    await publishAll(pub, e1, [
      ['pass', 'through'],
      ['block', 'not bound'],
    ]);
    const [msg] = await inbox.waitFor(1);
    expect(msg.content.toString()).toBe('through');
    // The delivery names the exchange the message was published to.
    expect(msg.fields).toMatchObject({ exchange: e1, routingKey: 'pass' });

    await ch.unbindExchange(e2, e1, 'pass');
    await publishAll(pub, e1, [['pass', 'after unbind']]);
    await publishAll(pub, e2, [['', 'direct to e2']]);
    await inbox.waitFor(2);
    expect(bodies(inbox.messages)).toEqual(['through', 'direct to e2']);
    await ch.deleteExchange(e1);
    await ch.deleteExchange(e2);
  });

  it('exchange-to-exchange: a chain e1 -> e2 -> e3 with topic and a cycle delivers once', async () => {
    const { ch, pub } = await setup();
    const [e1, e2, e3] = [uniq('ex-chain1'), uniq('ex-chain2'), uniq('ex-chain3')];
    await ch.assertExchange(e1, 'topic', { durable: false });
    await ch.assertExchange(e2, 'topic', { durable: false });
    await ch.assertExchange(e3, 'fanout', { durable: false });
    await ch.bindExchange(e2, e1, 'a.#');
    await ch.bindExchange(e3, e2, '*.b');
    await ch.bindExchange(e1, e3, ''); // a cycle back to the start
    const [q] = await boundQueues(ch, e3, [['']]);
    await publishAll(pub, e1, [
      ['a.b', 'a.b'],
      ['a.c', 'stops at e2'],
      ['x.b', 'stops at e1'],
    ]);
    expect(await drain(ch, q)).toEqual(['a.b']);
    for (const e of [e1, e2, e3]) await ch.deleteExchange(e);
  });

  it('an auto-delete exchange goes when its last binding is removed', async () => {
    const { conn, ch } = await setup();
    const ex = uniq('ex-autodel');
    await ch.assertExchange(ex, 'direct', { durable: false, autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, 'one');
    await ch.bindQueue(queue, ex, 'two');
    await ch.unbindQueue(queue, ex, 'one');
    expect(await exchangeExists(conn, ex)).toBe(true); // one binding left
    await ch.unbindQueue(queue, ex, 'two');
    await eventually(async () => expect(await exchangeExists(conn, ex)).toBe(false));
    const check = await channel(conn);
    expect(await refused(check.checkExchange(ex))).toEqual({ code: 404, text: `NOT_FOUND - no exchange '${ex}' in vhost '/'` });
  });

  it('an auto-delete exchange goes when the queue of its last binding is deleted', async () => {
    const { conn, ch } = await setup();
    const ex = uniq('ex-autodel-queue');
    await ch.assertExchange(ex, 'fanout', { durable: false, autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, '');
    await ch.deleteQueue(queue);
    await eventually(async () => expect(await exchangeExists(conn, ex)).toBe(false));
  });

  it('an auto-delete exchange goes when its last exchange-to-exchange binding is removed', async () => {
    const { conn, ch } = await setup();
    const source = uniq('ex-autodel-source');
    const destination = uniq('ex-autodel-dest');
    await ch.assertExchange(source, 'fanout', { durable: false, autoDelete: true });
    await ch.assertExchange(destination, 'fanout', { durable: false });
    await ch.bindExchange(destination, source, '');
    await ch.unbindExchange(destination, source, '');
    await eventually(async () => expect(await exchangeExists(conn, source)).toBe(false));
    // The destination was not auto-delete: it stays.
    expect(await exchangeExists(conn, destination)).toBe(true);
    await ch.deleteExchange(destination);
  });

  it('refuses a publish to an internal exchange (403) but routes into it from another exchange', async () => {
    const { conn, ch, pub } = await setup();
    const internal = uniq('ex-internal-pub');
    const front = uniq('ex-front');
    await ch.assertExchange(internal, 'fanout', { durable: false, internal: true });
    await ch.assertExchange(front, 'fanout', { durable: false });
    await ch.bindExchange(internal, front, '');
    const [q] = await boundQueues(ch, internal, [['']]);
    await publishAll(pub, front, [['', 'via front']]);
    expect(await drain(ch, q)).toEqual(['via front']);

    const publisher = await channel(conn);
    const close = closedWith(publisher);
    publisher.publish(internal, '', Buffer.from('direct'));
    expect(await close).toEqual({ code: 403, text: `ACCESS_REFUSED - cannot publish to internal exchange '${internal}' in vhost '/'` });
    expect(await drain(ch, q)).toEqual([]);
    await ch.deleteExchange(front);
    await ch.deleteExchange(internal);
  });
});
