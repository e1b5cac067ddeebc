/**
 * Alternate exchanges (`alternate-exchange` on exchange.declare): what an
 * exchange routes nowhere goes to its alternate, recursively, each exchange
 * visited at most once; mandatory returns only when the alternates route
 * nowhere either. Every message is numbered and each queue's exact contents
 * are checked after the publisher confirms (confirmed = enqueued).
 */
import type { ConfirmChannel, Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, uniq, useBroker } from '../helpers.js';

describe.each(MODES)('alternate exchanges: $name', ({ workers }) => {
  const server = useBroker(workers);

  interface Publisher {
    ch: ConfirmChannel;
    /** bodies of basic.return, with their reply code */
    returned: string[];
  }

  async function publisher(): Promise<Publisher> {
    const conn = await server.connect();
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    const returned: string[] = [];
    ch.on('return', (msg: Message) => returned.push(`${(msg.fields as any).replyCode} ${msg.content.toString()}`));
    return { ch, returned };
  }

  /** Publishes each [routing key, body] and waits until all are confirmed. */
  async function publish(p: Publisher, exchange: string, messages: [string, string][], mandatory = false): Promise<void> {
    for (const [key, body] of messages) p.ch.publish(exchange, key, Buffer.from(body), { mandatory });
    await p.ch.waitForConfirms();
  }

  /** Everything in the queue, in order; the queue is left empty. */
  async function drain(p: Publisher, queue: string): Promise<string[]> {
    const got: string[] = [];
    for (;;) {
      const msg = await p.ch.get(queue, { noAck: true });
      if (msg === false) return got;
      got.push(msg.content.toString());
    }
  }

  async function queueBoundTo(p: Publisher, exchange: string, key = ''): Promise<string> {
    const { queue } = await p.ch.assertQueue(uniq('ae-q'), { exclusive: true });
    await p.ch.bindQueue(queue, exchange, key);
    return queue;
  }

  const numbered = (count: number, key: (i: number) => string): [string, string][] =>
    Array.from({ length: count }, (_, i) => [key(i), `m${i}`]);

  it('sends what a direct exchange cannot route to its fanout alternate, and only that', async () => {
    const p = await publisher();
    const ae = uniq('ae-fanout');
    const x = uniq('ae-direct');
    await p.ch.assertExchange(ae, 'fanout', { autoDelete: true });
    await p.ch.assertExchange(x, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': ae } });
    const routed = await queueBoundTo(p, x, 'k');
    const alternate = await queueBoundTo(p, ae);
    const messages = numbered(60, (i) => (i % 3 === 0 ? 'k' : `other-${i}`));
    // Mandatory: the alternate routes them, so nothing comes back.
    await publish(p, x, messages, true);
    expect(await drain(p, routed)).toEqual(messages.filter(([k]) => k === 'k').map(([, b]) => b));
    expect(await drain(p, alternate)).toEqual(messages.filter(([k]) => k !== 'k').map(([, b]) => b));
    expect(p.returned).toEqual([]);
  });

  it('follows a chain of two alternates', async () => {
    const p = await publisher();
    const last = uniq('ae-last');
    const middle = uniq('ae-middle');
    const x = uniq('ae-first');
    await p.ch.assertExchange(last, 'fanout', { autoDelete: true });
    await p.ch.assertExchange(middle, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': last } });
    await p.ch.assertExchange(x, 'topic', { autoDelete: true, arguments: { 'alternate-exchange': middle } });
    const first = await queueBoundTo(p, x, 'x.#');
    const second = await queueBoundTo(p, middle, 'mid');
    const third = await queueBoundTo(p, last);
    const keys = ['x.1', 'mid', 'nowhere'];
    const messages = numbered(45, (i) => keys[i % 3]);
    await publish(p, x, messages, true);
    const sent = (key: string) => messages.filter(([k]) => k === key).map(([, b]) => b);
    expect(await drain(p, first)).toEqual(sent('x.1'));
    expect(await drain(p, second)).toEqual(sent('mid'));
    expect(await drain(p, third)).toEqual(sent('nowhere'));
    expect(p.returned).toEqual([]);
  });

  it('visits each exchange of an alternate cycle once: no duplicates, no hang, 312 when nothing routes', async () => {
    const p = await publisher();
    const a = uniq('ae-cycle-a');
    const b = uniq('ae-cycle-b');
    // b does not exist yet when a names it: looked up per message.
    await p.ch.assertExchange(a, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': b } });
    await p.ch.assertExchange(b, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': a } });
    const qa = await queueBoundTo(p, a, 'a');
    const qb = await queueBoundTo(p, b, 'b');
    const keys = ['a', 'b', 'c'];
    const messages = numbered(30, (i) => keys[i % 3]);
    for (const start of [a, b]) {
      await publish(p, start, messages, true);
      const sent = (key: string) => messages.filter(([k]) => k === key).map(([, body]) => body);
      expect(await drain(p, qa)).toEqual(sent('a'));
      expect(await drain(p, qb)).toEqual(sent('b'));
      expect(p.returned.splice(0)).toEqual(sent('c').map((body) => `312 ${body}`));
    }
  });

  it('returns a mandatory message with 312 when the alternate routes nowhere', async () => {
    const p = await publisher();
    const ae = uniq('ae-empty');
    const x = uniq('ae-x');
    await p.ch.assertExchange(ae, 'direct', { autoDelete: true });
    await p.ch.assertExchange(x, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': ae } });
    const aeQueue = await queueBoundTo(p, ae, 'only-this');
    const messages = numbered(20, (i) => (i % 2 === 0 ? 'only-this' : 'neither'));
    await publish(p, x, messages, true);
    expect(await drain(p, aeQueue)).toEqual(messages.filter(([k]) => k === 'only-this').map(([, b]) => b));
    expect(p.returned).toEqual(messages.filter(([k]) => k === 'neither').map(([, b]) => `312 ${b}`));
  });

  it('drops (or returns, if mandatory) while the alternate does not exist, and uses it once declared', async () => {
    const p = await publisher();
    const ae = uniq('ae-later');
    const x = uniq('ae-x');
    await p.ch.assertExchange(x, 'fanout', { autoDelete: false, arguments: { 'alternate-exchange': ae } });
    await publish(p, x, numbered(10, () => 'k'));
    await publish(p, x, numbered(10, () => 'k'), true);
    expect(p.returned).toEqual(numbered(10, () => 'k').map(([, b]) => `312 ${b}`));
    p.returned.length = 0;

    await p.ch.assertExchange(ae, 'fanout', { autoDelete: true });
    const aeQueue = await queueBoundTo(p, ae);
    const later = numbered(25, (i) => `k${i}`).map(([k, b]): [string, string] => [k, `later-${b}`]);
    await publish(p, x, later, true);
    expect(await drain(p, aeQueue)).toEqual(later.map(([, b]) => b));
    expect(p.returned).toEqual([]);
    await p.ch.deleteExchange(x);
  });

  it('gives the alternate of an exchange reached through an exchange-to-exchange binding', async () => {
    const p = await publisher();
    const ae = uniq('ae-inner');
    const inner = uniq('ae-inner-x');
    const outer = uniq('ae-outer');
    await p.ch.assertExchange(ae, 'fanout', { autoDelete: true });
    await p.ch.assertExchange(inner, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': ae } });
    await p.ch.assertExchange(outer, 'fanout', { autoDelete: true });
    await p.ch.bindExchange(inner, outer, '');
    const direct = await queueBoundTo(p, inner, 'hit');
    const aeQueue = await queueBoundTo(p, ae);
    const messages = numbered(20, (i) => (i % 4 === 0 ? 'hit' : 'miss'));
    await publish(p, outer, messages, true);
    expect(await drain(p, direct)).toEqual(messages.filter(([k]) => k === 'hit').map(([, b]) => b));
    expect(await drain(p, aeQueue)).toEqual(messages.filter(([k]) => k === 'miss').map(([, b]) => b));
    expect(p.returned).toEqual([]);
  });

  it('refuses a redeclare with another alternate with 406', async () => {
    const p = await publisher();
    const x = uniq('ae-redeclare');
    await p.ch.assertExchange(x, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': 'one' } });
    await p.ch.assertExchange(x, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': 'one' } });
    const err = await p.ch.assertExchange(x, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': 'two' } }).then(
      () => null,
      (e) => e,
    );
    expect(err?.code).toBe(406);
    expect(err?.message).toContain(`inequivalent arg 'alternate-exchange' for exchange '${x}' in vhost '/': received 'two' but current is 'one'`);
  });
});
