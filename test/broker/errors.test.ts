/** Errors: channel errors close one channel only; connection errors close one connection only. */
import { describe, expect, it } from 'vitest';
import { MODES, bodies, channel, closedWith, eventually, nextEvent, reason, refused, sleep, subscribe, uniq, useBroker } from '../helpers.js';

describe.each(MODES)('errors: $name', ({ workers }) => {
  const server = useBroker(workers);

  it('publishing to a missing exchange closes the channel with 404; the connection goes on', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const other = await channel(conn);
    const { queue } = await other.assertQueue('', { exclusive: true });
    const ex = uniq('err-missing-ex');
    const close = nextEvent(ch, 'error');
    ch.publish(ex, 'k', Buffer.from('into the void'));
    const err = await close;
    expect(reason(err)).toEqual({ code: 404, text: `NOT_FOUND - no exchange '${ex}' in vhost '/'` });
    // The close names basic.publish (class 60, method 40).
    expect(err).toMatchObject({ classId: 60, methodId: 40 });
    // The closed channel refuses further use on the client side.
    expect(() => ch.sendToQueue(queue, Buffer.from('x'))).toThrow();
    // Same connection, other channel: fine.
    other.sendToQueue(queue, Buffer.from('still works'));
    const inbox = await subscribe(other, queue);
    expect(bodies(await inbox.waitFor(1))).toEqual(['still works']);
  });

  it('an unknown delivery tag closes the channel with 406', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const close = closedWith(ch);
    ch.ack({ fields: { deliveryTag: 7 } } as any);
    expect(await close).toEqual({ code: 406, text: 'PRECONDITION_FAILED - unknown delivery tag 7' });
  });

  it('an unknown delivery tag with multiple=true is 406 too', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const close = closedWith(ch);
    ch.nack({ fields: { deliveryTag: 3 } } as any, true, true);
    expect(await close).toEqual({ code: 406, text: 'PRECONDITION_FAILED - unknown delivery tag 3' });
  });

  it('consuming from a missing queue is 404, attributed to basic.consume', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const queue = uniq('err-missing-q');
    const err = await ch.consume(queue, () => {}).then(
      () => null,
      (e) => e,
    );
    expect(reason(err)).toEqual({ code: 404, text: `NOT_FOUND - no queue '${queue}' in vhost '/'` });
    expect(err).toMatchObject({ classId: 60, methodId: 20 });
    expect(err.message).toMatch(/^Operation failed: BasicConsume; 404/);
  });

  it('a channel error leaves other channels and connections working', async () => {
    const conn = await server.connect();
    const otherConn = await server.connect();
    const admin = await channel(conn);
    const queue = uniq('err-isolation');
    await admin.assertQueue(queue, { autoDelete: false });
    // A consumer on one channel, a second connection publishing.
    const consumerCh = await channel(conn);
    const inbox = await subscribe(consumerCh, queue);
    const publisher = await channel(otherConn);
    publisher.sendToQueue(queue, Buffer.from('before'));
    await inbox.waitFor(1);

    // Break a third channel on the consumer's connection.
    const broken = await channel(conn);
    const close = closedWith(broken);
    await broken.checkQueue(uniq('err-nothing')).catch(() => {});
    expect((await close).code).toBe(404);

    publisher.sendToQueue(queue, Buffer.from('after'));
    expect(bodies(await inbox.waitFor(2))).toEqual(['before', 'after']);
    // New channels open fine on both connections.
    expect(await (await channel(conn)).checkQueue(queue)).toMatchObject({ queue, consumerCount: 1 });
    expect(await (await channel(otherConn)).checkQueue(queue)).toMatchObject({ queue, consumerCount: 1 });
    await admin.deleteQueue(queue);
  });

  it('a channel closed by an error cancels its consumers and requeues its unacked messages', async () => {
    const conn = await server.connect();
    const admin = await channel(conn);
    const queue = uniq('err-requeue');
    await admin.assertQueue(queue, { autoDelete: false });
    admin.sendToQueue(queue, Buffer.from('held'));
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: false });
    await inbox.waitFor(1);
    const close = closedWith(ch);
    ch.publish(uniq('err-missing-ex'), 'k', Buffer.from('x'));
    expect((await close).code).toBe(404);
    await eventually(async () => expect(await admin.checkQueue(queue)).toEqual({ queue, messageCount: 1, consumerCount: 0 }));
    const back = await admin.get(queue, { noAck: true });
    expect(back && [back.content.toString(), back.fields.redelivered]).toEqual(['held', true]);
    await admin.deleteQueue(queue);
  });

  it('a connection error (reused consumer tag, 530) closes that connection only', async () => {
    const conn = await server.connect();
    const otherConn = await server.connect();
    const queue = uniq('err-conn');
    const admin = await channel(otherConn);
    await admin.assertQueue(queue, { autoDelete: false });
    admin.sendToQueue(queue, Buffer.from('unacked'));

    const ch = await channel(conn);
    const bystander = await channel(conn);
    await subscribe(ch, queue, { noAck: false, consumerTag: 'dup' }).then((inbox) => inbox.waitFor(1));
    const connError = nextEvent(conn, 'error');
    const connClosed = nextEvent(conn, 'close');
    await expect(ch.consume(queue, () => {}, { consumerTag: 'dup' })).rejects.toThrow();
    expect(reason(await connError)).toEqual({ code: 530, text: "NOT_ALLOWED - attempt to reuse consumer tag 'dup'" });
    await connClosed;
    // Every channel of that connection is gone.
    await expect(bystander.checkQueue(queue)).rejects.toThrow();

    // The other connection is unaffected, and the unacked message is back.
    await eventually(async () => expect(await admin.checkQueue(queue)).toEqual({ queue, messageCount: 1, consumerCount: 0 }));
    const back = await admin.get(queue, { noAck: true });
    expect(back && [back.content.toString(), back.fields.redelivered]).toEqual(['unacked', true]);
    await admin.deleteQueue(queue);
  });

  it('publishes after a failed one on the same channel are discarded', async () => {
    const conn = await server.connect();
    const admin = await channel(conn);
    const { queue } = await admin.assertQueue('', { exclusive: true });
    const ch = await channel(conn);
    const close = closedWith(ch);
    ch.publish(uniq('err-missing-ex'), 'k', Buffer.from('fails'));
    try {
      ch.sendToQueue(queue, Buffer.from('sent before the close arrived'));
    } catch {
      // amqplib may already know the channel is closing
    }
    expect((await close).code).toBe(404);
    await sleep(50);
    expect((await admin.checkQueue(queue)).messageCount).toBe(0);
  });

  // RabbitMQ cuts a reply text over 255 bytes to 252 bytes and '...'; warren
  // does the same, on a UTF-8 character boundary.
  describe('reply texts longer than a shortstr', () => {
    /** The broker still serves: a fresh connection round-trips a message. */
    async function stillServing(): Promise<void> {
      const ch = await channel(await server.connect());
      const { queue } = await ch.assertQueue('', { exclusive: true });
      ch.sendToQueue(queue, Buffer.from('still serving'));
      const inbox = await subscribe(ch, queue);
      expect(bodies(await inbox.waitFor(1))).toEqual(['still serving']);
    }

    it.each([
      ['ASCII', 'q'.repeat(250), "NOT_FOUND - no queue '" + 'q'.repeat(230) + '...'],
      // 23 bytes of prefix leave 229 for 2-byte characters: the cut falls inside one, so it backs off a byte
      ['2-byte characters', 'x' + 'é'.repeat(124), "NOT_FOUND - no queue 'x" + 'é'.repeat(114) + '...'],
    ])('a passive declare of a missing queue with a 250-byte %s name: 404, text cut to fit', async (_, name, text) => {
      const conn = await server.connect();
      expect(await refused((await channel(conn)).checkQueue(name))).toEqual({ code: 404, text });
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(255);
      // the same connection goes on
      expect((await (await channel(conn)).assertQueue('', { exclusive: true })).queue).toMatch(/^amq\.gen-/);
      await stillServing();
    });

    it('the 405 for another connection\'s exclusive queue with a 250-byte name: text cut to fit', async () => {
      const owner = await server.connect();
      const name = 'é'.repeat(125);
      await (await channel(owner)).assertQueue(name, { exclusive: true });
      const other = await server.connect();
      const { code, text } = await refused((await channel(other)).assertQueue(name));
      expect(code).toBe(405);
      expect(text.startsWith("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'éé")).toBe(true);
      expect(text.endsWith('é...')).toBe(true);
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(255);
      expect(text).not.toContain('\ufffd');
      expect((await (await channel(owner)).checkQueue(name)).queue).toBe(name);
      await stillServing();
    });
  });
});
