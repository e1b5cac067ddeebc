/** warren with the EventMachine-based amqp gem (ruby-amqp), run as child processes. */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { start } from '../helpers.js';
import { HERE, rubyWith, runOk, uniq } from './support.js';

const ruby = rubyWith('amqp');
const SCRIPT = path.join(HERE, 'amqp_gem_client.rb');

describe.skipIf(!ruby)('amqp gem clients (skipped: no ruby with the amqp gem; apt-get install ruby-amqp)', () => {
  let broker: RunningBroker;
  const gem = (scenario: string) => runOk(ruby!, [SCRIPT, broker.url, scenario, uniq('gem')]);

  beforeAll(async () => {
    broker = await start(2);
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('fanout delivers Hello and World to both queues', async () => {
    expect(await gem('fanout')).toEqual(['q1 Hello', 'q1 World', 'q2 Hello', 'q2 World', 'done']);
  });

  it('topic *.stock.# takes usd.stock and eur.stock.db, not stock.nasdaq', async () => {
    expect(await gem('topic')).toEqual(['got usd.stock', 'got eur.stock.db', 'done']);
  });

  it('basic.get polls the queue until it is empty', async () => {
    expect(await gem('get')).toEqual(['count 3', 'got g0', 'got g1', 'got g2', 'empty', 'done']);
  });
});
