/**
 * Float64 little-endian loads and stores as plain byte accesses, for the
 * message ids in ring records. Buffer's readDoubleLE/writeDoubleLE check their
 * offset on every call (Node's validateNumber: about 2% of each thread's samples
 * at saturation, with the checked 32-bit reads); these are for callers that
 * reserved the room or read a record they know the size of.
 */
const scratch = new Float64Array(1);
const bytes = new Uint8Array(scratch.buffer);
/** 0 on a little-endian host, 7 on a big-endian one: byte i of the LE encoding is bytes[i ^ FLIP]. */
const FLIP = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f ? 0 : 7;

export function readF64LE(buf: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) bytes[i ^ FLIP] = buf[at + i];
  return scratch[0];
}

export function writeF64LE(buf: Uint8Array, at: number, v: number): void {
  scratch[0] = v;
  for (let i = 0; i < 8; i++) buf[at + i] = bytes[i ^ FLIP];
}
