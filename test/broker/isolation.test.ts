/**
 * An error while serving one connection closes that connection (541, logged
 * once with its stack) and nothing else: not the process, not the other
 * clients. Faults are real (sockets destroyed and channels closed with
 * deliveries in flight, auto-delete queues deleted under publishers) or forced
 * by making one server-side Channel instance throw.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, confirmChannel, connect, eventually, nextEvent, sleep, start, subscribe, uniq } from '../helpers.js';
import { RawClient, frame, method, queueDeclare, shortstr, u16, u32, u8 } from '../wire/raw-client.js';

/** The broker's Connection object for an amqplib connection or a raw client (matched by the client's port). */
function serverConnection(broker: RunningBroker, client: ChannelModel | RawClient): any {
  const port = client instanceof RawClient ? client.socket.localPort : (client as any).connection.stream.localPort;
  for (const conn of broker.broker.connections) if (conn.socket.remotePort === port) return conn;
  throw new Error(`no server connection for client port ${port}`);
}

/** The broker's Channel object for an amqplib channel. */
function serverChannel(broker: RunningBroker, client: ChannelModel, ch: Channel): any {
  return serverConnection(broker, client).channels[(ch as any).ch];
}

const numbered = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);

/** Publishes the numbered bodies with confirms. */
async function publishAll(ch: Awaited<ReturnType<typeof confirmChannel>>, queue: string, bodies: string[]): Promise<void> {
  for (const body of bodies) ch.sendToQueue(queue, Buffer.from(body));
  await ch.waitForConfirms();
}

/** A bystander on its own connection drains `queue`: every numbered message arrives exactly once. */
async function expectAllBack(url: string, queue: string, bodies: string[]): Promise<void> {
  const conn = await connect(url);
  try {
    const ch = await channel(conn);
    const inbox = await subscribe(ch, queue, { noAck: true });
    const got = (await inbox.waitFor(bodies.length, 5000)).map((m) => m.content.toString());
    expect(got.slice().sort()).toEqual(bodies.slice().sort());
    await sleep(100);
    expect(inbox.messages.length, 'no message twice').toBe(bodies.length);
  } finally {
    await conn.close().catch(() => {});
  }
}

/** A round trip on a fresh connection: the broker still serves. */
async function stillServes(url: string): Promise<void> {
  const conn = await connect(url);
  const ch = await channel(conn);
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('ping'));
  const inbox = await subscribe(ch, queue);
  expect((await inbox.waitFor(1))[0].content.toString()).toBe('ping');
  await conn.close();
}

