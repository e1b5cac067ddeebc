/**
 * Publisher confirms on the shard side: the confirm-mode publishes a shard made
 * safe (or refused) during one batch, counted per channel and written as one
 * CONFIRM record at the batch's end. A channel's publishes reach a shard in
 * order through one ring, so a count per channel says which ones: the next n.
 * Counts mean order: a publish made safe later (after a disk write) must hold
 * back the channel's later ones on this shard until it is reported.
 */
import type { RingWriter } from './ring-writer.js';
import * as R from './records.js';
import { writeU32LE } from '../protocol/uint32.js';

export class ConfirmBatch {
  /** flat (channelRef, stored, refused) triples, in the order they were opened */
  private readonly entries: number[] = [];
  /** each channel's latest triple in `entries` this batch */
  private readonly latest = new Map<number, number>();
  /** the channel of the previous publish and its triple: the common case skips the map */
  private lastRef = -1;
  private lastAt = -1;

  /** The channel's next confirm-mode publish is safe. */
  stored(channelRef: number): void {
    let at = this.entryOf(channelRef);
    // After a refusal a new triple keeps the order: stored, refused, then these.
    if (this.entries[at + 2] !== 0) at = this.open(channelRef);
    this.entries[at + 1]++;
  }

  /** The channel's next confirm-mode publish could not be stored (nacked). */
  refused(channelRef: number): void {
    this.entries[this.entryOf(channelRef) + 2]++;
  }

  /** Writes the batch's CONFIRM record, if any publish asked for one, and starts a new batch. */
  write(out: RingWriter): void {
    const entries = this.entries;
    if (entries.length === 0) return;
    const count = entries.length / 3;
    out.begin(R.CONFIRM_HEADER + count * R.CONFIRM_ENTRY);
    const { buf } = out;
    let p = out.offset;
    buf[p] = R.S2A_CONFIRM;
    writeU32LE(buf, p + 1, count);
    p += R.CONFIRM_HEADER;
    for (let i = 0; i < entries.length; i += 3, p += R.CONFIRM_ENTRY) {
      writeU32LE(buf, p, entries[i]);
      writeU32LE(buf, p + 4, entries[i + 1]);
      writeU32LE(buf, p + 8, entries[i + 2]);
    }
    out.end();
    entries.length = 0;
    this.latest.clear();
    this.lastRef = -1;
  }

  private entryOf(channelRef: number): number {
    if (channelRef === this.lastRef) return this.lastAt;
    const at = this.latest.get(channelRef);
    if (at === undefined) return this.open(channelRef);
    this.lastRef = channelRef;
    this.lastAt = at;
    return at;
  }

  private open(channelRef: number): number {
    const at = this.entries.length;
    this.entries.push(channelRef, 0, 0);
    this.latest.set(channelRef, at);
    this.lastRef = channelRef;
    this.lastAt = at;
    return at;
  }
}
