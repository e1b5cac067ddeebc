/**
 * Copies src[start..end) into dst at `at`; returns the number of bytes copied.
 *
 * Buffer.copy pays a fixed ~55 ns (argument checks, a native call) whatever the
 * size, while a plain loop costs about 0.7 ns a byte: below 64 bytes the loop is
 * quicker (node 20: 16 bytes 16 ns against 58 ns). Routing keys, properties and
 * the small bodies of a load test are that size, and each message is copied
 * several times, so the hot path copies through here.
 *
 * A copy into or out of a ring (a SharedArrayBuffer) goes through V8's relaxed
 * memmove, which moves 8 bytes at a time only where the two addresses agree
 * mod 8 and one byte at a time otherwise: 1,100 bytes took 420-480 ns against
 * 100-125 ns (node 20, `.scratch/sabcopy.mjs`). Ring records are packed, so 7 in
 * 8 copies of a body disagree unless their writer placed them (alignPad, below).
 * From 256 bytes a copy that disagrees goes through a scratch
 * buffer placed to agree with the shared side: a word copy there and a plain
 * memmove on the other side (1,100 bytes 180 ns, 16 KiB 0.86 against 4.9 µs).
 *
 * A caller that keeps DataViews over src and dst (at the same offsets) passes
 * them: a small copy goes four bytes at a time (copyWords), and a large one
 * asks the views, not the arrays, where its bytes lie.
 */
export function copyBytes(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number, srcView: DataView | null = null, dstView: DataView | null = null): number {
  const n = end - start;
  const viewed = srcView !== null && dstView !== null;
  if (viewed && n < WORDS_BELOW) return copyWords(srcView, start, dstView, at, n);
  if (n < LOOP_BELOW) {
    for (let i = start; i < end; i++) dst[at++] = src[i];
    return n;
  }
  if (n >= REALIGN_FROM) {
    // Held views answer where the bytes lie for a few ns; a Uint8Array's accessors cost 12-25 ns each.
    const srcAddress = (viewed ? srcView.byteOffset : src.byteOffset) + start;
    const dstAddress = (viewed ? dstView.byteOffset : dst.byteOffset) + at;
    if (((srcAddress - dstAddress) & 7) !== 0) {
      const srcShared = (viewed ? srcView.buffer : src.buffer) instanceof SharedArrayBuffer;
      // Between two plain buffers memmove is quick at any alignment; between two shared ones no scratch agrees with both.
      if (srcShared !== (viewed ? dstView.buffer : dst.buffer) instanceof SharedArrayBuffer) {
        return copyThroughScratch(src, start, end, dst, at, srcShared ? srcAddress : dstAddress);
      }
    }
  }
  return (src as Buffer).copy(dst, at, start, end);
}

/**
 * Copies n bytes from src[srcAt..] to dst[dstAt..], four bytes at a time.
 *
 * For callers that hold DataViews over both sides (a ring's, a slab's, an
 * output buffer's): 16 bytes take 15 ns against the loop's 36, 48 bytes 27
 * against 94, 100 bytes 48-57 against Buffer.copy's 55 or more (node 20, this
 * 2-core VM; unrolling to 8 bytes a turn changed nothing). Finding a view for
 * a Uint8Array costs more than that (its `buffer` and `byteOffset` are calls
 * into V8, 13-40 ns each), so only a caller that keeps one beside its bytes
 * gains; WORDS_BELOW says up to where.
 */
export function copyWords(src: DataView, srcAt: number, dst: DataView, dstAt: number, n: number): number {
  const words = srcAt + (n & ~3);
  while (srcAt < words) {
    dst.setInt32(dstAt, src.getInt32(srcAt, true), true);
    srcAt += 4;
    dstAt += 4;
  }
  for (let left = n & 3; left > 0; left--) dst.setUint8(dstAt++, src.getUint8(srcAt++));
  return n;
}

/** A DataView of b's bytes at b's offsets (made once, kept beside b: see copyWords). */
export function viewOfBytes(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.length);
}

/** An owner of buffers that keeps views of them (a connection of its read buffers, a shard link of its ring). */
export interface ViewHolder {
  /** A view of `buf` at the same offsets, where buf is one of those buffers; else null. */
  viewOf(buf: Uint8Array): DataView | null;
}

/** Sizes below which copyWords is quicker than copyBytes (measured, see copyWords). */
export const WORDS_BELOW = 128;

/**
 * A writer that places a copy into or out of a ring does better than the two
 * steps: it leaves `alignPad` bytes unused before it, so that both sides agree
 * mod 8, and the copy is one word-wise memmove (1 KiB 100 against 153 ns).
 * Records that do so are ALIGN_SLACK bytes longer, from REALIGN_FROM bytes.
 */
export const ALIGN_SLACK = 7;

/** ALIGN_SLACK when a copy of `n` bytes is worth placing, else 0. */
export const alignSlack = (n: number): number => (n >= REALIGN_FROM ? ALIGN_SLACK : 0);

/** Bytes to skip before dst[at] so that a copy of src[start..] there agrees mod 8 (0 when `slack` is). */
export function alignPad(src: Uint8Array, start: number, dst: Uint8Array, at: number, slack: number): number {
  return slack === 0 ? 0 : (src.byteOffset + start - dst.byteOffset - at) & 7;
}

/** Sizes from which Buffer.copy is the quicker (measured, see above). */
const LOOP_BELOW = 64;
/** Sizes from which a misaligned copy to or from shared memory is quicker in two steps. */
const REALIGN_FROM = 256;
const SCRATCH_BYTES = 64 * 1024;
/** One per thread (each has its own module instance); copies are synchronous, so one is enough. */
let scratch: Buffer | null = null;

/** The copy in two steps through a scratch buffer placed to agree mod 8 with the shared side, whose first byte lies at `sharedAddress`. */
function copyThroughScratch(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number, sharedAddress: number): number {
  scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  const n = end - start;
  // Pieces are whole multiples of 8, so the shared side's place mod 8 holds for each.
  const o = sharedAddress & 7;
  for (let done = 0; done < n; ) {
    const size = Math.min(n - done, SCRATCH_BYTES - 8);
    (src as Buffer).copy(scratch, o, start + done, start + done + size);
    scratch.copy(dst, at + done, o, o + size);
    done += size;
  }
  return n;
}
