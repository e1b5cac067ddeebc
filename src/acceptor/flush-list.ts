/**
 * The connections (or shard links) with output waiting for the end of this
 * batch. An array and a mark on each member: a Set's clear() allocates a new
 * table, and flushAll empties these lists thousands of times a second.
 */
export interface Flushable {
  /** in a FlushList now */
  queuedForFlush: boolean;
}

export class FlushList<T extends Flushable> {
  private readonly items: T[] = [];

  /** Nothing added since the last drain (a deleted member may still count). */
  get empty(): boolean {
    return this.items.length === 0;
  }

  add(item: T): void {
    if (item.queuedForFlush) return;
    item.queuedForFlush = true;
    this.items.push(item);
  }

  /** Takes `item` out: drain() passes it over. */
  delete(item: T): void {
    item.queuedForFlush = false;
  }

  /** Calls `each` on every member, those added meanwhile too, and empties the list. */
  drain(each: (item: T) => void): void {
    const items = this.items;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (!item.queuedForFlush) continue;
      item.queuedForFlush = false;
      each(item);
    }
    items.length = 0;
  }
}
