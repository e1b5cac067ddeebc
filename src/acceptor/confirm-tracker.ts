/**
 * Publisher confirms for one channel in confirm mode. Publish seq n stays
 * outstanding until every shard it was routed to has reported it safe (the
 * shards' CONFIRM records); then it is acked. A shard that refused it, or was
 * lost, gets it nacked. An unroutable publish is acked at once, as RabbitMQ does.
 *
 * Replies are coalesced as RabbitMQ's channel does: one basic.ack multiple=true
 * for the longest run of finished seqs from the lowest one not yet answered,
 * single acks for seqs that finished while an earlier one is still waiting.
 *
 * No objects per publish: a ring of states indexed by seq, and per shard a
 * queue of the seqs it still owes (a shard answers a channel's publishes in order).
 */

/** states[seq & mask], for seqs from `low` to the last one: > 0 is the number of shards still to answer */
const DONE = 0; // every shard stored it; the ack is not sent yet
const FAILED = -1; // refused, or its shard was lost; the nack is not sent yet
const ANSWERED = -2; // ack or nack sent

/** Writes basic.ack (ack) or basic.nack for `seq` (and, when multiple, every unanswered one from `first`). */
export type ConfirmSink = (seq: number, multiple: boolean, ack: boolean, first: number) => void;

export class ConfirmTracker {
  /** the last seq handed out */
  private seq = 0;
  /** seqs answered, and of those acked (the management API's confirm and messages_unconfirmed) */
  private answered = 0;
  acked = 0;
  /** the lowest seq not answered yet; everything below it was acked or nacked */
  private low = 1;
  private states = new Int32Array(64);
  private readonly owed: SeqQueue[];
  /** seqs that became DONE or FAILED since the last flush, in order */
  private readonly finished: number[] = [];

  constructor(
    shards: number,
    private readonly sink: ConfirmSink,
  ) {
    this.owed = Array.from({ length: shards }, () => new SeqQueue());
  }

  /**
   * A publish routed to `shardCount` shards (tell each with routedTo); returns
   * its seq. With no shard it is finished: flush() acks it.
   */
  publish(shardCount: number): number {
    const seq = ++this.seq;
    if (seq - this.low >= this.states.length) this.grow();
    this.states[seq & (this.states.length - 1)] = shardCount;
    if (shardCount === 0) this.finished.push(seq);
    return seq;
  }

  routedTo(shard: number, seq: number): void {
    this.owed[shard].push(seq);
  }

  /** The next `count` publishes this channel sent to `shard` are stored there. */
  stored(shard: number, count: number): void {
    const owed = this.owed[shard];
    const states = this.states;
    const mask = states.length - 1;
    for (let i = 0; i < count; i++) {
      const seq = owed.shift();
      const at = seq & mask;
      // A seq already FAILED on another shard stays failed.
      if (states[at] > 0 && --states[at] === DONE) this.finished.push(seq);
    }
  }

  /** The next `count` publishes this channel sent to `shard` were refused there. */
  refused(shard: number, count: number): void {
    const owed = this.owed[shard];
    for (let i = 0; i < count; i++) this.fail(owed.shift());
  }

  /** The shard is gone: everything it still owes is nacked (at the next flush). */
  failShard(shard: number): void {
    this.refused(shard, this.owed[shard].length);
  }

  /** the last seq handed out */
  get lastSeq(): number {
    return this.seq;
  }

  /** Every seq up to the one returned was answered (acked or nacked). */
  answeredThrough(): number {
    const mask = this.states.length - 1;
    while (this.low <= this.seq && this.states[this.low & mask] === ANSWERED) this.low++;
    return this.low - 1;
  }

  /** publishes not yet acked or nacked */
  get unconfirmed(): number {
    return this.seq - this.answered;
  }

  /** Sends the acks and nacks for what finished since the last flush. */
  flush(): void {
    const finished = this.finished;
    if (finished.length === 0) return;
    const states = this.states;
    const mask = states.length - 1;
    // The run from `low`: one multiple reply per kind, passing over seqs already answered.
    while (this.low <= this.seq) {
      const kind = states[this.low & mask];
      if (kind === ANSWERED) {
        this.low++;
        continue;
      }
      if (kind !== DONE && kind !== FAILED) break;
      let end = this.low;
      for (let s = this.low + 1; s <= this.seq; s++) {
        const state = states[s & mask];
        if (state === kind) end = s;
        else if (state !== ANSWERED) break;
      }
      let count = 0;
      for (let s = this.low; s <= end; s++) {
        if (states[s & mask] === ANSWERED) continue;
        states[s & mask] = ANSWERED;
        count++;
      }
      this.answered += count;
      if (kind === DONE) this.acked += count;
      this.sink(end, end > this.low, kind === DONE, this.low);
      this.low = end + 1;
    }
    // Finished while an earlier seq is still waiting: answered one by one.
    for (let i = 0; i < finished.length; i++) {
      const seq = finished[i];
      const at = seq & mask;
      if (states[at] !== DONE && states[at] !== FAILED) continue;
      this.sink(seq, false, states[at] === DONE, seq);
      this.answered++;
      if (states[at] === DONE) this.acked++;
      states[at] = ANSWERED;
    }
    finished.length = 0;
  }

  private fail(seq: number): void {
    const at = seq & (this.states.length - 1);
    if (this.states[at] <= 0) return; // answered, or failed already
    this.states[at] = FAILED;
    this.finished.push(seq);
  }

  /** Doubles the ring, keeping each unanswered seq's state. */
  private grow(): void {
    const old = this.states;
    const states = new Int32Array(old.length * 2);
    for (let s = this.low; s <= this.seq; s++) states[s & (states.length - 1)] = old[s & (old.length - 1)];
    this.states = states;
  }
}

/** A FIFO of seqs (doubles, so seqs past 2^31 need no boxing). */
class SeqQueue {
  private items = new Float64Array(16);
  private head = 0;
  length = 0;

  push(seq: number): void {
    if (this.length === this.items.length) this.grow();
    this.items[(this.head + this.length) & (this.items.length - 1)] = seq;
    this.length++;
  }

  shift(): number {
    if (this.length === 0) throw new Error('confirm tracker: a shard confirmed more publishes than it was sent');
    const seq = this.items[this.head];
    this.head = (this.head + 1) & (this.items.length - 1);
    this.length--;
    return seq;
  }

  private grow(): void {
    const items = new Float64Array(this.items.length * 2);
    for (let i = 0; i < this.length; i++) items[i] = this.items[(this.head + i) & (this.items.length - 1)];
    this.items = items;
    this.head = 0;
  }
}
