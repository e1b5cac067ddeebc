/** warren with Bunny (ruby-bunny) clients, run as child processes. */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { channel, connect, start } from '../helpers.js';
import { HERE, converse, recoversAcrossRestart, rubyWith, runOk, uniq } from './support.js';

const ruby = rubyWith('bunny');
const SCRIPT = path.join(HERE, 'bunny_client.rb');

describe.skipIf(!ruby)('Bunny clients (skipped: no ruby with bunny; apt-get install ruby-bunny)', () => {
  let broker: RunningBroker;
  const bunny = (scenario: string, ...args: string[]) => runOk(ruby!, [SCRIPT, broker.url, scenario, uniq('bunny'), ...args]);

  beforeAll(async () => {
    broker = await start(2);
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('fanout delivers Hello and World to both queues', async () => {
    expect(await bunny('fanout')).toEqual(['q1 Hello', 'q1 World', 'q2 Hello', 'q2 World', 'done']);
  });

  it('topic *.stock.# takes usd.stock and eur.stock.db, not stock.nasdaq', async () => {
    expect(await bunny('topic')).toEqual(['got usd.stock', 'got eur.stock.db', 'done']);
  });

  it('a subscriber with manual acks leaves the queue empty', async () => {
    expect(await bunny('ack')).toEqual([
      'got m0 redelivered=false',
      'got m1 redelivered=false',
      'got m2 redelivered=false',
      'remaining 0',
      'done',
    ]);
  });

  it('a stream read from x-stream-offset first and 3, as Bunny sends them (RabbitMQ 3.10.8 prints the same)', async () => {
    expect(await bunny('stream')).toEqual(['first s0@0 s1@1 s2@2 s3@3 s4@4 s5@5', '3 s3@3 s4@4 s5@5', 'count 6', 'done']);
  });

  it('basic.get polls the queue until it is empty', async () => {
    expect(await bunny('get')).toEqual(['count 3', 'got g0', 'got g1', 'got g2', 'empty', 'done']);
  });

  it('publisher confirms (confirm_select / wait_for_confirms) ack every publish', async () => {
    expect(await bunny('confirms')).toEqual(['confirmed true nacked=0', 'count 20', 'done']);
  });

  it('a mandatory publish with no route reaches on_return', async () => {
    const lines = await bunny('return');
    expect(lines[0]).toMatch(/^returned 312 NO_ROUTE bunny-\S+\.nowhere lost$/);
    expect(lines[1]).toBe('done');
  });

  it('recovers its connections, consumers and server-named queue across faults.restart(): all 1,000 numbered messages arrive', async () => {
    const child = converse(ruby!, [SCRIPT, broker.url, 'recover', uniq('bunny')], 40_000);
    await recoversAcrossRestart(child, () => broker.faults.restart({ downMs: 300 }));
  });

  it('amqplib publishes, Bunny consumes', async () => {
    const conn = await connect(broker.url);
    try {
      const ch = await channel(conn);
      const q = uniq('amqplib-to-bunny');
      await ch.assertQueue(q);
      for (const body of ['one', 'two', 'three']) ch.sendToQueue(q, Buffer.from(body), { contentType: 'text/plain' });
      await ch.checkQueue(q); // the publishes are in before the child looks
      expect(await bunny('consume', q, '3')).toEqual(['got one text/plain', 'got two text/plain', 'got three text/plain', 'done']);
      expect((await ch.checkQueue(q)).messageCount).toBe(0);
      await ch.deleteQueue(q);
    } finally {
      await conn.close();
    }
  });
  it('logs in as a non-default user on a non-default vhost (ASCII password with a space: the amq-protocol gem cannot encode a multi-byte one), works there, and gets 403 where its permissions end', async () => {
    broker.broker.addVHost('team/bunny');
    broker.broker.putUser('bunny-user', { password: 'pass word 1' });
    broker.broker.setPermissions('bunny-user', 'team/bunny', { configure: '^bunny-', write: '.*', read: '.*' });
    const url = `amqp://bunny-user:${encodeURIComponent('pass word 1')}@127.0.0.1:${broker.port}/${encodeURIComponent('team/bunny')}`;
    const lines = await runOk(ruby!, [SCRIPT, url, 'tenant', uniq('bunny')]);
    expect(lines[0]).toBe('got t0 t1 t2 t3 t4');
    expect(lines[1]).toMatch(/^closed 403 ACCESS_REFUSED - access to queue 'not-mine' in vhost 'team\/bunny' refused for user 'bunny-user'/);
    expect(lines[2]).toBe('done');
  });
});
