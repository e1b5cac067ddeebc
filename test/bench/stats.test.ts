import { describe, expect, it } from 'vitest';
import { evaluateGate } from '../../bench/compare.js';
import { parseOptions } from '../../bench/options.js';
import type { Summary } from '../../bench/report.js';
import { splitActors } from '../../bench/runner.js';
import { buildScenario, topicMatches } from '../../bench/scenarios.js';
import { median, noise, parseFraction, parseRate, ratio, seededRandom } from '../../bench/stats.js';

describe('statistics helpers', () => {
  it('median of odd, even, and with missing values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5, 1])).toBe(3);
    expect(median([])).toBeNaN();
  });

  it('ratio guards against missing figures and zero', () => {
    expect(ratio(10, 4)).toBe(2.5);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(NaN, 1)).toBeNaN();
  });

  it('noise is half the range relative to the median', () => {
    expect(noise([100, 110, 90])).toBeCloseTo(0.1);
    expect(noise([5])).toBe(0);
    expect(noise([7, 7, 7])).toBe(0);
  });

  it('parses percentages and rates', () => {
    expect(parseFraction('10%')).toBeCloseTo(0.1);
    expect(parseFraction('0.25')).toBeCloseTo(0.25);
    expect(parseFraction('15')).toBeCloseTo(0.15);
    expect(parseRate('1k')).toBe(1000);
    expect(parseRate('1.5m')).toBe(1_500_000);
    expect(parseRate('max')).toBe(0);
    expect(() => parseRate('fast')).toThrow();
  });

  it('seeded random is deterministic', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });
});

describe('scenarios', () => {
  it('topic matching follows AMQP rules', () => {
    expect(topicMatches('a.*.c', 'a.b.c')).toBe(true);
    expect(topicMatches('a.*', 'a.b.c')).toBe(false);
    expect(topicMatches('a.#', 'a')).toBe(true);
    expect(topicMatches('a.#', 'a.b.c')).toBe(true);
    expect(topicMatches('#.c', 'a.b.c')).toBe(true);
    expect(topicMatches('a.b', 'a.c')).toBe(false);
  });

  it('topic has 1,000 bindings over 100 queues, the same in every run', () => {
    const a = buildScenario('topic', { prefix: 'x.' });
    const b = buildScenario('topic', { prefix: 'x.' });
    expect(a.topology.bindings).toHaveLength(1000);
    expect(a.topology.queues).toHaveLength(100);
    expect(a.topology.bindings.some((x) => x.key.includes('*'))).toBe(true);
    expect(a.topology.bindings.some((x) => x.key.includes('#'))).toBe(true);
    expect(a.publishers[0]!.routingKeys).toEqual(b.publishers[0]!.routingKeys);
    expect(a.deliveriesPerPublish).toBeGreaterThan(1);
    expect(a.deliveriesPerPublish).toBeLessThan(20);
  });

  it('acks is the confirm scenario without confirms: same queue, size, consumer and prefetch', () => {
    const confirm = buildScenario('confirm', { prefix: 'x.' });
    const acks = buildScenario('acks', { prefix: 'x.' });
    expect(acks.scenario).toBe('acks');
    expect(acks.label).toBe('acks');
    expect(acks.topology).toEqual(confirm.topology);
    expect(acks.consumers).toEqual([{ queues: ['x.q'], noAck: false, prefetch: 100 }]);
    expect(acks.publishers).toEqual(confirm.publishers.map((p) => ({ ...p, confirm: false, inFlight: 0 })));
    expect(confirm.publishers[0]!.confirm).toBe(true);
    expect(acks.params).toEqual({ queues: 1, size: 16, persistent: false, prefetch: 100, ack: 'manual' });
    expect(buildScenario('acks', { prefix: 'x.', rate: 500, size: 64 }).publishers[0]).toMatchObject({ rate: 500, size: 64, confirm: false });
  });

  it('publishers and consumers get separate generators when there are two', () => {
    const plan = buildScenario('fanout', { prefix: 'x.' });
    const parts = splitActors(plan, 2);
    expect(parts).toHaveLength(2);
    expect(parts[0]!.publishers).toHaveLength(1);
    expect(parts[0]!.consumers).toHaveLength(0);
    expect(parts[1]!.consumers).toHaveLength(10);
    const one = splitActors(plan, 1);
    expect(one[0]!.publishers).toHaveLength(1);
    expect(one[0]!.consumers).toHaveLength(10);
    const conns = splitActors(buildScenario('connections', { prefix: 'x.', count: 10 }), 3);
    expect(conns.reduce((a, p) => a + p.idleConnections, 0)).toBe(10);
  });
});

