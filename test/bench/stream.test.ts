// The stream scenario end to end against a warren: a stream declared, its
// consumer reading from the first offset with acks, with either driver; asked
// for by name only (a broker without streams refuses it).
import { beforeAll, describe, expect, it } from 'vitest';
import { warrenTarget } from '../../bench/brokers.js';
import { parseOptions } from '../../bench/options.js';
import { buildScenario } from '../../bench/scenarios.js';
import { runSession } from '../../bench/session.js';
import { ensureBuilt, quiet } from './helpers.js';

beforeAll(() => ensureBuilt());

describe('the stream scenario', () => {
  it('plans a durable stream and a consumer from its first offset; is not in the default list', () => {
    const plan = buildScenario('stream', { prefix: 'x.' });
    expect(plan.topology.queues).toEqual([{ name: 'x.q', durable: true, arguments: { 'x-queue-type': 'stream' } }]);
    expect(plan.consumers).toEqual([{ queues: ['x.q'], noAck: false, prefetch: 100, arguments: { 'x-stream-offset': 'first' } }]);
    expect(plan.publishers[0]).toMatchObject({ confirm: true, inFlight: 1000 });
    expect(parseOptions([]).scenarios).not.toContain('stream');
    expect(parseOptions(['--scenario', 'stream']).scenarios).toEqual(['stream']);
  });

  for (const driver of ['pipelined', 'amqplib'] as const) {
    it(`${driver}: publishes are confirmed and the consumer reads them`, async () => {
      const s = await runSession({ reps: 1, seconds: 1, warmup: 0.3, threads: 0, ...quiet, driver, specs: [{ scenario: 'stream' }], brokers: [warrenTarget('warren', { workers: 0 })] });
      const r = s.runs[0]!;
      expect(r.errors).toEqual([]);
      expect(r.publishedPerSec).toBeGreaterThan(1000);
      // (amqplib's consumer falls behind its publisher, on RabbitMQ too: docs/BENCHMARKS.md)
      expect(r.consumedPerSec).toBeGreaterThan(1000);
      expect(r.confirmLatency.count).toBeGreaterThan(0);
    }, 60_000);
  }
});
