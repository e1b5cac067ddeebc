/** A growable circular FIFO: O(1) push/shift (and unshift) without Array#shift's copying. */
export class Deque<T> {
  private items: (T | undefined)[] = new Array(16);
  private head = 0;
  length = 0;

  push(item: T): void {
    if (this.length === this.items.length) this.grow();
    this.items[(this.head + this.length) & (this.items.length - 1)] = item;
    this.length++;
  }

  unshift(item: T): void {
    if (this.length === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.length++;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.length--;
    return item;
  }

  /** The item at position i from the front (0 = next to shift); undefined outside 0..length-1. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.length) return undefined;
    return this.items[(this.head + i) & (this.items.length - 1)];
  }

  /** Calls `fn` on each item, front first. */
  forEach(fn: (item: T) => void): void {
    const mask = this.items.length - 1;
    for (let i = 0; i < this.length; i++) fn(this.items[(this.head + i) & mask]!);
  }

  clear(): void {
    this.items = new Array(16);
    this.head = 0;
    this.length = 0;
  }

  private grow(): void {
    const bigger: (T | undefined)[] = new Array(this.items.length * 2);
    for (let i = 0; i < this.length; i++) bigger[i] = this.items[(this.head + i) & (this.items.length - 1)];
    this.items = bigger;
    this.head = 0;
  }
}
