/**
 * A queue's consumer capacity (the management API's consumer_capacity and
 * consumer_utilisation): the share of time it could hand a message to a
 * consumer at once, as RabbitMQ computes it. A queue is active until a
 * delivery finds no consumer with room (none at all, or all at their prefetch
 * or with a full socket), inactive until a consumer comes or gets room again.
 * Each inactive stretch and the active one before it fold into a moving
 * average with a half-life of one second, so the cost is a few float
 * operations per change of state, none per message.
 */
const HALF_LIFE_MS = 1000;
const monotonicMs = (): number => performance.now();

export class ConsumerUse {
  private active = true;
  /** when the current stretch (active or inactive) began, on `clock` */
  private since: number;
  /** while inactive: how long the active stretch before it lasted */
  private activeFor = 0;
  private average = 1;

  constructor(private readonly clock: () => number = monotonicMs) {
    this.since = clock();
  }

  /** A delivery found no consumer that could take the message. */
  blocked(): void {
    if (!this.active) return;
    const now = this.clock();
    this.active = false;
    this.activeFor = now - this.since;
    this.since = now;
  }

  /** A consumer came, or one got room. */
  unblocked(): void {
    if (this.active) return;
    const now = this.clock();
    this.average = fold(this.activeFor, now - this.since, this.average);
    this.active = true;
    this.since = now;
  }

  /** The share of time active, 0 to 1, with the current stretch counted up to now. */
  capacity(): number {
    const now = this.clock();
    return this.active ? fold(now - this.since, 0, this.average) : fold(this.activeFor, now - this.since, this.average);
  }
}

/** The average after a stretch of `active` then `inactive` ms: the longer the stretch, the more it weighs. */
function fold(active: number, inactive: number, average: number): number {
  const time = active + inactive;
  if (!(time > 0)) return average;
  const weight = Math.pow(0.5, time / HALF_LIFE_MS);
  return (active / time) * (1 - weight) + average * weight;
}
