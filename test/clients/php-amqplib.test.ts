/**
 * warren with php-amqplib 3.5 (Debian's php-amqplib: the pure-PHP client of
 * Laravel's and Symfony's AMQP queues), run as a child process per scenario.
 * Every expected line here was printed by the same script against RabbitMQ 3.10.8.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { start } from '../helpers.js';
import { HERE, runOk, uniq, works } from './support.js';

const ready = works('php', ['-r', "require '/usr/share/php/PhpAmqpLib/autoload.php';"]);

describe.skipIf(!ready)('php-amqplib (skipped: no php with php-amqplib; apt-get install php-cli php-amqplib)', () => {
  let broker: RunningBroker;
  const php = (scenario: string) => runOk('php', [path.join(HERE, 'php_client.php'), broker.url, uniq('php'), scenario]);

  beforeAll(async () => {
    broker = await start(2);
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('confirms 2,000 numbered persistent publishes and delivers each once to an acking consumer', async () => {
    expect(await php('confirms')).toEqual(['confirmed 2000 nacked 0', 'each once true']);
  });

  it('returns an unroutable mandatory publish with 312 NO_ROUTE', async () => {
    expect(await php('returns')).toEqual(['returned 312 NO_ROUTE (default) PREFIX.nowhere lost']);
  });

  it("raises RabbitMQ's channel errors with their codes and texts, the connection going on", async () => {
    expect(await php('errors')).toEqual([
      "passive 404 NOT_FOUND - no queue 'PREFIX.missing' in vhost '/'",
      "redeclare 406 PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'PREFIX.x' in vhost '/': received 'fanout' but current is 'direct'",
      "bind 404 NOT_FOUND - no queue 'PREFIX.none' in vhost '/'",
      'server-named true',
    ]);
  });

  it('reads a table of many types and the x-death of a rejected message as RabbitMQ hands them over', async () => {
    expect(await php('headers')).toEqual([
      'header big 1099511627776 integer',
      'header frac "1.5" string',
      'header int 5 integer',
      'header list [1,"two",false] array',
      'header neg -70000 integer',
      'header nested {"a":1} array',
      'header str "ü€" string',
      'header x-first-death-exchange "" string',
      'header x-first-death-queue "PREFIX.src" string',
      'header x-first-death-reason "rejected" string',
      'header yes true boolean',
      'x-death count integer 1',
      'x-death exchange string ""',
      'x-death queue string "PREFIX.src"',
      'x-death reason string "rejected"',
      'x-death routing-keys array ["PREFIX.src"]',
      'x-death time object ',
      'body héllo priority 3 correlation c-1',
    ]);
  });

  it('rolls back and commits transactions; a nacked get comes back redelivered', async () => {
    expect(await php('tx')).toEqual(['committed 4', 'requeued yes redelivered true left 3']);
  });
});
