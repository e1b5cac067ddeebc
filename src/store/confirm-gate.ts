/**
 * Publisher confirms that wait for the disk. A confirm-mode publish that wrote a
 * persistent message to a durable queue is safe once the StoreWriter's
 * `durable` reaches the sequence number of its append; the channel's later
 * publishes, even transient ones, wait behind it, because a CONFIRM record
 * counts a channel's publishes in order (ConfirmBatch).
 *
 * The shard calls `stored(channelRef, seq, durable, batch)` where it calls
 * `confirms.stored(channelRef)` today (seq 0 for a publish that needs no disk),
 * and `release(writer.durable, batch)` before writing each batch's CONFIRM
 * record; `refuseAll` once the writer failed, and from then on refuse new
 * persistent publishes directly (nothing more becomes durable).
 */
import type { ConfirmBatch } from '../shard/confirm-batch.js';

/** In a channel's waiting list: a refused publish (a length limit), answered in its turn. */
const REFUSED = -1;

export class ConfirmGate {
  /** per channel with confirms waiting: the sequence numbers they wait for, oldest first */
  private readonly waiting = new Map<number, number[]>();

  /** How many confirms wait for the disk. */
  get size(): number {
    let n = 0;
    for (const seqs of this.waiting.values()) n += seqs.length;
    return n;
  }

  /** A confirm-mode publish is safe once commands up to `seq` are durable. */
  stored(channelRef: number, seq: number, durable: number, batch: ConfirmBatch): void {
    const seqs = this.waiting.get(channelRef);
    if (seqs !== undefined) seqs.push(seq);
    else if (seq <= durable) batch.stored(channelRef);
    else this.waiting.set(channelRef, [seq]);
  }

  /** A confirm-mode publish was refused (basic.nack): at once, or in its turn behind waiting ones. */
  refused(channelRef: number, batch: ConfirmBatch): void {
    const seqs = this.waiting.get(channelRef);
    if (seqs !== undefined) seqs.push(REFUSED);
    else batch.refused(channelRef);
  }

  /** Confirms, in each channel's order, every publish that `durable` made safe. */
  release(durable: number, batch: ConfirmBatch): void {
    for (const [channelRef, seqs] of this.waiting) {
      let n = 0;
      while (n < seqs.length && seqs[n] <= durable) {
        if (seqs[n] === REFUSED) batch.refused(channelRef);
        else batch.stored(channelRef);
        n++;
      }
      if (n === seqs.length) this.waiting.delete(channelRef);
      else if (n > 0) seqs.splice(0, n);
    }
  }

  /** The disk failed: every waiting publish is refused (basic.nack). */
  refuseAll(batch: ConfirmBatch): void {
    for (const [channelRef, seqs] of this.waiting) for (let i = 0; i < seqs.length; i++) batch.refused(channelRef); // REFUSED ones too
    this.waiting.clear();
  }
}
