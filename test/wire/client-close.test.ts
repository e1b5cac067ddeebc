/**
 * A connection the client closes: connection.close-ok tells the client it may release
 * the socket, so the server leaves closing it to the client (RabbitMQ 3.10.8 waits 30 s
 * for that before it drops the socket). Hanging up right after close-ok raced clients
 * that were still finishing their close: amqp091-go's concurrent Close calls got EOF
 * (501) there. The connection's channels and exclusive queues go at once all the same.
 */
import { describe, expect, it } from 'vitest';
import { MODES, channel, useBroker } from '../helpers.js';
import { PROTOCOL_HEADER, RawClient, method, shortstr, u16, u32, u8 } from './raw-client.js';

const connectionClose = () => method(0, 10, 50, u16(200), shortstr('bye'), u16(0), u16(0));

/** The next frame, or 'open' when the server sends nothing for `ms` and keeps the socket. */
async function nextOrQuiet(c: RawClient, ms: number): Promise<unknown> {
  try {
    const f = await c.readFrame(ms);
    return f === null ? 'socket closed by the server' : [f.channel, f.classId, f.methodId];
  } catch {
    return 'open';
  }
}

describe.each(MODES)('a client closes its connection, $name', ({ workers }) => {
  const broker = useBroker(workers);

  it('after close-ok the socket is the client\'s to close; the exclusive queue is gone already', async () => {
    const c = await RawClient.open(broker.port);
    await c.handshake();
    c.send(method(1, 20, 10, shortstr('')));
    expect(await nextOrQuiet(c, 4000)).toEqual([1, 20, 11]);
    const queue = `client-close-${workers}`;
    c.send(method(1, 50, 10, u16(0), shortstr(queue), u8(4), u32(0))); // queue.declare, exclusive
    expect(await nextOrQuiet(c, 4000)).toEqual([1, 50, 11]);

    c.send(connectionClose());
    expect(await nextOrQuiet(c, 4000)).toEqual([0, 10, 51]);
    expect(await nextOrQuiet(c, 300), 'after close-ok').toBe('open');

    const ch = await channel(await broker.connect());
    await expect(ch.checkQueue(queue)).rejects.toThrow(/404/);

    c.socket.end();
    await c.waitClosed();
  });

  it('frames behind connection.close in the same write open nothing: no channel, consumer or exclusive queue outlives the connection', async () => {
    const ch = await channel(await broker.connect());
    const { queue: shared } = await ch.assertQueue('', { exclusive: false, autoDelete: false });
    const exclusive = `behind-close-${workers}`;
    const c = await RawClient.open(broker.port);
    await c.handshake();
    c.send(
      connectionClose(),
      method(2, 20, 10, shortstr('')), // channel.open
      method(2, 60, 20, u16(0), shortstr(shared), shortstr('ghost'), u8(0), u32(0)), // basic.consume
      method(2, 50, 10, u16(0), shortstr(exclusive), u8(4), u32(0)), // queue.declare, exclusive
    );
    expect(await nextOrQuiet(c, 4000)).toEqual([0, 10, 51]);
    expect(await nextOrQuiet(c, 300), 'after close-ok').toBe('open');
    c.destroy();
    // nothing consumes: what is published stays to be got
    for (let i = 0; i < 3; i++) ch.sendToQueue(shared, Buffer.from(`m${i}`));
    expect(await ch.checkQueue(shared)).toMatchObject({ messageCount: 3, consumerCount: 0 });
    const got = await ch.get(shared, { noAck: true });
    expect(got && got.content.toString()).toBe('m0');
    // the exclusive name is free to take
    await ch.assertQueue(exclusive, { exclusive: true });
    await ch.deleteQueue(shared);
  });

  it('a close during the handshake is answered the same way', async () => {
    const c = await RawClient.open(broker.port);
    c.send(PROTOCOL_HEADER);
    await c.expectMethod(10, 10); // connection.start
    c.send(connectionClose());
    expect(await nextOrQuiet(c, 4000)).toEqual([0, 10, 51]);
    expect(await nextOrQuiet(c, 300), 'after close-ok').toBe('open');
    c.socket.end();
    await c.waitClosed();
  });
});
