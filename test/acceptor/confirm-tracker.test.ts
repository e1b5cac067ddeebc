/** The acceptor's per-channel confirm tracker: acks once every shard stored a publish, nacks when one refused or was lost. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfirmTracker } from '../../src/acceptor/confirm-tracker.js';

interface Reply {
  seq: number;
  multiple: boolean;
  ack: boolean;
}

/**
 * A tracker whose replies are checked against what a client makes of them: a
 * multiple reply answers every tag up to it that is not answered yet.
 */
function tracked(shards: number) {
  const replies: Reply[] = [];
  /** seq -> true (acked) / false (nacked) */
  const answered = new Map<number, boolean>();
  let published = 0;
  const tracker = new ConfirmTracker(shards, (seq, multiple, ack, first) => {
    replies.push({ seq, multiple, ack });
    expect(answered.has(seq), `tag ${seq} answered twice`).toBe(false);
    const covered = multiple ? Array.from({ length: seq }, (_, i) => i + 1).filter((s) => !answered.has(s)) : [seq];
    // `first`: the lowest tag the reply answers (what a tx.commit waiting on a range needs)
    expect(first).toBe(covered[0]);
    for (const s of covered) answered.set(s, ack);
  });
  const publish = (...toShards: number[]) => {
    const seq = tracker.publish(toShards.length);
    expect(seq).toBe(++published);
    for (const shard of toShards) tracker.routedTo(shard, seq);
    return seq;
  };
  /** the replies since the last call */
  const take = () => replies.splice(0);
  return { tracker, publish, answered, take };
}

