/** Counts publisher confirms and wakes whoever waits for a count to be reached. */
export class ConfirmCount {
  value = 0;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  /** Sets the count (confirms may be cumulative) and wakes the waiters it satisfies. */
  set(value: number): void {
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
