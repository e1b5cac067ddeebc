// The reset scenario end to end: a warren with its management API is reset over
// POST /api/warren/reset, one without is emptied with queue.delete; both leave no queue.
import { beforeAll, describe, expect, it } from 'vitest';
import { warrenTarget } from '../../bench/brokers.js';
import { parseOptions } from '../../bench/options.js';
import { groupRuns } from '../../bench/report.js';
import { buildScenario } from '../../bench/scenarios.js';
import { runSession } from '../../bench/session.js';
import { ensureBuilt, quiet } from './helpers.js';

beforeAll(() => ensureBuilt());

const base = { reps: 2, seconds: 1, warmup: 0, threads: 0, driver: 'amqplib' as const, overrides: { count: 300 }, specs: [{ scenario: 'reset' as const }], ...quiet };

describe('the reset scenario', () => {
  it('plans N queues, each bound, 2 messages each; is not in the default list', () => {
    const plan = buildScenario('reset', { prefix: 'x.', count: 5 });
    expect(plan.topology.queues.map((q) => q.name)).toEqual(['x.q0', 'x.q1', 'x.q2', 'x.q3', 'x.q4']);
    expect(plan.topology.bindings.map((b) => b.key)).toEqual(plan.topology.queues.map((q) => q.name));
    expect(buildScenario('reset', { prefix: 'x.' }).topology.queues).toHaveLength(10_000);
    expect(parseOptions([]).scenarios).not.toContain('reset');
    expect(parseOptions(['--scenario', 'reset']).scenarios).toEqual(['reset']);
  });

  it('times POST /api/warren/reset on a warren with its management API, and the queues are gone', async () => {
    const s = await runSession({ ...base, brokers: [warrenTarget('warren', { workers: 1, management: true })] });
    for (const r of s.runs) {
      expect(r.errors).toEqual([]);
      expect(r.reset).toMatchObject({ queues: 300, bindings: 300, messages: 600, method: 'http' });
      expect(r.reset!.ms).toBeGreaterThan(0);
    }
    const [summary] = groupRuns(s.runs);
    expect(summary!.reset!.ms).toBeGreaterThan(0);
  }, 60_000);

  it('without the route, times queue.delete of every queue instead', async () => {
    const s = await runSession({ ...base, reps: 1, brokers: [warrenTarget('warren', { workers: 0 })] });
    expect(s.runs[0]!.errors).toEqual([]);
    expect(s.runs[0]!.reset).toMatchObject({ queues: 300, messages: 600, method: 'amqp-delete' });
  }, 60_000);
});
