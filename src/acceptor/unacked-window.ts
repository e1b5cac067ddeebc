/**
 * A channel's unacked deliveries, indexed by delivery tag: parallel typed
 * arrays over a power-of-two ring of tags, so a delivery costs a few stores
 * and an ack a few loads, with no object or Map entry per message. A channel
 * numbers its deliveries 1, 2, 3...; entries live between `low` and `high`
 * (no-ack deliveries and settled ones leave gaps, marked absent), and the ring
 * grows when that span would pass its size.
 *
 * A delivery the client keeps while it acks thousands after it would stretch
 * that span without end (a ring slot per tag delivered since). So when the ring
 * is full and mostly gaps, its lowest entries move out to `far`, a sorted list
 * beside it: the memory follows the number unacked, not the tags in between.
 */
// What an unacked delivery is (the `kinds` slot of a present tag; 0: absent):
/** never counts under a global prefetch: a basic.get-ok's, or a quorum queue's delivery (RabbitMQ's limiter counts neither) */
export const UNCOUNTED = 1;
/** a consumer's, on a channel without a global prefetch (yet) */
export const DELIVERED = 2;
/** a consumer's, holding a place under its channel's global prefetch (ChannelLimits) until settled */
export const COUNTED = 3;

/** Small to start with: most channels never consume, or hold a few unacked at a time. */
const INITIAL_CAPACITY = 16;
/** The ring grows only while at least one slot in SPARSE holds a delivery; past that, the lowest move to `far`. */
const SPARSE = 4;

/** The bytes of a ring slot, over the five typed arrays. */
const SLOT_BYTES = 1 + 2 + 4 + 8 + 8;
/** What a far delivery costs in the V8 heap: its object, its Map entry, its place in farTags. Measured: 136 bytes each over 1M. */
const FAR_ENTRY_HEAP = 140;

interface FarEntry {
  kind: number;
  link: number;
  queueId: number;
  msgId: number;
  sentAt: number;
}

export class UnackedWindow {
  private capacity = INITIAL_CAPACITY;
  private mask = INITIAL_CAPACITY - 1;
  /** each slot's kind (UNCOUNTED, DELIVERED, COUNTED), 0 where no delivery is */
  private kinds = new Uint8Array(INITIAL_CAPACITY);
  private linkIndex = new Uint16Array(INITIAL_CAPACITY);
  private queueIds = new Uint32Array(INITIAL_CAPACITY);
  private msgIds = new Float64Array(INITIAL_CAPACITY);
  private sentAts = new Float64Array(INITIAL_CAPACITY);
  /** the lowest and highest tags present in the ring (meaningless while it is empty) */
  private low = 0;
  private high = 0;
  private ringSize = 0;
  /** Tags below the ring's `low`, ascending, and their fields. */
  private readonly farTags: number[] = [];
  private readonly far = new Map<number, FarEntry>();
  size = 0;

  /** Ring slots allocated: what the window costs in memory, whatever the tags. */
  get slots(): number {
    return this.capacity;
  }

  /** What it holds in memory: the ring's typed arrays and the far deliveries. */
  get bytes(): number {
    return this.capacity * SLOT_BYTES + this.heapBytes;
  }

  /** What its far deliveries cost in the V8 heap (the ring's arrays are outside it). */
  get heapBytes(): number {
    return this.far.size * FAR_ENTRY_HEAP;
  }

  /** A delivery with this tag: a new one (above all others), or one a rolled-back transaction gives back. */
  add(tag: number, kind: number, link: number, queueId: number, msgId: number, sentAt: number): void {
    if (this.belowRing(tag)) return this.addFar(tag, { kind, link, queueId, msgId, sentAt });
    if (this.ringSize === 0) {
      this.low = tag;
      this.high = tag;
    } else if (tag > this.high) {
      if (tag - this.low >= this.capacity) this.makeRoomUpTo(tag);
      if (this.ringSize === 0) this.low = tag;
      this.high = tag;
    } else if (tag < this.low) {
      const span = this.high - tag + 1;
      if (span > this.capacity) {
        if (span > SPARSE * (this.ringSize + 1)) return this.addFar(tag, { kind, link, queueId, msgId, sentAt });
        this.grow(span);
      }
      this.low = tag;
    }
    const i = tag & this.mask;
    this.kinds[i] = kind;
    this.linkIndex[i] = link;
    this.queueIds[i] = queueId;
    this.msgIds[i] = msgId;
    this.sentAts[i] = sentAt;
    this.ringSize++;
    this.size++;
  }

  has(tag: number): boolean {
    if (this.ringSize > 0 && tag >= this.low && tag <= this.high && this.kinds[tag & this.mask] !== 0) return true;
    return this.farTags.length > 0 && this.far.has(tag);
  }

  // Read a present tag's fields.
  kind(tag: number): number {
    const far = this.farEntry(tag);
    return far === undefined ? this.kinds[tag & this.mask] : far.kind;
  }
  link(tag: number): number {
    const far = this.farEntry(tag);
    return far === undefined ? this.linkIndex[tag & this.mask] : far.link;
  }
  queueId(tag: number): number {
    const far = this.farEntry(tag);
    return far === undefined ? this.queueIds[tag & this.mask] : far.queueId;
  }
  msgId(tag: number): number {
    const far = this.farEntry(tag);
    return far === undefined ? this.msgIds[tag & this.mask] : far.msgId;
  }
  sentAt(tag: number): number {
    const far = this.farEntry(tag);
    return far === undefined ? this.sentAts[tag & this.mask] : far.sentAt;
  }

