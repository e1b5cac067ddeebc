/**
 * Counts publisher confirms and wakes whoever waits for a count to be reached.
 * Given `onConfirm`, it also keeps the send stamp of each message not yet
 * confirmed (sent()) and hands it over when the confirm comes: the confirm
 * latency. Confirms come in publish order, so a ring of `window` + 1 stamps
 * holds every message in flight when at most `window` are.
 */
export class ConfirmCount {
  value = 0;
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private sentCount = 0;
  private readonly stamps: Float64Array;
  private readonly mask: number;

  constructor(private readonly onConfirm: ((stampUs: number) => void) | null = null, window = 0) {
    const size = onConfirm === null ? 1 : 2 ** Math.ceil(Math.log2(window + 1));
    this.stamps = new Float64Array(size);
    this.mask = size - 1;
  }

  /** A message went out stamped `stampUs`; its confirm is the next one not yet counted. */
  sent(stampUs: number): void {
    this.stamps[this.sentCount & this.mask] = stampUs;
    this.sentCount++;
  }

  /** Sets the count (confirms may be cumulative) and wakes the waiters it satisfies. */
  set(value: number): void {
    if (this.onConfirm !== null) for (let n = this.value; n < value; n++) this.onConfirm(this.stamps[n & this.mask]!);
    this.value = value;
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (this.value < w.n) return true;
      w.resolve();
      return false;
    });
  }

  waitFor(n: number): Promise<void> {
    if (this.value >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}
