/** Queues: declare flags and counts, server names, purge, delete, exclusivity, auto-delete, equivalence. */
import { describe, expect, it } from 'vitest';
import { MODES, channel, closedWith, drain, eventually, queueExists, refused, subscribe, uniq, useBroker } from '../helpers.js';
import { lockedText as locked } from '../helpers.js';


describe.each(MODES)('queues: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('declares durable and transient queues; declare-ok echoes the name and counts', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const durable = uniq('q-durable');
    const transient = uniq('q-transient');
    expect(await ch.assertQueue(durable, { durable: true })).toEqual({ queue: durable, messageCount: 0, consumerCount: 0 });
    expect(await ch.assertQueue(transient, { durable: false })).toEqual({ queue: transient, messageCount: 0, consumerCount: 0 });
    // An equivalent redeclare is fine; passive declare finds both.
    await ch.assertQueue(durable, { durable: true });
    expect(await ch.checkQueue(durable)).toEqual({ queue: durable, messageCount: 0, consumerCount: 0 });
    expect(await ch.checkQueue(transient)).toEqual({ queue: transient, messageCount: 0, consumerCount: 0 });
    await ch.deleteQueue(durable);
    await ch.deleteQueue(transient);
  });

  it("names a queue declared with an empty name 'amq.gen-...'", async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const a = await ch.assertQueue('', { exclusive: true });
    const b = await ch.assertQueue('', { exclusive: true });
    expect(a.queue).toMatch(/^amq\.gen-[A-Za-z0-9_-]{22}$/);
    expect(b.queue).toMatch(/^amq\.gen-[A-Za-z0-9_-]{22}$/);
    expect(a.queue).not.toBe(b.queue);
    ch.sendToQueue(a.queue, Buffer.from('to a'));
    expect(await eventually(async () => (await ch.checkQueue(a.queue)).messageCount)).toBe(1);
  });

  it('an empty queue name means the queue last declared on the channel', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const key = uniq('last-declared');
    await ch.bindQueue('', 'amq.direct', key);
    ch.publish('amq.direct', key, Buffer.from('via last queue'));
    const msg = await eventually(async () => {
      const got = await ch.get('', { noAck: true });
      expect(got).not.toBe(false);
      return got;
    });
    expect(msg && msg.content.toString()).toBe('via last queue');
    expect((await ch.checkQueue(queue)).messageCount).toBe(0);

    // Without a previous declare on the channel there is nothing to refer to.
    const fresh = await channel(conn);
    expect(await refused(fresh.bindQueue('', 'amq.direct', key))).toEqual({
      code: 404,
      text: 'NOT_FOUND - no previously declared queue',
    });
  });

  it("bind and unbind of '' with an empty key both mean the last declared queue under its own name, as in RabbitMQ", async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const returned: string[] = [];
    ch.on('return', (m) => returned.push(m.content.toString()));
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue('', 'amq.direct', '');
    ch.publish('amq.direct', queue, Buffer.from('bound'), { mandatory: true });
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(1));
    await ch.unbindQueue('', 'amq.direct', '');
    ch.publish('amq.direct', queue, Buffer.from('unbound'), { mandatory: true });
    await eventually(() => expect(returned).toEqual(['unbound']));
    expect((await ch.checkQueue(queue)).messageCount).toBe(1);
  });

  it('declare-ok counts ready messages and consumers', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('q-counts');
    await ch.assertQueue(queue, { autoDelete: false });
    for (const body of ['1', '2', '3']) ch.sendToQueue(queue, Buffer.from(body));
    await eventually(async () => expect(await ch.checkQueue(queue)).toEqual({ queue, messageCount: 3, consumerCount: 0 }));
    // A redeclare reports the same counts.
    expect(await ch.assertQueue(queue, { autoDelete: false })).toEqual({ queue, messageCount: 3, consumerCount: 0 });

    // A consumer with prefetch 1 holds one message unacked: two stay ready.
    const consumerCh = await channel(conn);
    await consumerCh.prefetch(1);
    const inbox = await subscribe(consumerCh, queue, { noAck: false });
    await inbox.waitFor(1);
    await eventually(async () => expect(await ch.checkQueue(queue)).toEqual({ queue, messageCount: 2, consumerCount: 1 }));
    await subscribe(await channel(conn), queue, { noAck: false });
    expect((await ch.checkQueue(queue)).consumerCount).toBe(2);
    await ch.deleteQueue(queue);
  });

  it('takes messages from several bindings, and stops after an unbind', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const pub = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const key = uniq('q-multi');
    await ch.bindQueue(queue, 'amq.direct', `${key}.a`);
    await ch.bindQueue(queue, 'amq.direct', `${key}.b`);
    await ch.bindQueue(queue, 'amq.topic', `${key}.#`);
    const inbox = await subscribe(ch, queue);
    pub.publish('amq.direct', `${key}.a`, Buffer.from('direct a'));
    pub.publish('amq.direct', `${key}.b`, Buffer.from('direct b'));
    pub.publish('amq.topic', `${key}.x.y`, Buffer.from('topic'));
    await inbox.waitFor(3);

    await ch.unbindQueue(queue, 'amq.direct', `${key}.a`);
    pub.publish('amq.direct', `${key}.a`, Buffer.from('unbound a'));
    pub.publish('amq.direct', `${key}.b`, Buffer.from('still b'));
    const got = await inbox.waitFor(4);
    expect(got.map((m) => [m.content.toString(), m.fields.exchange])).toEqual([
      ['direct a', 'amq.direct'],
      ['direct b', 'amq.direct'],
      ['topic', 'amq.topic'],
      ['still b', 'amq.direct'],
    ]);
  });

  it('purge drops ready messages and returns their count', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < 5; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(5));
    // One message is out, unacked: purge leaves it alone.
    const holder = await channel(conn);
    const out = await holder.get(queue, { noAck: false });
    expect(out && out.content.toString()).toBe('m0');
    expect(await ch.purgeQueue(queue)).toEqual({ messageCount: 4 });
    expect(await ch.purgeQueue(queue)).toEqual({ messageCount: 0 });
    expect((await ch.checkQueue(queue)).messageCount).toBe(0);
    // The unacked one comes back when its channel closes.
    await holder.close();
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(1));
    expect(await drain(ch, queue)).toEqual(['m0']);
  });

  it('purge of a missing queue is 404', async () => {
    const conn = await server.connect();
    const queue = uniq('q-missing');
    expect(await refused((await channel(conn)).purgeQueue(queue))).toEqual({ code: 404, text: `NOT_FOUND - no queue '${queue}' in vhost '/'` });
  });

  it('passive declare of a missing queue is 404', async () => {
    const conn = await server.connect();
    const queue = uniq('q-missing');
    expect(await refused((await channel(conn)).checkQueue(queue))).toEqual({ code: 404, text: `NOT_FOUND - no queue '${queue}' in vhost '/'` });
  });

  it("refuses a queue name with the reserved 'amq.' prefix (403)", async () => {
    const conn = await server.connect();
    const queue = uniq('amq.q');
    expect(await refused((await channel(conn)).assertQueue(queue))).toEqual({
      code: 403,
      text: `ACCESS_REFUSED - queue name '${queue}' contains reserved prefix 'amq.*'`,
    });
  });

  it('delete returns the message count; deleting a missing queue succeeds', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('q-delete');
    await ch.assertQueue(queue);
    for (let i = 0; i < 4; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(4));
    expect(await ch.deleteQueue(queue)).toEqual({ messageCount: 4 });
    expect(await queueExists(conn, queue)).toBe(false);
    expect(await ch.deleteQueue(queue)).toEqual({ messageCount: 0 });
  });

  it('delete if-unused refuses a queue with a consumer (406)', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('q-if-unused');
    await ch.assertQueue(queue);
    const inbox = await subscribe(ch, queue);
    expect(await refused((await channel(conn)).deleteQueue(queue, { ifUnused: true }))).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - queue '${queue}' in vhost '/' in use`,
    });
    expect(await queueExists(conn, queue)).toBe(true);
    await ch.cancel(inbox.consumerTag);
    expect(await ch.deleteQueue(queue, { ifUnused: true })).toEqual({ messageCount: 0 });
    expect(await queueExists(conn, queue)).toBe(false);
  });

  it('delete if-empty refuses a queue with messages (406)', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('q-if-empty');
    await ch.assertQueue(queue);
    ch.sendToQueue(queue, Buffer.from('x'));
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(1));
    expect(await refused((await channel(conn)).deleteQueue(queue, { ifEmpty: true }))).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - queue '${queue}' in vhost '/' not empty`,
    });
    await ch.purgeQueue(queue);
    expect(await ch.deleteQueue(queue, { ifEmpty: true })).toEqual({ messageCount: 0 });
    expect(await queueExists(conn, queue)).toBe(false);
  });

  it('deleting a queue cancels its consumers (basic.cancel to the client)', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('q-delete-consumers');
    await ch.assertQueue(queue);
    const inbox = await subscribe(ch, queue);
    const admin = await channel(conn);
    await admin.deleteQueue(queue);
    await eventually(() => expect(inbox.cancelled).toBe(true));
    // The channel stays open.
    await ch.assertQueue(queue, { autoDelete: true });
  });

  it('an exclusive queue is locked to its connection (405 everywhere else)', async () => {
    const owner = await server.connect();
    const other = await server.connect();
    const ch = await channel(owner);
    const queue = uniq('q-exclusive');
    await ch.assertQueue(queue, { exclusive: true });
    const ops: [string, (c: Awaited<ReturnType<typeof channel>>) => Promise<unknown>][] = [
      ['declare', (c) => c.assertQueue(queue, { exclusive: true })],
      ['passive declare', (c) => c.checkQueue(queue)],
      ['consume', (c) => c.consume(queue, () => {})],
      ['bind', (c) => c.bindQueue(queue, 'amq.direct', 'k')],
      ['purge', (c) => c.purgeQueue(queue)],
      ['delete', (c) => c.deleteQueue(queue)],
    ];
    for (const [what, op] of ops) {
      const attempt = await channel(other);
      expect({ what, ...(await refused(op(attempt))) }).toEqual({ what, code: 405, text: locked(queue) });
    }
    // basic.get: the close arrives as a channel error.
    const getter = await channel(other);
    const getClosed = closedWith(getter);
    getter.get(queue).catch(() => {});
    expect(await getClosed).toEqual({ code: 405, text: locked(queue) });

    // The owner goes on using it.
    ch.sendToQueue(queue, Buffer.from('mine'));
    await eventually(async () => expect(await drain(ch, queue)).toEqual(['mine']));
  });

  it('exclusivity must match on redeclare, even on the owning connection (405)', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const exclusive = uniq('q-excl-redeclare');
    const shared = uniq('q-shared-redeclare');
    await ch.assertQueue(exclusive, { exclusive: true });
    await ch.assertQueue(shared, { exclusive: false });
    expect(await refused((await channel(conn)).assertQueue(exclusive, { exclusive: false }))).toEqual({ code: 405, text: locked(exclusive) });
    expect(await refused((await channel(conn)).assertQueue(shared, { exclusive: true }))).toEqual({ code: 405, text: locked(shared) });
    await ch.deleteQueue(shared);
  });

  it('an exclusive queue is transient whatever durable said: a redeclare with either flag is equivalent, as in RabbitMQ', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    for (const first of [true, false]) {
      const queue = uniq('q-excl-durable');
      await ch.assertQueue(queue, { exclusive: true, durable: first });
      for (const durable of [true, false, first]) expect((await ch.assertQueue(queue, { exclusive: true, durable })).queue).toBe(queue);
      // auto_delete is still compared
      expect(await refused((await channel(conn)).assertQueue(queue, { exclusive: true, durable: first, autoDelete: true }))).toEqual({
        code: 406,
        text: `PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue '${queue}' in vhost '/': received 'true' but current is 'false'`,
      });
    }
  });

  it('an exclusive queue is deleted when its connection closes', async () => {
    const owner = await server.connect();
    const other = await server.connect();
    const queue = uniq('q-exclusive-gone');
    await (await channel(owner)).assertQueue(queue, { exclusive: true });
    expect((await refused((await channel(other)).checkQueue(queue))).code).toBe(405);
    await owner.close();
    await eventually(async () =>
      expect(await refused((await channel(other)).checkQueue(queue))).toEqual({ code: 404, text: `NOT_FOUND - no queue '${queue}' in vhost '/'` }),
    );
    // The name is free again.
    const ch = await channel(other);
    await ch.assertQueue(queue, { exclusive: true });
  });

  it('an auto-delete queue goes when its last consumer cancels, not before', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('q-autodelete');
    await ch.assertQueue(queue, { autoDelete: true });
    // Never consumed from: it stays.
    expect(await queueExists(conn, queue)).toBe(true);
    const first = await subscribe(ch, queue);
    const second = await subscribe(ch, queue);
    await ch.cancel(first.consumerTag);
    expect(await ch.checkQueue(queue)).toEqual({ queue, messageCount: 0, consumerCount: 1 });
    await ch.cancel(second.consumerTag);
    await eventually(async () => expect(await queueExists(conn, queue)).toBe(false));
  });

  it('an auto-delete queue goes when the channel of its last consumer closes', async () => {
    const conn = await server.connect();
    const queue = uniq('q-autodelete-close');
    const ch = await channel(conn);
    await ch.assertQueue(queue, { autoDelete: true });
    await subscribe(ch, queue);
    await ch.close();
    await eventually(async () => expect(await queueExists(conn, queue)).toBe(false));
  });

  it('refuses an inequivalent redeclare (406) with RabbitMQ texts', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('q-inequivalent');
    await ch.assertQueue(queue, { durable: false, autoDelete: false });
    const where = `for queue '${queue}' in vhost '/'`;
    expect(await refused((await channel(conn)).assertQueue(queue, { durable: true }))).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - inequivalent arg 'durable' ${where}: received 'true' but current is 'false'`,
    });
    expect(await refused((await channel(conn)).assertQueue(queue, { durable: false, autoDelete: true }))).toEqual({
      code: 406,
      text: `PRECONDITION_FAILED - inequivalent arg 'auto_delete' ${where}: received 'true' but current is 'false'`,
    });
    // RabbitMQ also names the field type ("of type 'short'"); warren's tables keep values, not types.
    const ttl = await refused((await channel(conn)).assertQueue(queue, { durable: false, messageTtl: 2000 }));
    expect(ttl.code).toBe(406);
    expect(ttl.text).toMatch(new RegExp(`^PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' ${where}: received the value '2000'.* but current is none$`));
    // Still there, unchanged.
    expect(await ch.assertQueue(queue, { durable: false })).toEqual({ queue, messageCount: 0, consumerCount: 0 });
    await ch.deleteQueue(queue);
  });

  it('ignores arguments RabbitMQ does not know when comparing a redeclare', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('q-unknown-args');
    await ch.assertQueue(queue, { durable: false });
    // RabbitMQ only compares the x-arguments it understands (x-message-ttl, x-expires, ...).
    expect(await ch.assertQueue(queue, { durable: false, arguments: { 'x-custom': 'anything' } })).toEqual({
      queue,
      messageCount: 0,
      consumerCount: 0,
    });
    await ch.deleteQueue(queue);
  });
});
