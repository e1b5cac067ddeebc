// The driver users actually run: amqplib, one connection per publisher or consumer.
import amqp from 'amqplib';
import type { Closeable, ConsumerSpec, Driver, Publisher, PublisherSpec } from './types.js';
import { makeBody } from './types.js';
import { ConfirmCount } from './confirm-count.js';

class AmqplibPublisher implements Publisher {
  private readonly confirms: ConfirmCount;
  private blocked = false;
  private readonly body: Buffer;
  private readonly opts: amqp.Options.Publish;
  private readonly onConfirm = (err: unknown) => {
    // A nack still settles the message: the bench counts what the broker answered.
    void err;
    this.confirms.set(this.confirms.value + 1);
  };

  constructor(private readonly conn: amqp.ChannelModel, private readonly ch: amqp.Channel | amqp.ConfirmChannel, private readonly spec: PublisherSpec, onConfirm?: (stampUs: number) => void) {
    this.confirms = new ConfirmCount(onConfirm ?? null, spec.inFlight);
    this.body = makeBody(spec.size);
    this.opts = { persistent: spec.persistent };
  }

  publish(keyIndex: number, stampUs: number): boolean {
    // amqplib copies the body into its frame at once, so one buffer is reused.
    this.body.writeDoubleLE(stampUs, 0);
    const key = this.spec.routingKeys[keyIndex]!;
    if (this.spec.confirm) this.confirms.sent(stampUs);
    const ok = this.spec.confirm
      ? (this.ch as amqp.ConfirmChannel).publish(this.spec.exchange, key, this.body, this.opts, this.onConfirm)
      : this.ch.publish(this.spec.exchange, key, this.body, this.opts);
    if (!ok) this.blocked = true;
    return ok;
  }

  writable(): Promise<void> {
    // amqplib buffers internally once the socket is full; 'drain' says it flushed.
    return new Promise((resolve) => {
      if (!this.blocked) return setImmediate(resolve);
      this.ch.once('drain', () => {
        this.blocked = false;
        resolve();
      });
    });
  }

  async sync(): Promise<void> {
    // basic.qos is harmless on a publishing channel and its -ok comes back after
    // the broker handled every earlier frame on the channel.
    await this.ch.prefetch(0);
  }

  confirmed(): number { return this.confirms.value; }

  waitConfirmed(n: number): Promise<void> {
    return this.confirms.waitFor(n);
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }
}

/**
 * TCP_NODELAY, as load generators and RabbitMQ's own perf-test use: with Nagle on,
 * small publishes meet delayed ACKs and 40 ms stalls dominate the latency figures.
 */
const SOCKET_OPTIONS = { noDelay: true };

export const amqplibDriver: Driver = {
  name: 'amqplib',

  async openPublisher(url: string, spec: PublisherSpec, onConfirm?: (stampUs: number) => void): Promise<Publisher> {
    const conn = await amqp.connect(url, SOCKET_OPTIONS);
    conn.on('error', () => undefined);
    const ch = spec.confirm ? await conn.createConfirmChannel() : await conn.createChannel();
    ch.on('error', () => undefined);
    return new AmqplibPublisher(conn, ch, spec, onConfirm);
  },

  async openConsumer(url: string, spec: ConsumerSpec, onDelivery: (stampUs: number) => void): Promise<Closeable> {
    const conn = await amqp.connect(url, SOCKET_OPTIONS);
    conn.on('error', () => undefined);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    if (!spec.noAck) await ch.prefetch(spec.prefetch);
    for (const queue of spec.queues) {
      await ch.consume(queue, (msg) => {
        if (!msg) return;
        onDelivery(msg.content.length >= 8 ? msg.content.readDoubleLE(0) : NaN);
        if (!spec.noAck) ch.ack(msg);
      }, { noAck: spec.noAck, arguments: spec.arguments });
    }
    return { close: () => conn.close().catch(() => undefined) };
  },

  async openIdle(url: string): Promise<Closeable> {
    const conn = await amqp.connect(url, SOCKET_OPTIONS);
    conn.on('error', () => undefined);
    return { close: () => conn.close().catch(() => undefined) };
  },
};
