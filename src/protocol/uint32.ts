/**
 * Unsigned 32-bit stores and loads (and 16-bit loads) as plain byte accesses.
 * Buffer's writeUInt32LE/BE check their arguments on every call, which was 4-6%
 * of the acceptor's samples on the publish and delivery paths, and its reads
 * validate the offset (about 3% of them in `single`); these are for callers
 * that checked the length (or reserved the room) and pass integers in range.
 */
export function writeU32LE(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v;
  buf[at + 1] = v >>> 8;
  buf[at + 2] = v >>> 16;
  buf[at + 3] = v >>> 24;
}

export function writeU32BE(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

/** An unsigned 16-bit big-endian read, unchecked (see above). */
export function readU16BE(buf: Uint8Array, at: number): number {
  return (buf[at] << 8) | buf[at + 1];
}

/** An unsigned 16-bit little-endian read, unchecked (see above). */
export function readU16LE(buf: Uint8Array, at: number): number {
  return buf[at] | (buf[at + 1] << 8);
}

/** An unsigned 32-bit big-endian read, unchecked (see above). */
export function readU32BE(buf: Uint8Array, at: number): number {
  return buf[at] * 0x100_0000 + ((buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]);
}

/** An unsigned 32-bit little-endian read, unchecked (see above). */
export function readU32LE(buf: Uint8Array, at: number): number {
  return (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16)) + buf[at + 3] * 0x100_0000;
}
