/**
 * basic.qos global=true: one limit shared by a channel's consumers on every
 * shard, as RabbitMQ's limiter keeps it. A channel that sets one gets a slot
 * in a table that the acceptor and every shard see (a SharedArrayBuffer):
 * the deliveries to be acked that count against it, the limit, and a flag a
 * shard raises when it found the slot full. A shard takes a place (Atomics)
 * before each delivery to a consumer that acks and delivers to none of the
 * channel's consumers while the slot is full (RabbitMQ holds back no-ack ones
 * too, though they take no place); the acceptor gives places back as the
 * client settles, and tells the shards that raised the flag to look again.
 */

/** Channels with a global prefetch at once; one more gets 506 RESOURCE_ERROR. */
export const LIMIT_SLOTS = 65536;
/** Int32 words per slot: [counted, limit (0: none), wanted] */
const WORDS = 3;
const LIMIT = 1;
const WANTED = 2;

export class ChannelLimits {
  readonly words: Int32Array;
  /** The acceptor's: slots given back, and the next never used. */
  private readonly free: number[] = [];
  private unused = 0;

  constructor(readonly sab = new SharedArrayBuffer(LIMIT_SLOTS * WORDS * 4)) {
    this.words = new Int32Array(sab);
  }

  // --- the acceptor's side ----------------------------------------------------

  /** A cleared slot for a channel, or -1 when all are taken. */
  allocate(): number {
    const slot = this.free.pop() ?? (this.unused < LIMIT_SLOTS ? this.unused++ : -1);
    if (slot >= 0) for (let i = 0; i < WORDS; i++) Atomics.store(this.words, slot * WORDS + i, 0);
    return slot;
  }

  /** The channel is gone and no shard can touch its slot any more. */
  release(slot: number): void {
    this.free.push(slot);
  }

  /** Sets the limit (0: none); true when shards wait to hear of the room it made. */
  setLimit(slot: number, limit: number): boolean {
    Atomics.store(this.words, slot * WORDS + LIMIT, limit);
    return this.wanted(slot);
  }

  /** Deliveries that count without a shard having taken their place (made before the slot reached their shard). */
  add(slot: number, n: number): void {
    Atomics.add(this.words, slot * WORDS, n);
  }

  /** Settled deliveries give their places back; true when shards wait to hear of the room. */
  give(slot: number, n: number): boolean {
    Atomics.sub(this.words, slot * WORDS, n);
    return this.wanted(slot);
  }

  /**
   * Whether a shard found the slot full and there is room now (the flag is
   * then cleared). A shard raises the flag before it looks at the count once
   * more, and this looks at the flag after changing the count: one of the two
   * sees the other, so no wake-up is lost.
   */
  private wanted(slot: number): boolean {
    const at = slot * WORDS;
    if (Atomics.load(this.words, at + WANTED) === 0 || !this.hasRoom(slot)) return false;
    Atomics.store(this.words, at + WANTED, 0);
    return true;
  }

  /** The places taken (tests, the management API). */
  counted(slot: number): number {
    return Atomics.load(this.words, slot * WORDS);
  }

  hasRoom(slot: number): boolean {
    const at = slot * WORDS;
    const limit = Atomics.load(this.words, at + LIMIT);
    return limit === 0 || Atomics.load(this.words, at) < limit;
  }

  // --- a shard's side -----------------------------------------------------------

  /**
   * Whether a consumer of the slot's channel may take a message now; one that
   * acks (`counts`) takes a place. When the slot is full, raises its flag.
   */
  take(slot: number, counts: boolean): boolean {
    const words = this.words;
    const at = slot * WORDS;
    for (;;) {
      if (counts) {
        const before = Atomics.add(words, at, 1);
        const limit = Atomics.load(words, at + LIMIT);
        if (limit === 0 || before < limit) return true;
        Atomics.sub(words, at, 1);
      } else if (this.hasRoom(slot)) return true;
      Atomics.store(words, at + WANTED, 1);
      // The acceptor may have made room since, and seen no flag then: look again.
      if (!this.hasRoom(slot)) return false;
    }
  }

  /** A place taken for a delivery that did not happen. */
  giveBack(slot: number): void {
    Atomics.sub(this.words, slot * WORDS, 1);
  }
}

/** One channel's slot, as a shard's consumers of that channel hold it. */
export class ChannelSlot {
  constructor(
    private readonly limits: ChannelLimits,
    readonly slot: number,
  ) {}

  take(counts: boolean): boolean {
    return this.limits.take(this.slot, counts);
  }

  hasRoom(): boolean {
    return this.limits.hasRoom(this.slot);
  }

  giveBack(): void {
    this.limits.giveBack(this.slot);
  }
}