for (const mode of MODES) {
  describe(`fault isolation: ${mode.name}`, () => {
    let broker: RunningBroker;
    const opened: ChannelModel[] = [];
    /** A connection closed after the test (unless the test destroys its socket: amqplib's close would wait forever). */
    const open = async () => {
      const conn = await connect(broker.url);
      opened.push(conn);
      return conn;
    };
    const destroy = (conn: ChannelModel) => {
      opened.splice(opened.indexOf(conn), 1);
      (conn as any).connection.stream.destroy();
    };
    beforeAll(async () => {
      broker = await start(mode.workers);
    });
    afterEach(async () => {
      vi.restoreAllMocks();
      await Promise.all(opened.splice(0).map((c) => c.close().catch(() => {})));
    });
    afterAll(() => broker.close());

    // A shard's DELIVER record (the queue had messages before the consumer came), or
    // the acceptor's own delivery under the queue's lease (it was empty: see direct-leases.ts).
    for (const path of ['deliver', 'deliverDirect'] as const) {
      it(`a delivery (${path}) that throws half way through its frame closes its connection with a clean 541, logs once with the stack, and requeues`, async () => {
        const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
        const queue = uniq('fault-deliver');
        const victim = await open();
        const vch = await channel(victim);
        await vch.assertQueue(queue);
        const bystander = await open();
        const publisher = await confirmChannel(bystander);
        const bodies = numbered(50);
        if (path === 'deliver') await publishAll(publisher, queue, bodies.slice(0, 10));
        const server = serverChannel(broker, victim, vch);
        let faults = 0;
        server[path] = () => {
          faults++;
          // Half a basic.deliver frame, then the fault: the client must still read a well-formed close.
          server.conn.out.beginFrame(1, server.id);
          server.conn.out.u32(0x003c003c);
          throw new Error('deliberate fault in deliver');
        };
        const closed = nextEvent<any>(victim, 'close');
        await vch.consume(queue, () => {}, { noAck: false });
        if (path === 'deliverDirect') await eventually(() => expect(broker.broker.links.some((link) => link.leases.size > 0)).toBe(true));
        await publishAll(publisher, queue, path === 'deliver' ? bodies.slice(10) : bodies);
        expect((await closed).code).toBe(541);
        expect(faults).toBeGreaterThan(0);

        expect(logged).toHaveBeenCalledTimes(1);
        const [line, err] = logged.mock.calls[0];
        expect(line).toMatch(/^warren: internal error on connection .*; closing it \(541\)$/);
        expect((err as Error).stack).toContain('deliberate fault in deliver');
        // Nothing was lost: what reached the faulty channel went back to the queue.
        await expectAllBack(broker.url, queue, bodies);
        await stillServes(broker.url);
      });
    }

    it('basic.get whose get-ok throws closes only that connection with 541', async () => {
      vi.spyOn(console, 'error').mockImplementation(() => {});
      const queue = uniq('fault-get');
      const victim = await open();
      const vch = await channel(victim);
      await vch.assertQueue(queue);
      vch.sendToQueue(queue, Buffer.from('m0'));
      serverChannel(broker, victim, vch).sendGetOk = () => {
        throw new Error('deliberate fault in get-ok');
      };
      const closed = nextEvent<any>(victim, 'close');
      await vch.get(queue, { noAck: false }).catch(() => {});
      expect((await closed).code).toBe(541);
      await expectAllBack(broker.url, queue, ['m0']);
    });

    it('an immediate publish whose return throws closes only that connection with 541', async () => {
      vi.spyOn(console, 'error').mockImplementation(() => {});
      const client = await RawClient.open(broker.port);
      await client.handshake();
      client.send(method(1, 20, 10, shortstr(''))); // channel.open
      await client.readFrame();
      const queue = uniq('fault-immediate');
      client.send(queueDeclare(1, queue));
      await client.readFrame();
      serverConnection(broker, client).channels[1].returnImmediate = () => {
        throw new Error('deliberate fault in basic.return');
      };
      // basic.publish immediate=true to a queue without consumers: the shard answers "not delivered".
      const body = Buffer.from('m0');
      client.send(
        method(1, 60, 40, u16(0), shortstr(''), shortstr(queue), u8(2)),
        frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(body.length), u16(0)])),
        frame(3, 1, body),
      );
      await client.expectClose(541);
      await stillServes(broker.url);
    });

    it("an error in the socket 'close' handler is logged; the connection is still forgotten", async () => {
      const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
      const victim = await open();
      const vch = await channel(victim);
      const server = serverConnection(broker, victim);
      serverChannel(broker, victim, vch).release = () => {
        throw new Error('deliberate fault in release');
      };
      destroy(victim);
      await eventually(() => expect(broker.broker.connections.has(server)).toBe(false));
      expect(logged).toHaveBeenCalledTimes(1);
      await stillServes(broker.url);
    });

    it('a failed auto-delete closes the connection that cancelled (541), without an unhandled rejection', async () => {
      vi.spyOn(console, 'error').mockImplementation(() => {});
      const queue = uniq('fault-autodelete');
      const victim = await open();
      const vch = await channel(victim);
      await vch.assertQueue(queue, { autoDelete: true });
      const { consumerTag } = await vch.consume(queue, () => {});
      const record = broker.broker.vhosts.get('/')!.topology.queues.get(queue)!;
      const link = broker.broker.links[record.shard];
      const request = link.request;
      vi.spyOn(link, 'request').mockImplementation((control) =>
        control.op === 'delete' ? Promise.reject(new Error('deliberate fault in delete')) : request.call(link, control),
      );
      const closed = nextEvent<any>(victim, 'close');
      await vch.cancel(consumerTag).catch(() => {});
      expect((await closed).code).toBe(541);
      await stillServes(broker.url);
    });

    it('a consumer socket destroyed with deliveries in flight loses nothing', async () => {
      const queue = uniq('destroyed');
      const victim = await open();
      const vch = await channel(victim);
      await vch.assertQueue(queue);
      await vch.prefetch(50);
      let got = 0;
      await vch.consume(queue, () => void got++, { noAck: false });
      const bodies = numbered(2000);
      const publisher = await confirmChannel(await open());
      const published = publishAll(publisher, queue, bodies);
      await eventually(() => expect(got).toBeGreaterThan(0));
      destroy(victim);
      await published;
      await expectAllBack(broker.url, queue, bodies);
    });

    it('a channel closed with deliveries in flight loses nothing', async () => {
      const queue = uniq('closed-channel');
      const victim = await open();
      const vch = await channel(victim);
      await vch.assertQueue(queue);
      let got = 0;
      await vch.consume(queue, () => void got++, { noAck: false });
      const bodies = numbered(2000);
      const publisher = await confirmChannel(await open());
      const published = publishAll(publisher, queue, bodies);
      await eventually(() => expect(got).toBeGreaterThan(0));
      await vch.close();
      await published;
      await expectAllBack(broker.url, queue, bodies);
    });

    it('an auto-delete queue deleted under a publisher and its deliveries leaves the broker serving', async () => {
      const queue = uniq('autodelete-in-flight');
      const consumer = await open();
      const cch = await channel(consumer);
      await cch.assertQueue(queue, { autoDelete: true });
      let got = 0;
      const { consumerTag } = await cch.consume(queue, () => void got++, { noAck: false });
      const publisher = await confirmChannel(await open());
      const published = publishAll(publisher, queue, numbered(2000));
      await eventually(() => expect(got).toBeGreaterThan(0));
      await cch.cancel(consumerTag);
      await published;
      await eventually(() => expect(broker.broker.vhosts.get('/')!.topology.queues.has(queue)).toBe(false));
      // Both connections are still usable, and so is the broker.
      await cch.checkExchange('amq.direct');
      await publisher.checkExchange('amq.direct');
      await stillServes(broker.url);
    });
  });
}
