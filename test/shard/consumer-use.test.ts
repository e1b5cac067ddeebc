/** A queue's consumer capacity as RabbitMQ averages it, on a clock the test moves. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConsumerUse } from '../../src/shard/consumer-use.js';

function clocked() {
  let now = 1000;
  const use = new ConsumerUse(() => now);
  return { use, pass: (ms: number) => (now += ms) };
}

describe('ConsumerUse', () => {
  it('starts at 1 and stays there while deliveries never find the consumers full', () => {
    const { use, pass } = clocked();
    pass(5000);
    use.unblocked();
    expect(use.capacity()).toBe(1);
  });

  it('halves for each second blocked, and comes back as the half-life says', () => {
    const { use, pass } = clocked();
    use.blocked();
    pass(1000);
    expect(use.capacity()).toBeCloseTo(0.5, 10);
    pass(1000);
    expect(use.capacity()).toBeCloseTo(0.25, 10);
    use.unblocked();
    pass(1000);
    expect(use.capacity()).toBeCloseTo(0.625, 10); // half of 1, half of 0.25
  });

  it('a consumer active a tenth of the time reads about 0.1 after a while, however short the stretches', () => {
    for (const [active, inactive] of [[0.1, 0.9], [1, 9], [50, 450]]) {
      const { use, pass } = clocked();
      for (let t = 0; t < 20_000; t += active + inactive) {
        pass(active);
        use.blocked();
        pass(inactive);
        use.unblocked();
      }
      expect(use.capacity()).toBeCloseTo(0.1, 1);
    }
  });

  it('repeated blocks or unblocks change nothing, and the share stays within 0 and 1', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('blocked', 'unblocked', 'read'), fc.double({ min: 0, max: 5000, noNaN: true }))), (steps) => {
        const { use, pass } = clocked();
        const twin = clocked();
        for (const [event, ms] of steps) {
          pass(ms);
          twin.pass(ms);
          if (event === 'read') {
            const share = use.capacity();
            expect(share).toBeGreaterThanOrEqual(0);
            expect(share).toBeLessThanOrEqual(1);
            continue;
          }
          use[event]();
          use[event](); // the same event again at the same time: no change
          twin.use[event]();
        }
        expect(use.capacity()).toBe(twin.use.capacity());
      }),
    );
  });
});
