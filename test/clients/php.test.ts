/**
 * warren with PHP's two AMQP clients, run as a child process per scenario:
 * php-amqplib 3.5 (Debian's php-amqplib, pure PHP: Laravel's and Symfony's
 * queue libraries use it) and the php-amqp extension 1.11 (php-amqp, on
 * rabbitmq-c: Symfony Messenger's AMQP transport). Every expected line here was
 * printed by the same scripts against RabbitMQ 3.10.8.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { start } from '../helpers.js';
import { HERE, runOk, uniq, works } from './support.js';

const amqplibReady = works('php', ['-r', "require '/usr/share/php/PhpAmqpLib/autoload.php';"]);
const extensionReady = works('php', ['-r', "exit(extension_loaded('amqp') ? 0 : 1);"]);

let broker: RunningBroker;
beforeAll(async () => {
  if (amqplibReady || extensionReady) broker = await start(2);
});
afterAll(async () => {
  await broker?.close();
});

const scenarios = (script: string) => (scenario: string) => runOk('php', [path.join(HERE, script), broker.url, uniq('php'), scenario]);

/** A message rejected from PREFIX.src, dead-lettered: its x-death headers as both clients read them (php_common.php prints them). */
const DEAD_LETTERED = [
  'header x-first-death-exchange "" string',
  'header x-first-death-queue "PREFIX.src" string',
  'header x-first-death-reason "rejected" string',
];
const X_DEATH = [
  'x-death count integer 1',
  'x-death exchange string ""',
  'x-death queue string "PREFIX.src"',
  'x-death reason string "rejected"',
  'x-death routing-keys array ["PREFIX.src"]',
  'x-death time object ',
];

describe.skipIf(!amqplibReady)('php-amqplib (skipped: no php with php-amqplib; apt-get install php-cli php-amqplib)', () => {
  const php = scenarios('php_client.php');

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
      ...DEAD_LETTERED,
      'header yes true boolean',
      ...X_DEATH,
      'body héllo priority 3 correlation c-1',
    ]);
  });

  it('rolls back and commits transactions; a nacked get comes back redelivered', async () => {
    expect(await php('tx')).toEqual(['committed 4', 'requeued yes redelivered true left 3']);
  });
});

describe.skipIf(!extensionReady)('the php-amqp extension (skipped: no php with the amqp extension; apt-get install php-cli php-amqp)', () => {
  const php = scenarios('php_amqp_ext_client.php');

  it('confirms 2,000 numbered persistent publishes and delivers each once to an acking consumer', async () => {
    expect(await php('confirms')).toEqual(['confirmed 2000', 'each once true']);
  });

  it("raises RabbitMQ's channel errors with their codes and texts, the connection going on", async () => {
    expect(await php('errors')).toEqual([
      "passive 404 Server channel error: 404, message: NOT_FOUND - no queue 'PREFIX.missing' in vhost '/'",
      "redeclare 406 Server channel error: 406, message: PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'PREFIX.x' in vhost '/': received 'fanout' but current is 'direct'",
      'server-named true',
    ]);
  });

  it('dead-letters a rejected message with x-death, its headers read as RabbitMQ hands them over', async () => {
    expect(await php('dead-letter')).toEqual([
      'header big 1099511627776 integer',
      'header int 5 integer',
      'header list ["two"] array', // the extension's reading of a mixed list, the same from RabbitMQ
      'header str "ü€" string',
      ...DEAD_LETTERED,
      'header yes true boolean',
      ...X_DEATH,
      'body héllo priority 3 redelivered false',
    ]);
  });
});
