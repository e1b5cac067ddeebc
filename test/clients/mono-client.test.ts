/**
 * warren with the .NET client Debian ships (libmono-rabbitmq4.0-cil: RabbitMQ.Client
 * 1.x from Mono, run by Mono), in both the protocols it speaks: AMQP 0-8, its default,
 * and 0-9, whose protocol header RabbitMQ and warren take as 0-9-1. The scenario
 * program (MonoClient.cs) is built once and run as a child process per test. Every
 * expected output here was printed by the same program against RabbitMQ 3.10.8, in
 * both protocols.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { MODES, start } from '../helpers.js';
import { HERE, runOk, uniq, works } from './support.js';

const DLL = '/usr/lib/mono/4.5/RabbitMQ.Client.dll';
const ready = existsSync(DLL) && works('mcs', ['--version']) && works('mono', ['--version']);

const CASES = MODES.flatMap((mode) => ['AMQP_0_8', 'AMQP_0_9'].map((protocol) => ({ ...mode, protocol })));

describe.each(CASES)('the .NET client on Mono, $protocol, $name (skipped without: apt-get install mono-mcs libmono-rabbitmq4.0-cil)', ({ workers, protocol }) => {
  let broker: RunningBroker;
  let dir: string;
  let program: string;
  const scenario = (name: string, ...args: string[]) => {
    const { hostname, port } = new URL(broker.url);
    return runOk('env', [`MONO_CLIENT_PROTOCOL=${protocol}`, 'mono', program, hostname, port, name, uniq('mono'), ...args]);
  };

  beforeAll(async () => {
    if (!ready) return;
    dir = mkdtempSync(path.join(os.tmpdir(), 'warren-mono-'));
    program = path.join(dir, 'MonoClient.exe');
    await runOk('mcs', [`-r:${DLL}`, `-out:${program}`, path.join(HERE, 'MonoClient.cs')], { timeoutMs: 60_000 });
    broker = await start(workers);
  }, 90_000);
  afterAll(async () => {
    await broker?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!ready)('3,000 numbered messages of up to 68 KiB through a server-named queue, prefetch 50 and acks: each once, whole and in order', async () => {
    expect(await scenario('numbered', '3000')).toEqual(['server-named True', 'received 3000 of 3000, in order 3000', 'get after empty', 'done']);
  });

  it.skipIf(!ready)('properties and a headers table written by the client come back as it wrote them', async () => {
    expect(await scenario('headers')).toEqual([
      'body body héllo',
      'content-type text/plain priority 3 correlation-id c-1 delivery-mode 2 message-id m-ü',
      'header bytes = raw (byte[])',
      'header int = 5 (Int32)',
      'header nested = {a: 1 (Int32)}',
      'header str = ü€ (byte[])',
      'done',
    ]);
  });

  it.skipIf(!ready)('reject with requeue and basic.recover bring the message back redelivered; reject without drops it', async () => {
    expect(await scenario('requeue')).toEqual([
      'first 7 redelivered False',
      'after reject 7 redelivered True',
      'after recover 7 redelivered True count 0',
      'after drop empty',
      'done',
    ]);
  });

  it.skipIf(!ready)('transactions: publishes and acks wait for tx.commit, tx.rollback drops them', async () => {
    expect(await scenario('tx')).toEqual([
      'before commit 0',
      'after commit 3',
      'after rollback 3',
      'ack rolled back: 2 ready',
      'ack committed, channel closed: 2 ready',
      'done',
    ]);
  });

  it.skipIf(!ready)('a mandatory publish with no route comes back as basic.return 312', async () => {
    const lines = await scenario('return');
    expect(lines[0]).toMatch(/^return 312 NO_ROUTE mono-\S+-ex nowhere 42$/);
    expect(lines[1]).toBe('done');
  });

  it.skipIf(!ready)("channel errors come with RabbitMQ's codes and texts, and the connection goes on", async () => {
    const lines = await scenario('errors');
    expect(lines[0]).toMatch(/^passive declare 404 NOT_FOUND - no queue 'mono-\S+-missing' in vhost '\/'$/);
    expect(lines.slice(1)).toEqual(['redeclare 406', 'connection open True, new channel works True', 'done']);
  });
});
