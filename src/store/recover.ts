/**
 * Reads a queue's directory back after a restart or a crash: the messages not
 * acked, in the order they were appended, each with whether it had been
 * delivered (it then comes back redelivered). Only the first of them, as many
 * as the window holds, are loaded; of the rest it says where they begin and
 * how many there are (a SegmentReader reads them back in turn).
 *
 * A crash in the middle of a write leaves a torn record at the end of a file;
 * a bad disk, a flipped bit. Either fails its length or CRC check. The records
 * before it are kept; the file is cut back to them (the last segment, and any
 * ack file: both are appended to again, or may be), and a warning says what was
 * dropped. A bad record inside an older segment, which is never appended to,
 * is reported and the rest of that segment skipped, but the file is left alone.
 */
import fs from 'node:fs';
import { ID_BYTES, KIND_ACK, KIND_DELIVERED, RECORD_HEADER, blockOffset, isMessage, readId, recordDeadline, scanRecords } from './log-record.js';
import { segmentPath, type SegmentState } from './queue-store.js';
import { bodySize } from '../shard/lifecycle.js';

export interface RecoveredMessage {
  id: number;
  /** the block, as in shard/records.ts */
  block: Buffer;
  /** a DELIVERED mark was on disk: deliver it with redelivered=true */
  delivered: boolean;
  /** when it expires (ms since the epoch), as it was given at its publish; 0: it had no deadline */
  expiresAt: number;
}

/** How much of a queue recovery loads into memory; the rest stays on disk, to be read back in turn. */
export interface RecoveryWindow {
  messages: number;
  /** of blocks */
  bytes: number;
}

/** Where the unacked messages recovery left on disk begin, and how many there are. */
export interface PagedOut {
  count: number;
  /** their body bytes */
  bodyBytes: number;
  /** the segment and byte offset of the first one's record */
  seq: number;
  offset: number;
}

export interface Recovery {
  /** the first unacked messages, as many as the window holds */
  messages: RecoveredMessage[];
  /** the unacked messages after those, left on disk; null when all fit */
  pagedOut: PagedOut | null;
  /** some message on disk has a deadline: the queue's heads must be watched */
  timed: boolean;
  /** what the QueueStore that goes on writing this directory needs to know */
  segments: SegmentState[];
  /** the next message id to use: above every id on disk */
  nextId: number;
  /** one line per damaged file, for the log */
  warnings: string[];
}

/** One unacked message as the scan meets it; `block` is a view into the segment's bytes, valid only during the call. */
export interface ScannedMessage {
  /** the segment and byte offset of its record */
  seq: number;
  recordAt: number;
  id: number;
  block: Buffer;
  delivered: boolean;
  /** its deadline (for a stream: its chunk's time); 0 for none */
  expiresAt: number;
}

/** What a scan of a queue's directory found besides its messages. */
export type Scan = Pick<Recovery, 'segments' | 'nextId' | 'warnings'>;

/**
 * Walks a queue's directory, one segment in memory at a time, handing `visit`
 * each unacked message in the order they were appended; tidies as it goes
 * (torn tails cut, all-acked segments and orphan ack files removed).
 */