  /** Removes a present tag. */
  remove(tag: number): void {
    this.size--;
    if (this.belowRing(tag)) {
      const farTags = this.farTags;
      farTags.splice(lowerBound(farTags, tag), 1);
      this.far.delete(tag);
      return;
    }
    const kinds = this.kinds;
    const mask = this.mask;
    kinds[tag & mask] = 0;
    if (--this.ringSize === 0) return;
    // Keep low and high on present tags (one exists), so iteration never scans settled ones twice.
    if (tag === this.low) while (kinds[this.low & mask] === 0) this.low++;
    if (tag === this.high) while (kinds[this.high & mask] === 0) this.high--;
  }

  /** The lowest tag present, or 0 when empty. */
  first(): number {
    if (this.farTags.length > 0) return this.farTags[0];
    return this.ringSize === 0 ? 0 : this.low;
  }

  /** The lowest tag present above `tag`, or 0. */
  next(tag: number): number {
    const farTags = this.farTags;
    if (farTags.length > 0 && tag < farTags[farTags.length - 1]) return farTags[lowerBound(farTags, tag + 1)];
    if (this.ringSize === 0) return 0;
    const kinds = this.kinds;
    const mask = this.mask;
    for (let t = Math.max(tag + 1, this.low); t <= this.high; t++) if (kinds[t & mask] !== 0) return t;
    return 0;
  }

  /** Its channel got a global prefetch: every consumer's delivery counts under it from now; returns how many. */
  countDelivered(): number {
    let n = 0;
    for (const entry of this.far.values()) {
      if (entry.kind !== DELIVERED) continue;
      entry.kind = COUNTED;
      n++;
    }
    if (this.ringSize > 0) {
      for (let t = this.low; t <= this.high; t++) {
        const i = t & this.mask;
        if (this.kinds[i] !== DELIVERED) continue;
        this.kinds[i] = COUNTED;
        n++;
      }
    }
    return n;
  }

  clear(): void {
    if (this.ringSize > 0) for (let t = this.low; t <= this.high; t++) this.kinds[t & this.mask] = 0;
    this.farTags.length = 0;
    this.far.clear();
    this.ringSize = 0;
    this.size = 0;
  }

  /** Every far tag lies below the ring's lowest, so `tag` belongs to far when it is below that too. */
  private belowRing(tag: number): boolean {
    const farTags = this.farTags;
    if (farTags.length === 0) return false;
    return this.ringSize > 0 ? tag < this.low : tag <= farTags[farTags.length - 1];
  }

  private farEntry(tag: number): FarEntry | undefined {
    return this.farTags.length === 0 || (this.ringSize > 0 && tag >= this.low) ? undefined : this.far.get(tag);
  }

  private addFar(tag: number, entry: FarEntry): void {
    this.farTags.splice(lowerBound(this.farTags, tag), 0, tag);
    this.far.set(tag, entry);
    this.size++;
  }

  /** `tag` is above the ring's span: move the lowest entries out while the ring is mostly gaps, else grow it. */
  private makeRoomUpTo(tag: number): void {
    const kinds = this.kinds;
    const mask = this.mask;
    while (this.ringSize > 0 && tag - this.low >= this.capacity && tag - this.low + 1 > SPARSE * (this.ringSize + 1)) {
      const t = this.low;
      const i = t & mask;
      this.farTags.push(t);
      this.far.set(t, { kind: kinds[i], link: this.linkIndex[i], queueId: this.queueIds[i], msgId: this.msgIds[i], sentAt: this.sentAts[i] });
      kinds[i] = 0;
      if (--this.ringSize > 0) while (kinds[this.low & mask] === 0) this.low++;
    }
    if (this.ringSize > 0 && tag - this.low >= this.capacity) this.grow(tag - this.low + 1);
  }

  private grow(span: number): void {
    let capacity = this.capacity * 2;
    while (capacity < span) capacity *= 2;
    const mask = capacity - 1;
    const kinds = new Uint8Array(capacity);
    const linkIndex = new Uint16Array(capacity);
    const queueIds = new Uint32Array(capacity);
    const msgIds = new Float64Array(capacity);
    const sentAts = new Float64Array(capacity);
    for (let t = this.low; t <= this.high; t++) {
      const from = t & this.mask;
      if (this.kinds[from] === 0) continue;
      const to = t & mask;
      kinds[to] = this.kinds[from];
      linkIndex[to] = this.linkIndex[from];
      queueIds[to] = this.queueIds[from];
      msgIds[to] = this.msgIds[from];
      sentAts[to] = this.sentAts[from];
    }
    this.capacity = capacity;
    this.mask = mask;
    this.kinds = kinds;
    this.linkIndex = linkIndex;
    this.queueIds = queueIds;
    this.msgIds = msgIds;
    this.sentAts = sentAts;
  }
}

/** The index of the first element of the ascending `xs` that is >= `x`. */
function lowerBound(xs: number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
