/** Damaged files: a torn or corrupt record at the tail is found by its length or CRC, reported, and all before it kept. */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { join } from 'node:path';
import { QueueStore, segmentPath } from '../../src/store/queue-store.js';
import { recoverQueue } from '../../src/store/recover.js';
import { RECORD_HEADER } from '../../src/store/log-record.js';
import { numberedBlock, numberOf, tempDir } from './helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Even messages have a deadline (a TIMED record), odd ones none (a MESSAGE record). */
const deadline = (id: number) => (id % 2 === 0 ? 1.8e12 + id : 0);

/** A queue directory with messages 1..count of `size` bytes in segments of `segmentSize`; 2 and 4 acked. */
function writeQueue(count: number, segmentSize = 8 * 1024 * 1024, size = 100): string {
  const root = tempDir();
  dirs.push(root);
  const dir = join(root, 'q');
  const store = new QueueStore(dir, [], segmentSize);
  for (let id = 1; id <= count; id++) {
    const block = numberedBlock(id, size);
    store.append(id, block, 0, block.length, deadline(id));
  }
  store.ack(2);
  store.ack(4);
  store.close();
  return dir;
}

const lastSegment = (dir: string) => join(dir, fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).sort().at(-1)!);
const survivors = (count: number, lost: number[]) => Array.from({ length: count }, (_, i) => i + 1).filter((n) => n !== 2 && n !== 4 && !lost.includes(n));

describe('recoverQueue on damaged files', () => {
  it('cuts a torn record off the last segment, keeps every message before it, and says so', () => {
    // the last: into message 20's deadline, 3 of its 8 bytes left
    const record = RECORD_HEADER + 16 + numberedBlock(20, 100).length;
    for (const cut of [1, 5, RECORD_HEADER, 40, record - RECORD_HEADER - 8 - 3]) {
      const dir = writeQueue(20);
      const path = lastSegment(dir);
      const size = fs.statSync(path).size;
      fs.truncateSync(path, size - cut); // message 20 loses its last `cut` bytes
      const r = recoverQueue(dir);
      expect(r.messages.map((m) => numberOf(m.block))).toEqual(survivors(20, [20]));
      expect(r.messages.map((m) => m.expiresAt)).toEqual(survivors(20, [20]).map(deadline));
      expect(r.warnings).toHaveLength(1);
      expect(r.warnings[0]).toMatch(/torn record.*cut off/);
      // The file was cut back: a second recovery finds it clean, and appending goes on.
      expect(recoverQueue(dir).warnings).toEqual([]);
      const store = new QueueStore(dir, r.segments);
      const block = numberedBlock(r.nextId);
      store.append(r.nextId, block, 0, block.length);
      store.close();
      expect(recoverQueue(dir).messages.map((m) => numberOf(m.block))).toEqual([...survivors(20, [20]), 20]);
    }
  });

  it('finds a flipped bit in the last record by its CRC', () => {
    const dir = writeQueue(20);
    const path = lastSegment(dir);
    const bytes = fs.readFileSync(path);
    bytes[bytes.length - 3] ^= 0x10; // in message 20's body
    fs.writeFileSync(path, bytes);
    const r = recoverQueue(dir);
    expect(r.messages.map((m) => numberOf(m.block))).toEqual(survivors(20, [20]));
    expect(r.warnings).toEqual([expect.stringMatching(/failing its CRC at byte \d+; cut off \d+ bytes, 19 messages before it kept/)]);
  });

  it('keeps the earlier segments whole when the last one is torn', () => {
    const dir = writeQueue(300, 8 * 1024, 100); // ~70 messages a segment
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).length).toBeGreaterThan(3);
    const path = lastSegment(dir);
    fs.truncateSync(path, fs.statSync(path).size - 50);
    const r = recoverQueue(dir);
    expect(r.messages.map((m) => numberOf(m.block))).toEqual(survivors(300, [300]));
    expect(r.warnings).toHaveLength(1);
  });

  it('reports a bad record inside an older segment and skips only the rest of that segment', () => {
    const dir = writeQueue(300, 8 * 1024, 100);
    const first = segmentPath(dir, 1, 'seg');
    const bytes = fs.readFileSync(first);
    bytes[bytes.length - 3] ^= 0xff; // the first segment's last message
    fs.writeFileSync(first, bytes);
    const r = recoverQueue(dir);
    const lost = survivors(300, []).filter((n) => !r.messages.some((m) => numberOf(m.block) === n));
    expect(lost).toHaveLength(1);
    expect(r.warnings).toEqual([expect.stringMatching(/0000000001\.seg: a record failing its CRC .* skipped the last/)]);
    expect(fs.statSync(first).size).toBe(bytes.length); // an older segment is left as it was
  });

  it('cuts a torn ack record: those messages come back, as a lost ack allows', () => {
    const dir = writeQueue(20);
    const acks = segmentPath(dir, 1, 'ack');
    fs.truncateSync(acks, fs.statSync(acks).size - 1);
    const r = recoverQueue(dir);
    expect(r.messages.map((m) => numberOf(m.block))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(r.warnings).toEqual([expect.stringMatching(/\.ack: a torn record/)]);
  });

  it('recovers an empty or missing directory as an empty queue', () => {
    const root = tempDir();
    dirs.push(root);
    expect(recoverQueue(join(root, 'none'))).toEqual({ messages: [], pagedOut: null, timed: false, segments: [], nextId: 1, warnings: [] });
    fs.writeFileSync(join(root, '0000000001.seg'), Buffer.alloc(0)); // a segment created just before a crash
    expect(recoverQueue(root).messages).toEqual([]);
    expect(fs.readdirSync(root)).toEqual([]);
  });
});
