/**
 * faults.stallConnections seen by pika: a connection with heartbeat=2 that the
 * broker stops reading and writing must be given up by pika's own heartbeat
 * checker (AMQPHeartbeatTimeout), within a bounded time. As across a network
 * partition, the broker drops it on its side after two silent heartbeat
 * intervals without a word to pika, and closes its socket once the stall ends.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../dist/src/index.js';
import { MODES, start } from '../helpers.js';
import { HERE, findPython, uniq } from './support.js';

const python = findPython();
const SCRIPT = path.join(HERE, 'pika_client.py');
/** pika checks every heartbeat + 5 s (7 s) and gives up at the first check that saw nothing: the second after the stall at the latest (14 s), plus slack for a loaded machine. */
const BOUND_MS = 20_000;

describe.skipIf(!python).each(MODES)('pika heartbeat under a stall ($name) (skipped without python3-pika)', ({ workers }) => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await start(workers);
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('pika reports its heartbeat timeout within the bound', { timeout: BOUND_MS + 10_000 }, async () => {
    const name = uniq('pika-stalled');
    const child = spawn(python!, [SCRIPT, `${broker.url}?heartbeat=2`, 'heartbeat-stall', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), BOUND_MS + 8_000);
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const first = await lines.next();
      expect(first.value, stderr).toBe('connected heartbeat=2');
      await broker.waitFor.connections(1);
      expect(broker.faults.stallConnections({ name })).toBe(1);
      const stalledAt = Date.now();
      const dropped = broker.waitFor.connections(0, { timeoutMs: BOUND_MS }).then(() => Date.now() - stalledAt);
      const lost = await lines.next();
      const waited = Date.now() - stalledAt;
      expect(lost.value, stderr).toMatch(/^lost AMQPHeartbeatTimeout .*missed heartbeats/);
      // Not before pika's check interval (heartbeat + 5 s), and within two of them.
      expect(waited).toBeGreaterThanOrEqual(6_000);
      expect(waited).toBeLessThan(BOUND_MS);
      // The broker had dropped it before (two heartbeat intervals of silence, 4 s),
      // and pika heard nothing of that: its own checker gave up.
      const droppedAfter = await dropped;
      console.log(`the broker dropped it ${droppedAfter} ms after the stall, pika gave up after ${waited} ms`);
      expect(droppedAfter).toBeLessThan(waited);
      expect(broker.faults.unstallConnections({ name })).toBe(1);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });
});
