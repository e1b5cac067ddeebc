/**
 * The record format of a queue's files on disk (segments and their ack files):
 *
 *   u32 length | u32 crc32 | u8 kind | payload
 *
 * `length` counts the payload bytes; the CRC covers the kind and the payload, so a
 * torn write (a record cut short by a crash) and a flipped bit are both found. All
 * integers little-endian; message ids are u64 (the shard's ids stay below 2^53).
 *
 *   MESSAGE    u64 msgId, block (as in shard/records.ts)     in NNNNNNNNNN.seg
 *   TIMED      u64 msgId, f64 expiresAt, block: a message     in NNNNNNNNNN.seg
 *              with a deadline (ms since the epoch), kept across a restart
 *   ACK        u64 msgId x n: these messages were acked      in NNNNNNNNNN.ack
 *   DELIVERED  u64 msgId x n: these were handed to consumers in NNNNNNNNNN.ack
 */
import { crc32 } from './crc32.js';
import { readU32LE, writeU32LE } from '../protocol/uint32.js';

export const RECORD_HEADER = 9;
export const KIND_MESSAGE = 1;
export const KIND_ACK = 2;
export const KIND_DELIVERED = 3;
export const KIND_TIMED = 4;
export const ID_BYTES = 8;
/** A TIMED record's deadline, after its id. */
export const DEADLINE_BYTES = 8;

/** Whether a record of `kind` holds a message (MESSAGE or TIMED). */
export const isMessage = (kind: number): boolean => kind === KIND_MESSAGE || kind === KIND_TIMED;

/** Where the block starts in a message record's payload at buf[payloadAt..] of `kind`. */
export const blockOffset = (kind: number): number => (kind === KIND_TIMED ? ID_BYTES + DEADLINE_BYTES : ID_BYTES);

/** A message record's deadline (ms since the epoch), 0 for a MESSAGE: it has none. */
export const recordDeadline = (buf: Buffer, kind: number, payloadAt: number): number =>
  kind === KIND_TIMED ? buf.readDoubleLE(payloadAt + ID_BYTES) : 0;

export function writeId(buf: Buffer, at: number, id: number): void {
  writeU32LE(buf, at, id % 0x1_0000_0000);
  writeU32LE(buf, at + 4, Math.floor(id / 0x1_0000_0000));
}

export function readId(buf: Buffer, at: number): number {
  return readU32LE(buf, at) + readU32LE(buf, at + 4) * 0x1_0000_0000;
}

/** Fills in the header of a record whose kind byte and payload are already at buf[at + 8..at + 9 + payloadLen). */
export function sealRecord(buf: Buffer, at: number, payloadLen: number): void {
  writeU32LE(buf, at, payloadLen);
  writeU32LE(buf, at + 4, crc32(buf, at + 8, at + RECORD_HEADER + payloadLen));
}

/** What a scan of a file found: where its valid records end and, if they end early, why. */
export interface ScanResult {
  validEnd: number;
  /** null when every byte of the file belongs to a valid record */
  problem: string | null;
}

/**
 * Calls `onRecord(kind, payloadAt, payloadEnd)` for each valid record of `buf`, in
 * order, and stops at the first one that is cut short or fails its CRC: nothing
 * after a bad record can be trusted, since its length may be garbage.
 */
export function scanRecords(buf: Buffer, onRecord: (kind: number, at: number, end: number) => void): ScanResult {
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < RECORD_HEADER) return { validEnd: at, problem: `a torn record header (${buf.length - at} bytes)` };
    const length = buf.readUInt32LE(at);
    const end = at + RECORD_HEADER + length;
    if (end > buf.length) return { validEnd: at, problem: `a torn record (${buf.length - at} of ${RECORD_HEADER + length} bytes)` };
    if (crc32(buf, at + 8, end) !== buf.readUInt32LE(at + 4)) return { validEnd: at, problem: 'a record failing its CRC' };
    onRecord(buf[at + 8], at + RECORD_HEADER, end);
    at = end;
  }
  return { validEnd: at, problem: null };
}
