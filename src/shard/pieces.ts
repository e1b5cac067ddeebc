/**
 * Records larger than a ring can hold travel as PIECE records, written one
 * after another by the ring's single producer (RingWriter), so the pieces of
 * one record never interleave with another record. The reader puts them back
 * together and handles the whole record as if it had been read in one.
 *
 *   PIECE: u8 type (255), u32 wholeSize, the next bytes of the whole record
 *
 * 255 is no record type in any ring (acceptor, shard, store commands), so each
 * reader tells a piece from the first byte, as any other record.
 */
import { copyBytes } from '../protocol/copy-bytes.js';

export const PIECE = 0xff;
export const PIECE_HEADER = 5;

/** The reader's half: collects pieces until their record is whole. */
export class PieceAssembler {
  private whole: Buffer | null = null;
  private filled = 0;

  /** The type of the record the piece at buf[at..] belongs to. */
  typeOf(buf: Buffer, at: number): number {
    return this.whole !== null ? this.whole[0] : buf[at + PIECE_HEADER];
  }

  /** Takes the piece at buf[at..end); returns the whole record once its last piece came, else null. */
  take(buf: Buffer, at: number, end: number): Buffer | null {
    if (this.whole === null) {
      this.whole = Buffer.allocUnsafe(buf.readUInt32LE(at + 1));
      this.filled = 0;
    }
    this.filled += copyBytes(buf, at + PIECE_HEADER, end, this.whole, this.filled);
    if (this.filled < this.whole.length) return null;
    const whole = this.whole;
    this.whole = null; // the handler decides how long it lives
    return whole;
  }

  /** Bytes held for a record not yet whole. */
  get heldBytes(): number {
    return this.whole === null ? 0 : this.whole.length;
  }
}
