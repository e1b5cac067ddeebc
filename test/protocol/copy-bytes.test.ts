/**
 * copyBytes moves exactly src[start..end) to dst[at..), leaving every other byte
 * alone, for plain and shared buffers at any alignment, from a few bytes to more
 * than its scratch buffer holds (a misaligned copy to or from shared memory goes
 * through it in pieces), and with DataViews of both sides passed (a word-wise
 * copy below WORDS_BELOW, and the views asked where the bytes lie above it).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyBytes, copyWords, viewOfBytes } from '../../src/protocol/copy-bytes.js';

const SIZE = 160 * 1024;


function region(shared: boolean, offset: number): Buffer {
  const whole = Buffer.from(shared ? new SharedArrayBuffer(SIZE + 16) : new ArrayBuffer(SIZE + 16));
  return whole.subarray(offset); // a view that does not start at the buffer's start
}

describe('copyBytes', () => {
  it('copies the range and nothing else, for any kinds of buffer and alignments', () => {
    const length = fc.oneof(fc.nat({ max: 80 }), fc.integer({ min: 200, max: 5000 }), fc.integer({ min: 60 * 1024, max: 140 * 1024 }));
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.nat({ max: 15 }), fc.nat({ max: 15 }), length, fc.nat({ max: 9000 }), fc.nat({ max: 9000 }), fc.boolean(), (srcShared, dstShared, srcOffset, dstOffset, n, start, at, views) => {
        const src = region(srcShared, srcOffset);
        const dst = region(dstShared, dstOffset);
        for (let i = 0; i < src.length; i++) src[i] = (i * 131 + 7) & 0xff;
        dst.fill(0xee);
        n = Math.min(n, src.length - start, dst.length - at);
        const copied = views ? copyBytes(src, start, start + n, dst, at, viewOfBytes(src), viewOfBytes(dst)) : copyBytes(src, start, start + n, dst, at);
        expect(copied).toBe(n);
        expect(dst.subarray(at, at + n).equals(src.subarray(start, start + n))).toBe(true);
        expect(dst.subarray(0, at).every((b) => b === 0xee)).toBe(true);
        expect(dst.subarray(at + n).every((b) => b === 0xee)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('copyWords copies between views at offsets of their own, every length up to a few words', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.nat({ max: 200 }), fc.nat({ max: 100 }), fc.nat({ max: 100 }), (srcShared, dstShared, n, srcAt, dstAt) => {
        const src = region(srcShared, 3);
        const dst = region(dstShared, 5);
        for (let i = 0; i < 400; i++) src[i] = (i * 37 + 1) & 0xff;
        dst.fill(0xee, 0, 400);
        expect(copyWords(viewOfBytes(src), srcAt, viewOfBytes(dst), dstAt, n)).toBe(n);
        expect(dst.subarray(dstAt, dstAt + n).equals(src.subarray(srcAt, srcAt + n))).toBe(true);
        expect(dst.subarray(0, dstAt).every((b) => b === 0xee)).toBe(true);
        expect(dst.subarray(dstAt + n, 400).every((b) => b === 0xee)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
