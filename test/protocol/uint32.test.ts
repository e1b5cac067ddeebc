/**
 * The unchecked integer accesses agree with Buffer's checked ones at every
 * offset and value, the top bit included (a signed shift would make it negative).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readU16BE, readU16LE, readU32BE, readU32LE, writeU32BE, writeU32LE } from '../../src/protocol/uint32.js';

const bytesAndOffset = (width: number) =>
  fc.uint8Array({ minLength: width, maxLength: 64 }).chain((bytes) => fc.tuple(fc.constant(Buffer.from(bytes)), fc.nat(bytes.length - width)));

describe('uint32', () => {
  it('reads as Buffer reads', () => {
    fc.assert(
      fc.property(bytesAndOffset(4), ([buf, at]) => {
        expect(readU32BE(buf, at)).toBe(buf.readUInt32BE(at));
        expect(readU32LE(buf, at)).toBe(buf.readUInt32LE(at));
        expect(readU16BE(buf, at)).toBe(buf.readUInt16BE(at));
        expect(readU16LE(buf, at)).toBe(buf.readUInt16LE(at));
      }),
      { numRuns: 2000 },
    );
    const top = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    expect(readU32BE(top, 0)).toBe(0xffff_ffff);
    expect(readU32LE(top, 0)).toBe(0xffff_ffff);
    expect(readU16BE(top, 2)).toBe(0xffff);
    expect(readU16LE(top, 2)).toBe(0xffff);
  });

  it('writes as Buffer writes', () => {
    fc.assert(
      fc.property(bytesAndOffset(4), fc.integer({ min: 0, max: 0xffff_ffff }), ([buf, at], v) => {
        const mine = Buffer.from(buf);
        const theirs = Buffer.from(buf);
        writeU32BE(mine, at, v);
        theirs.writeUInt32BE(v, at);
        expect(mine).toEqual(theirs);
        writeU32LE(mine, at, v);
        theirs.writeUInt32LE(v, at);
        expect(mine).toEqual(theirs);
      }),
      { numRuns: 2000 },
    );
  });
});
