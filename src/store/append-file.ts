/**
 * An append-only file with a write buffer: appends go to memory, write() hands
 * them to the OS in a few large writes, sync() makes them durable with one
 * fdatasync. The file is opened on its first write.
 */
import fs from 'node:fs';

export class AppendFile {
  /** bytes in the file, counting those still buffered */
  size: number;
  /** where the bytes asked for by the last reserve() start in the returned buffer */
  at = 0;
  private fd = -1;
  private chunk: Buffer | null = null;
  private used = 0;
  private readonly full: Buffer[] = [];
  /** written to the OS since the last fdatasync */
  private unsynced = false;

  constructor(
    readonly path: string,
    size: number,
    private readonly chunkSize: number,
  ) {
    this.size = size;
  }

  /** Room for `n` bytes: write them at the returned buffer's [at, at + n). */
  reserve(n: number): Buffer {
    if (this.chunk === null || this.used + n > this.chunk.length) {
      if (this.chunk !== null && this.used > 0) this.full.push(this.chunk.subarray(0, this.used));
      this.chunk = Buffer.allocUnsafe(Math.max(this.chunkSize, n));
      this.used = 0;
    }
    this.at = this.used;
    this.used += n;
    this.size += n;
    return this.chunk;
  }

  /** Creates the file now (empty), so that its directory entry can be synced. */
  create(): void {
    if (this.fd < 0) this.fd = fs.openSync(this.path, 'a');
  }

  /** Hands the buffered bytes to the OS. */
  write(): void {
    if (this.full.length === 0 && this.used === 0) return;
    this.create();
    for (const b of this.full) writeAll(this.fd, b);
    this.full.length = 0;
    if (this.used > 0) writeAll(this.fd, this.chunk!.subarray(0, this.used));
    this.used = 0; // the chunk is reused: its bytes are in the OS now
    if (this.chunk !== null && this.chunk.length > this.chunkSize) this.chunk = null; // one large message's: not kept
    this.unsynced = true;
  }

  /** Writes and fdatasyncs what is pending; returns true if it called fdatasync. */
  sync(): boolean {
    this.write();
    if (!this.unsynced) return false;
    fs.fdatasyncSync(this.fd);
    this.unsynced = false;
    return true;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.chunk = null;
    this.full.length = 0;
    this.used = 0;
  }

  /** Forgets the buffered bytes, closes and deletes the file. */
  remove(): void {
    this.close();
    fs.rmSync(this.path, { force: true });
  }
}

function writeAll(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length; ) off += fs.writeSync(fd, b, off);
}