describe('ConfirmTracker', () => {
  it('acks a publish to two shards only when both stored it, coalescing in order', () => {
    const { tracker, publish, answered, take } = tracked(2);
    for (let i = 0; i < 4; i++) publish(0, 1); // seqs 1-4 to both shards
    publish(1); // seq 5 to shard 1 only
    tracker.stored(1, 5); // shard 1 is ahead: stored 1-5
    tracker.flush();
    expect(take()).toEqual([{ seq: 5, multiple: false, ack: true }]); // only seq 5 is complete; 1-4 wait for shard 0
    tracker.stored(0, 2);
    tracker.flush();
    expect(take()).toEqual([{ seq: 2, multiple: true, ack: true }]);
    tracker.stored(0, 2);
    tracker.flush();
    // 3 and 4 finish; 5 was answered already: one multiple ack covers the run.
    expect(take()).toEqual([{ seq: 4, multiple: true, ack: true }]);
    expect([...answered.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
    expect([...answered.values()].every(Boolean)).toBe(true);
  });

  it('acks an unroutable publish at once, even behind outstanding ones', () => {
    const { tracker, publish, take } = tracked(1);
    publish(0);
    publish();
    tracker.flush();
    expect(take()).toEqual([{ seq: 2, multiple: false, ack: true }]);
    tracker.stored(0, 1);
    tracker.flush();
    expect(take()).toEqual([{ seq: 1, multiple: false, ack: true }]);
  });

  it('failShard nacks exactly what that shard still owes, and the rest is acked', () => {
    const { tracker, publish, answered, take } = tracked(2);
    publish(0); // 1
    publish(1); // 2
    publish(0, 1); // 3
    publish(1); // 4
    publish(0); // 5
    tracker.stored(0, 1); // 1 stored on shard 0
    tracker.stored(1, 1); // 2 stored on shard 1
    tracker.flush();
    expect(take()).toEqual([{ seq: 2, multiple: true, ack: true }]);
    tracker.failShard(1); // owes 3 and 4
    tracker.flush();
    expect(take()).toEqual([{ seq: 4, multiple: true, ack: false }]);
    tracker.stored(0, 2); // 3 (already nacked: stays nacked) and 5
    tracker.flush();
    expect(take()).toEqual([{ seq: 5, multiple: false, ack: true }]);
    expect([...answered].sort(([a], [b]) => a - b)).toEqual([[1, true], [2, true], [3, false], [4, false], [5, true]]);
  });

  it('nacks a refused publish while later ones on the shard are acked', () => {
    const { tracker, publish, answered } = tracked(1);
    for (let i = 0; i < 5; i++) publish(0);
    tracker.stored(0, 2);
    tracker.refused(0, 1);
    tracker.stored(0, 2);
    tracker.flush();
    expect([...answered].sort(([a], [b]) => a - b)).toEqual([[1, true], [2, true], [3, false], [4, true], [5, true]]);
  });

  it('any routing, any order of shard answers, losses: each tag answered once, right and as soon as it is known', () => {
    const shards = 3;
    const step = fc.oneof(
      fc.record({ kind: fc.constant('publish' as const), to: fc.subarray([0, 1, 2]) }),
      fc.record({ kind: fc.constant('store' as const), shard: fc.nat(shards - 1), count: fc.nat(4), refused: fc.nat(1) }),
      fc.record({ kind: fc.constant('fail' as const), shard: fc.nat(shards - 1) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const { tracker, publish, answered, take } = tracked(shards);
        const owed: number[][] = [[], [], []];
        const remaining = new Map<number, number>();
        const outcome = new Map<number, boolean>(); // seq -> true stored everywhere / false failed somewhere
        const lost = new Set<number>();
        const shardDone = (seq: number, ok: boolean) => {
          if (outcome.has(seq)) return;
          if (!ok) return void outcome.set(seq, false);
          remaining.set(seq, remaining.get(seq)! - 1);
          if (remaining.get(seq) === 0) outcome.set(seq, true);
        };
        for (const s of steps) {
          if (s.kind === 'publish') {
            const to = s.to.filter((shard) => !lost.has(shard));
            const seq = publish(...to);
            remaining.set(seq, to.length);
            if (to.length === 0) outcome.set(seq, true);
            for (const shard of to) owed[shard].push(seq);
          } else if (s.kind === 'store') {
            if (lost.has(s.shard)) continue;
            const stored = Math.min(s.count, owed[s.shard].length);
            const refused = Math.min(s.refused, owed[s.shard].length - stored);
            for (const seq of owed[s.shard].splice(0, stored)) shardDone(seq, true);
            for (const seq of owed[s.shard].splice(0, refused)) shardDone(seq, false);
            tracker.stored(s.shard, stored);
            if (refused > 0) tracker.refused(s.shard, refused);
          } else {
            for (const seq of owed[s.shard].splice(0)) shardDone(seq, false);
            tracker.failShard(s.shard);
            lost.add(s.shard);
          }
          tracker.flush();
          // Exactly the finished ones are answered, each the way it ended.
          expect(new Map([...answered].sort(([a], [b]) => a - b))).toEqual(new Map([...outcome].sort(([a], [b]) => a - b)));
          // answeredThrough: the end of the run of answered tags from 1
          let through = 0;
          while (answered.has(through + 1)) through++;
          expect(tracker.answeredThrough()).toBe(through);
          expect(tracker.lastSeq).toBe(remaining.size);
        }
        // Once the live shards stored what they owe, two more publishes stored together get one multiple ack.
        const live = [0, 1, 2].filter((shard) => !lost.has(shard));
        if (live.length === 0) return;
        for (const shard of live) tracker.stored(shard, owed[shard].length);
        tracker.flush();
        take();
        const last = [publish(live[0]), publish(live[0])][1];
        tracker.stored(live[0], 2);
        tracker.flush();
        expect(take()).toEqual([{ seq: last, multiple: true, ack: true }]);
      }),
    );
  });

  it('keeps state across ring growth with thousands outstanding', () => {
    const { tracker, publish, answered, take } = tracked(2);
    for (let i = 0; i < 5000; i++) publish(i % 2);
    tracker.stored(1, 2500); // the even seqs (shard 1) finish out of order: single acks
    tracker.flush();
    expect(take().length).toBe(2500);
    tracker.stored(0, 2500);
    tracker.flush();
    // The odd seqs complete the run; 5000 (shard 1) was answered already.
    expect(take()).toEqual([{ seq: 4999, multiple: true, ack: true }]);
    expect(answered.size).toBe(5000);
  });
});