export function scanQueue(dir: string, visit: (message: ScannedMessage) => void): Scan {
  const result: Scan = { segments: [], nextId: 1, warnings: [] };
  if (!fs.existsSync(dir)) return result;
  const seqs = (ext: string) =>
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(ext) && /^\d{10}\./.test(f))
      .map((f) => Number(f.slice(0, 10)))
      .sort((a, b) => a - b);
  const segs = seqs('.seg');
  for (const seq of seqs('.ack')) if (!segs.includes(seq)) fs.rmSync(segmentPath(dir, seq, 'ack')); // its segment was deleted
  let maxId = 0;
  segs.forEach((seq, i) => {
    const last = i === segs.length - 1;
    const path = segmentPath(dir, seq, 'seg');
    const buf = fs.readFileSync(path);
    const messages: ScannedMessage[] = [];
    const scan = scanRecords(buf, (kind, at, end) => {
      if (!isMessage(kind)) return;
      const block = buf.subarray(at + blockOffset(kind), end);
      messages.push({ seq, recordAt: at - RECORD_HEADER, id: readId(buf, at), block, delivered: false, expiresAt: recordDeadline(buf, kind, at) });
    });
    let bytes = buf.length;
    if (scan.problem !== null) {
      const dropped = buf.length - scan.validEnd;
      if (last) {
        fs.truncateSync(path, scan.validEnd);
        bytes = scan.validEnd;
        result.warnings.push(`${path}: ${scan.problem} at byte ${scan.validEnd}; cut off ${dropped} bytes, ${messages.length} messages before it kept`);
      } else {
        result.warnings.push(`${path}: ${scan.problem} at byte ${scan.validEnd}; skipped the last ${dropped} bytes of this segment`);
      }
    }
    const { acked, delivered, ackBytes } = readMarks(dir, seq, result.warnings);
    if (messages.length > 0) maxId = Math.max(maxId, messages[messages.length - 1].id);
    let ackedHere = 0;
    for (const m of messages) {
      if (acked.has(m.id)) ackedHere++;
      else {
        m.delivered = delivered.has(m.id);
        visit(m);
      }
    }
    if (ackedHere === messages.length) {
      fs.rmSync(path); // every message acked: a crash came before the segment's deletion
      fs.rmSync(segmentPath(dir, seq, 'ack'), { force: true });
      return;
    }
    const count = messages.length;
    result.segments.push({ seq, firstId: messages[0].id, lastId: messages[count - 1].id, count, acked: ackedHere, bytes, ackBytes });
  });
  result.nextId = maxId + 1;
  return result;
}

export function recoverQueue(dir: string, window: RecoveryWindow = { messages: Infinity, bytes: Infinity }): Recovery {
  const messages: RecoveredMessage[] = [];
  let pagedOut: PagedOut | null = null;
  let timed = false;
  let loadedBytes = 0;
  const scan = scanQueue(dir, (m) => {
    timed ||= m.expiresAt !== 0;
    if (pagedOut !== null || messages.length >= window.messages || loadedBytes >= window.bytes) {
      const body = bodySize(m.block);
      if (pagedOut !== null) {
        pagedOut.count++;
        pagedOut.bodyBytes += body;
      } else pagedOut = { count: 1, bodyBytes: body, seq: m.seq, offset: m.recordAt };
    } else {
      const block = Buffer.from(m.block); // a copy: the file's buffer is not kept
      loadedBytes += block.length;
      messages.push({ id: m.id, block, delivered: m.delivered, expiresAt: m.expiresAt });
    }
  });
  return { messages, pagedOut, timed, ...scan };
}

/** The ack file of segment `seq`: acked and delivered ids; a damaged tail is cut off (a lost ack means a redelivery). */
function readMarks(dir: string, seq: number, warnings: string[]): { acked: Set<number>; delivered: Set<number>; ackBytes: number } {
  const acked = new Set<number>();
  const delivered = new Set<number>();
  const path = segmentPath(dir, seq, 'ack');
  if (!fs.existsSync(path)) return { acked, delivered, ackBytes: 0 };
  const buf = fs.readFileSync(path);
  const scan = scanRecords(buf, (kind, at, end) => {
    const into = kind === KIND_ACK ? acked : kind === KIND_DELIVERED ? delivered : null;
    if (into !== null) for (let p = at; p + ID_BYTES <= end; p += ID_BYTES) into.add(readId(buf, p));
  });
  if (scan.problem !== null) {
    fs.truncateSync(path, scan.validEnd);
    warnings.push(`${path}: ${scan.problem} at byte ${scan.validEnd}; cut off ${buf.length - scan.validEnd} bytes of acks (those messages come back)`);
  }
  return { acked, delivered, ackBytes: scan.validEnd };
}
