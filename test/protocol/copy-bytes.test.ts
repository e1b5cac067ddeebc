/**
 * copyBytes moves exactly src[start..end) to dst[at..), leaving every other byte
 * alone, for plain and shared buffers at any alignment, from a few bytes to more
 * than its scratch buffer holds (a misaligned copy to or from shared memory goes
 * through it in pieces).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyBytes } from '../../src/protocol/copy-bytes.js';

const SIZE = 160 * 1024;

function region(shared: boolean, offset: number): Buffer {
  const whole = Buffer.from(shared ? new SharedArrayBuffer(SIZE + 16) : new ArrayBuffer(SIZE + 16));
  return whole.subarray(offset); // a view that does not start at the buffer's start
}

describe('copyBytes', () => {
  it('copies the range and nothing else, for any kinds of buffer and alignments', () => {
    const length = fc.oneof(fc.nat({ max: 80 }), fc.integer({ min: 200, max: 5000 }), fc.integer({ min: 60 * 1024, max: 140 * 1024 }));
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.nat({ max: 15 }), fc.nat({ max: 15 }), length, fc.nat({ max: 9000 }), fc.nat({ max: 9000 }), (srcShared, dstShared, srcView, dstView, n, start, at) => {
        const src = region(srcShared, srcView);
        const dst = region(dstShared, dstView);
        for (let i = 0; i < src.length; i++) src[i] = (i * 131 + 7) & 0xff;
        dst.fill(0xee);
        n = Math.min(n, src.length - start, dst.length - at);
        expect(copyBytes(src, start, start + n, dst, at)).toBe(n);
        expect(dst.subarray(at, at + n).equals(src.subarray(start, start + n))).toBe(true);
        expect(dst.subarray(0, at).every((b) => b === 0xee)).toBe(true);
        expect(dst.subarray(at + n).every((b) => b === 0xee)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