describe('options', () => {
  it('defaults and overrides', () => {
    const d = parseOptions([]);
    expect(d.scenarios).toContain('single');
    expect(d.reps).toBe(1);
    const o = parseOptions(['--vs', 'rabbitmq', '--scenario', 'topic', '--seconds=30', '--workers', '4', '--threads', '0', '--max-regression', '5%']);
    expect(o.reps).toBe(3);
    expect(o.scenarios).toEqual(['topic']);
    expect(o.seconds).toBe(30);
    expect(o.workers).toBe(4);
    expect(o.threads).toBe(0);
    expect(o.maxRegression).toBeCloseTo(0.05);
    expect(parseOptions(['--rate', '1k,max']).scenarios).toEqual(['latency']);
    expect(() => parseOptions(['--scenario', 'nope'])).toThrow(/unknown scenario/);
  });

  it('--size, --count and --prefetch become the scenarios\' overrides (run.test.ts sees --count reach a session)', () => {
    const o = parseOptions(['--size', '64', '--count', '20', '--prefetch', '1000']);
    expect(o.overrides).toEqual({ size: 64, count: 20, prefetch: 1000 });
    for (const name of ['acks', 'confirm', 'persistent'] as const) {
      const plan = buildScenario(name, { ...o.overrides, prefix: 'x.' });
      expect(plan.consumers).toEqual([{ queues: ['x.q'], noAck: false, prefetch: 1000 }]);
      expect(plan.params.prefetch).toBe(1000);
      expect(plan.description).toContain('prefetch 1000');
    }
    expect(buildScenario('acks', { prefix: 'x.' }).consumers[0]!.prefetch).toBe(100);
    // No-ack consumers take no prefetch.
    expect(buildScenario('single', { ...o.overrides, prefix: 'x.' }).consumers[0]!.prefetch).toBe(0);
    expect(buildScenario('many-queues', { ...o.overrides, prefix: 'x.' }).consumers).toHaveLength(1);
    expect(parseOptions([]).overrides).toEqual({});
    expect(() => parseOptions(['--prefetch', '65536'])).toThrow(/65535/);
    expect(() => parseOptions(['--prefetch', '0'])).toThrow(/>= 1/);
  });
});

describe('gate evaluation', () => {
  const s = (broker: string, pub: number, p99: number, n = 0.02): Summary => ({
    label: 'single', broker, driver: 'pipelined', reps: 3, publishedPerSec: pub, consumedPerSec: pub, p50: p99 / 2, p90: p99, p99, p999: p99, max: p99,
    confirmP50: NaN, confirmP99: NaN,
    cpuUsPerMsg: NaN, generatorBusy: NaN, peakRssBytes: NaN, rssPerConnectionBytes: NaN, connectionsPerSec: NaN,
    noise: { publishedPerSec: n, consumedPerSec: n, p99: n }, errors: [],
  });
  it('passes within threshold plus noise', () => {
    expect(evaluateGate([s('b', 100_000, 2)], [s('c', 89_000, 2.2)], 0.1).pass).toBe(true);
  });
  it('fails on a throughput drop beyond threshold plus noise', () => {
    const v = evaluateGate([s('b', 100_000, 2)], [s('c', 80_000, 2)], 0.1);
    expect(v.pass).toBe(false);
    expect(v.figures.find((f) => f.metric === 'published/s')!.regressed).toBe(true);
  });
  it('fails on a p99 rise, but ignores sub-0.1 ms jitter', () => {
    expect(evaluateGate([s('b', 100_000, 2)], [s('c', 100_000, 3)], 0.1).pass).toBe(false);
    expect(evaluateGate([s('b', 100_000, 0.1)], [s('c', 100_000, 0.15)], 0.1).pass).toBe(true);
  });
  it('noisy repetitions widen the allowance', () => {
    expect(evaluateGate([s('b', 100_000, 2, 0.15)], [s('c', 80_000, 2, 0.15)], 0.1).pass).toBe(true);
  });
});
