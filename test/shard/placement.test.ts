/** Placement: a queue's partition never depends on the shard count, and partitions spread evenly. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PARTITIONS, partitionOf, shardOf, shardOfPartition } from '../../src/shard/placement.js';
import { queueDirName } from '../../src/store/queue-dir.js';

describe('placement', () => {
  it('pins partitions: data written today must be found by every later version', () => {
    expect([partitionOf('/', 'a'), partitionOf('/', 'orders'), partitionOf('vh', 'é☃'), partitionOf('', '')]).toEqual([145, 192, 225, 27]);
    expect(queueDirName('/', 'orders')).toMatch(/^[0-9a-f]{40}$/);
    expect(queueDirName('/', 'orders')).not.toBe(queueDirName('/o', 'rders'));
  });

  it('gives a queue the same partition on any shard count, and the shard of that partition', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 255 }), fc.integer({ min: 1, max: 64 }), (vhost, name, shards) => {
        const p = partitionOf(vhost, name);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(PARTITIONS);
        expect(partitionOf(vhost, name)).toBe(p);
        expect(shardOf(vhost, name, shards)).toBe(shardOfPartition(p, shards));
      }),
    );
  });

  it('spreads 10,000 names evenly over the partitions (chi-square)', () => {
    const counts = new Array<number>(PARTITIONS).fill(0);
    const n = 10_000;
    for (let i = 0; i < n; i++) counts[partitionOf('/', `queue-${i}`)]++;
    const expected = n / PARTITIONS;
    const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    // 255 degrees of freedom: mean 255, sd ~22.6; 370 is beyond the 99.99th percentile.
    expect(chi2).toBeLessThan(370);
    expect(Math.min(...counts)).toBeGreaterThan(0);
  });

  it('gives every shard partitions, evenly, for 1 to 16 shards', () => {
    for (let shards = 1; shards <= 16; shards++) {
      const owned = new Array<number>(shards).fill(0);
      for (let p = 0; p < PARTITIONS; p++) owned[shardOfPartition(p, shards)]++;
      expect(Math.min(...owned)).toBe(Math.floor(PARTITIONS / shards));
      expect(Math.max(...owned) - Math.min(...owned)).toBeLessThanOrEqual(1);
    }
  });
});
