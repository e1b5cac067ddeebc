/** warren with the rabbitmq-c command line tools (amqp-tools). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelModel } from 'amqplib';
import type { RunningBroker } from '../../dist/src/index.js';
import { channel, connect, start } from '../helpers.js';
import { run, runOk, uniq, works } from './support.js';

const TOOLS = ['amqp-declare-queue', 'amqp-publish', 'amqp-get', 'amqp-consume'];
const present = TOOLS.every((t) => works(t, ['--usage']));

describe.skipIf(!present)('amqp-tools (skipped: amqp-* not found; apt-get install amqp-tools)', () => {
  let broker: RunningBroker;
  let conn: ChannelModel;
  const tool = (name: string, ...args: string[]) => runOk(name, ['-u', broker.url, ...args]);

  beforeAll(async () => {
    broker = await start(2);
    conn = await connect(broker.url);
  });
  afterAll(async () => {
    await conn?.close().catch(() => {});
    await broker?.close();
  });

  it('amqp-declare-queue, amqp-publish, then amqp-get returns the body', async () => {
    const q = uniq('tools');
    expect(await tool('amqp-declare-queue', '-q', q)).toEqual([q]);
    await tool('amqp-publish', '-r', q, '-b', 'hello from amqp-publish');
    expect(await tool('amqp-get', '-q', q)).toEqual(['hello from amqp-publish']);
  });

  it('amqp-get on an empty queue reports that it got nothing', async () => {
    const q = uniq('tools-empty');
    await tool('amqp-declare-queue', '-q', q);
    // amqp-get exits 2 when basic.get answers get-empty
    const r = await run('amqp-get', ['-u', broker.url, '-q', q]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });

  it('amqp-declare-queue with an empty name gets a server-named amq.gen- queue', async () => {
    const [name] = await tool('amqp-declare-queue', '-q', '');
    expect(name).toMatch(/^amq\.gen-[A-Za-z0-9_-]+$/);
    const ch = await channel(conn);
    expect((await ch.checkQueue(name)).queue).toBe(name);
    await ch.deleteQueue(name);
    await ch.close();
  });

  it('amqp-consume -c 1 gets one message and leaves the rest', async () => {
    const q = uniq('tools-consume');
    await tool('amqp-declare-queue', '-q', q);
    await tool('amqp-publish', '-r', q, '-b', 'first');
    await tool('amqp-publish', '-r', q, '-b', 'second');
    // the command (cat) gets each message body on stdin
    const r = await run('amqp-consume', ['-u', broker.url, '-q', q, '-c', '1', 'cat']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('first');
    expect(await tool('amqp-get', '-q', q)).toEqual(['second']);
  });

  it('amqp-publish to amq.topic reaches a queue amqplib bound with *.stock.#', async () => {
    const ch = await channel(conn);
    const q = uniq('tools-topic');
    await ch.assertQueue(q, { autoDelete: false });
    await ch.bindQueue(q, 'amq.topic', '*.stock.#');
    for (const key of ['usd.stock', 'stock.nasdaq', 'eur.stock.db']) {
      await tool('amqp-publish', '-e', 'amq.topic', '-r', key, '-C', 'text/plain', '-H', 'x-key: ' + key, '-b', key);
    }
    const got: string[] = [];
    for (;;) {
      const m = await ch.get(q, { noAck: true });
      if (m === false) break;
      expect(m.properties.contentType).toBe('text/plain');
      expect(m.properties.headers?.['x-key']).toBe(m.content.toString());
      got.push(`${m.fields.routingKey}=${m.content}`);
    }
    expect(got).toEqual(['usd.stock=usd.stock', 'eur.stock.db=eur.stock.db']);
    await ch.deleteQueue(q);
    await ch.close();
  });

  it('amqplib publishes, amqp-consume consumes', async () => {
    const ch = await channel(conn);
    const q = uniq('amqplib-to-tools');
    await ch.assertQueue(q);
    ch.sendToQueue(q, Buffer.from('from amqplib'));
    await ch.checkQueue(q);
    const r = await run('amqp-consume', ['-u', broker.url, '-q', q, '-c', '1', 'cat']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('from amqplib');
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
    await ch.deleteQueue(q);
    await ch.close();
  });
});
