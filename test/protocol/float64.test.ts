/** The unchecked float64 accessors agree with Buffer's checked ones, byte for byte, at any offset. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readF64LE, writeF64LE } from '../../src/protocol/float64.js';

describe('readF64LE / writeF64LE', () => {
  it('write what writeDoubleLE writes and read what it wrote', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.maxSafeNat(), fc.constant(2 ** 53 - 1)), fc.nat({ max: 24 }), (v, at) => {
        const ours = Buffer.alloc(32, 0xaa);
        const node = Buffer.alloc(32, 0xaa);
        writeF64LE(ours, at, v);
        node.writeDoubleLE(v, at);
        expect(ours).toEqual(node);
        expect(Object.is(readF64LE(node, at), node.readDoubleLE(at))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
