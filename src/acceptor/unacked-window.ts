/**
 * A channel's unacked deliveries, indexed by delivery tag: parallel typed
 * arrays over a power-of-two ring of tags, so a delivery costs a few stores
 * and an ack a few loads, with no object or Map entry per message. A channel
 * numbers its deliveries 1, 2, 3...; entries live between `low` and `high`
 * (no-ack deliveries and settled ones leave gaps, marked absent), and the ring
 * grows when that span would pass its size.
 */
/** Small to start with: most channels never consume, or hold a few unacked at a time. */
const INITIAL_CAPACITY = 16;

export class UnackedWindow {
  private capacity = INITIAL_CAPACITY;
  private mask = INITIAL_CAPACITY - 1;
  private present = new Uint8Array(INITIAL_CAPACITY);
  private linkIndex = new Uint16Array(INITIAL_CAPACITY);
  private queueIds = new Uint32Array(INITIAL_CAPACITY);
  private msgIds = new Float64Array(INITIAL_CAPACITY);
  private sentAts = new Float64Array(INITIAL_CAPACITY);
  /** the lowest and highest tags present (meaningless while empty) */
  private low = 0;
  private high = 0;
  size = 0;

  /** A delivery with this tag: a new one (above all others), or one a rolled-back transaction gives back. */
  add(tag: number, link: number, queueId: number, msgId: number, sentAt: number): void {
    if (this.size === 0) {
      this.low = tag;
      this.high = tag;
    } else {
      const low = Math.min(this.low, tag);
      const high = Math.max(this.high, tag);
      if (high - low >= this.capacity) this.grow(high - low + 1);
      this.low = low;
      this.high = high;
    }
    const i = tag & this.mask;
    this.present[i] = 1;
    this.linkIndex[i] = link;
    this.queueIds[i] = queueId;
    this.msgIds[i] = msgId;
    this.sentAts[i] = sentAt;
    this.size++;
  }

  has(tag: number): boolean {
    return this.size > 0 && tag >= this.low && tag <= this.high && this.present[tag & this.mask] === 1;
  }

  // Read a present tag's fields.
  link(tag: number): number {
    return this.linkIndex[tag & this.mask];
  }
  queueId(tag: number): number {
    return this.queueIds[tag & this.mask];
  }
  msgId(tag: number): number {
    return this.msgIds[tag & this.mask];
  }
  sentAt(tag: number): number {
    return this.sentAts[tag & this.mask];
  }

  /** Removes a present tag. */
  remove(tag: number): void {
    const present = this.present;
    const mask = this.mask;
    present[tag & mask] = 0;
    if (--this.size === 0) return;
    // Keep low and high on present tags (one exists), so iteration never scans settled ones twice.
    if (tag === this.low) while (present[this.low & mask] === 0) this.low++;
    if (tag === this.high) while (present[this.high & mask] === 0) this.high--;
  }

  /** The lowest tag present, or 0 when empty. */
  first(): number {
    return this.size === 0 ? 0 : this.low;
  }

  /** The lowest tag present above `tag`, or 0. */
  next(tag: number): number {
    if (this.size === 0) return 0;
    const present = this.present;
    const mask = this.mask;
    for (let t = Math.max(tag + 1, this.low); t <= this.high; t++) if (present[t & mask] === 1) return t;
    return 0;
  }

  clear(): void {
    if (this.size === 0) return;
    for (let t = this.low; t <= this.high; t++) this.present[t & this.mask] = 0;
    this.size = 0;
  }

  private grow(span: number): void {
    let capacity = this.capacity * 2;
    while (capacity < span) capacity *= 2;
    const mask = capacity - 1;
    const present = new Uint8Array(capacity);
    const linkIndex = new Uint16Array(capacity);
    const queueIds = new Uint32Array(capacity);
    const msgIds = new Float64Array(capacity);
    const sentAts = new Float64Array(capacity);
    for (let t = this.low; t <= this.high; t++) {
      const from = t & this.mask;
      if (this.present[from] === 0) continue;
      const to = t & mask;
      present[to] = 1;
      linkIndex[to] = this.linkIndex[from];
      queueIds[to] = this.queueIds[from];
      msgIds[to] = this.msgIds[from];
      sentAts[to] = this.sentAts[from];
    }
    this.capacity = capacity;
    this.mask = mask;
    this.present = present;
    this.linkIndex = linkIndex;
    this.queueIds = queueIds;
    this.msgIds = msgIds;
    this.sentAts = sentAts;
  }
}
