/** warren with pika (python3-pika) clients, run as child processes. */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { channel, collect, connect, start } from '../helpers.js';
import { HERE, findPython, runOk, uniq } from './support.js';

const python = findPython();
const SCRIPT = path.join(HERE, 'pika_client.py');

describe.skipIf(!python)('pika clients (skipped: no python with pika; apt-get install python3-pika)', () => {
  let broker: RunningBroker;
  const pika = (scenario: string, ...args: string[]) => runOk(python!, [SCRIPT, broker.url, scenario, uniq('pika'), ...args]);

  beforeAll(async () => {
    broker = await start(2);
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('fanout delivers Hello and World to both queues', async () => {
    expect(await pika('fanout')).toEqual(['q1 Hello', 'q1 World', 'q2 Hello', 'q2 World', 'done']);
  });

  it('topic *.stock.# takes usd.stock and eur.stock.db, not stock.nasdaq', async () => {
    expect(await pika('topic')).toEqual(['got usd.stock', 'got eur.stock.db', 'done']);
  });

  it('a consumer that acks leaves the queue empty', async () => {
    expect(await pika('ack')).toEqual([
      'got m0 redelivered=False',
      'got m1 redelivered=False',
      'got m2 redelivered=False',
      'remaining 0',
      'done',
    ]);
  });

  it('basic.get polls the queue until it is empty', async () => {
    expect(await pika('get')).toEqual(['got g0 left=2', 'got g1 left=1', 'got g2 left=0', 'empty', 'done']);
  });

  it('publisher confirms (confirm_delivery) ack every publish', async () => {
    expect(await pika('confirms')).toEqual(['confirmed 20', 'count 20', 'done']);
  });

  it('a mandatory publish with no route reaches the on_return callback', async () => {
    const lines = await pika('return');
    expect(lines[0]).toMatch(/^returned 312 NO_ROUTE pika-\S+\.nowhere lost$/);
    expect(lines[1]).toBe('done');
  });

  it('with confirms on, an unroutable mandatory publish raises UnroutableError', async () => {
    expect(await pika('return-confirm')).toEqual(['unroutable 1 lost', 'done']);
  });

  it('a stream read from x-stream-offset first, 4 and a timestamp, as pika encodes them', async () => {
    const all = 's0@0 s1@1 s2@2 s3@3 s4@4 s5@5';
    expect(await pika('stream')).toEqual([`str ${all}`, 'int s4@4 s5@5', `datetime ${all}`, 'done']);
  });

  it('pika publishes, amqplib consumes', async () => {
    const conn = await connect(broker.url);
    try {
      const ch = await channel(conn);
      const q = uniq('pika-to-amqplib');
      await ch.assertQueue(q, { autoDelete: true });
      const got = collect(ch, q, 3);
      expect(await pika('publish', q, 'one', 'two', 'three')).toEqual(['published 3', 'done']);
      const msgs = await got;
      expect(msgs.map((m) => m.content.toString())).toEqual(['one', 'two', 'three']);
      expect(msgs[0].properties.contentType).toBe('text/plain');
    } finally {
      await conn.close();
    }
  });
  it('logs in as a non-default user on a non-default vhost (multi-byte password), works there, and gets 403 where its permissions end', async () => {
    broker.broker.addVHost('team/pika');
    broker.broker.putUser('pika-user', { password: 'pässwörd 1' });
    broker.broker.setPermissions('pika-user', 'team/pika', { configure: '^pika-', write: '.*', read: '.*' });
    const url = `amqp://pika-user:${encodeURIComponent('pässwörd 1')}@127.0.0.1:${broker.port}/${encodeURIComponent('team/pika')}`;
    const lines = await runOk(python!, [SCRIPT, url, 'tenant', uniq('pika')]);
    expect(lines[0]).toBe('got t0 t1 t2 t3 t4');
    expect(lines[1]).toMatch(/^closed 403 ACCESS_REFUSED - access to queue 'not-mine' in vhost 'team\/pika' refused for user 'pika-user'/);
    expect(lines[2]).toBe('done');
  });
});
