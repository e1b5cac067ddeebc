/**
 * Values keyed by a queue's entry ids, which grow by one per message: a
 * power-of-two ring of slots over the ids from the lowest held to the highest,
 * so set, get and delete are an index and a store, with no Map entry (and no
 * rehash of a Map's table) per message.
 *
 * An id far from the rest (a delivery held while thousands after it were
 * acked, or an old one requeued and delivered again) goes to a Map beside the
 * ring once the ring is mostly gaps, so the memory follows the number held,
 * not the ids in between. Iteration order is not kept.
 */
const INITIAL_CAPACITY = 16;
/** The ring grows only while at least one slot in SPARSE holds a value; past that, outliers go to `far`. */
const SPARSE = 4;

export class IdWindow<T> {
  private slots: (T | undefined)[] = new Array<T | undefined>(INITIAL_CAPACITY).fill(undefined);
  private mask = INITIAL_CAPACITY - 1;
  /** the lowest and highest ids in the ring (meaningless while it is empty) */
  private low = 0;
  private high = 0;
  private ringSize = 0;
  private readonly far = new Map<number, T>();

  get size(): number {
    return this.ringSize + this.far.size;
  }

  /** Ring slots allocated: what the window costs in memory, whatever the ids. */
  get capacity(): number {
    return this.slots.length;
  }

  /** Adds `id`, which is not present. */
  set(id: number, value: T): void {
    if (this.ringSize === 0) {
      this.low = id;
      this.high = id;
    } else if (id > this.high) {
      if (id - this.low >= this.slots.length) this.makeRoomUpTo(id);
      if (this.ringSize === 0) this.low = id;
      this.high = id;
    } else if (id < this.low) {
      const span = this.high - id + 1;
      if (span > this.slots.length) {
        if (span > SPARSE * (this.ringSize + 1)) {
          this.far.set(id, value);
          return;
        }
        this.grow(span);
      }
      this.low = id;
    }
    this.slots[id & this.mask] = value;
    this.ringSize++;
  }

  get(id: number): T | undefined {
    if (this.ringSize > 0 && id >= this.low && id <= this.high) {
      const value = this.slots[id & this.mask];
      if (value !== undefined) return value;
    }
    return this.far.size === 0 ? undefined : this.far.get(id);
  }

  /** Removes `id`; returns its value, or undefined if it was not present. */
  delete(id: number): T | undefined {
    if (this.ringSize > 0 && id >= this.low && id <= this.high) {
      const slots = this.slots;
      const mask = this.mask;
      const value = slots[id & mask];
      if (value !== undefined) {
        slots[id & mask] = undefined;
        // Keep low and high on present ids (one exists while the ring is not empty).
        if (--this.ringSize > 0) {
          if (id === this.low) while (slots[this.low & mask] === undefined) this.low++;
          if (id === this.high) while (slots[this.high & mask] === undefined) this.high--;
        }
        return value;
      }
    }
    if (this.far.size === 0) return undefined;
    const value = this.far.get(id);
    if (value !== undefined) this.far.delete(id);
    return value;
  }

  *values(): IterableIterator<T> {
    if (this.ringSize > 0) {
      for (let id = this.low; id <= this.high; id++) {
        const value = this.slots[id & this.mask];
        if (value !== undefined) yield value;
      }
    }
    yield* this.far.values();
  }

  /** `id` is above the ring's span: move the lowest out while the ring is mostly gaps, else grow it. */
  private makeRoomUpTo(id: number): void {
    const slots = this.slots;
    const mask = this.mask;
    while (this.ringSize > 0 && id - this.low >= slots.length && id - this.low + 1 > SPARSE * (this.ringSize + 1)) {
      const i = this.low & mask;
      this.far.set(this.low, slots[i]!);
      slots[i] = undefined;
      if (--this.ringSize > 0) while (slots[this.low & mask] === undefined) this.low++;
    }
    if (this.ringSize > 0 && id - this.low >= slots.length) this.grow(id - this.low + 1);
  }

  private grow(span: number): void {
    let capacity = this.slots.length * 2;
    while (capacity < span) capacity *= 2;
    const slots = new Array<T | undefined>(capacity).fill(undefined);
    const mask = capacity - 1;
    for (let id = this.low; id <= this.high; id++) slots[id & mask] = this.slots[id & this.mask];
    this.slots = slots;
    this.mask = mask;
  }
}
