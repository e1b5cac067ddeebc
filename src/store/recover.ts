/**
 * Reads a queue's directory back after a restart or a crash: the messages not
 * acked, in the order they were appended, each with whether it had been
 * delivered (it then comes back redelivered).
 *
 * A crash in the middle of a write leaves a torn record at the end of a file;
 * a bad disk, a flipped bit. Either fails its length or CRC check. The records
 * before it are kept; the file is cut back to them (the last segment, and any
 * ack file: both are appended to again, or may be), and a warning says what was
 * dropped. A bad record inside an older segment, which is never appended to,
 * is reported and the rest of that segment skipped, but the file is left alone.
 */
import fs from 'node:fs';
import { ID_BYTES, KIND_ACK, KIND_DELIVERED, KIND_MESSAGE, readId, scanRecords } from './log-record.js';
import { segmentPath, type SegmentState } from './queue-store.js';

export interface RecoveredMessage {
  id: number;
  /** the block, as in shard/records.ts */
  block: Buffer;
  /** a DELIVERED mark was on disk: deliver it with redelivered=true */
  delivered: boolean;
}

export interface Recovery {
  messages: RecoveredMessage[];
  /** what the QueueStore that goes on writing this directory needs to know */
  segments: SegmentState[];
  /** the next message id to use: above every id on disk */
  nextId: number;
  /** one line per damaged file, for the log */
  warnings: string[];
}

export function recoverQueue(dir: string): Recovery {
  const result: Recovery = { messages: [], segments: [], nextId: 1, warnings: [] };
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
    const ids: number[] = [];
    const blocks: Buffer[] = [];
    const scan = scanRecords(buf, (kind, at, end) => {
      if (kind !== KIND_MESSAGE) return;
      ids.push(readId(buf, at));
      blocks.push(Buffer.from(buf.subarray(at + ID_BYTES, end))); // a copy: the file's buffer is not kept
    });
    let bytes = buf.length;
    if (scan.problem !== null) {
      const dropped = buf.length - scan.validEnd;
      if (last) {
        fs.truncateSync(path, scan.validEnd);
        bytes = scan.validEnd;
        result.warnings.push(`${path}: ${scan.problem} at byte ${scan.validEnd}; cut off ${dropped} bytes, ${ids.length} messages before it kept`);
      } else {
        result.warnings.push(`${path}: ${scan.problem} at byte ${scan.validEnd}; skipped the last ${dropped} bytes of this segment`);
      }
    }
    const { acked, delivered, ackBytes } = readMarks(dir, seq, result.warnings);
    if (ids.length > 0) maxId = Math.max(maxId, ids[ids.length - 1]);
    let ackedHere = 0;
    for (let k = 0; k < ids.length; k++) {
      if (acked.has(ids[k])) ackedHere++;
      else result.messages.push({ id: ids[k], block: blocks[k], delivered: delivered.has(ids[k]) });
    }
    if (ackedHere === ids.length) {
      fs.rmSync(path); // every message acked: a crash came before the segment's deletion
      fs.rmSync(segmentPath(dir, seq, 'ack'), { force: true });
      return;
    }
    result.segments.push({ seq, firstId: ids[0], lastId: ids[ids.length - 1], count: ids.length, acked: ackedHere, bytes, ackBytes });
  });
  result.nextId = maxId + 1;
  return result;
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
