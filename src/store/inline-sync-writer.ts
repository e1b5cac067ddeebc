/** A StoreWriter that does its I/O in flush(), in the caller's thread: for tests and --workers 0. */
import { StoreSet } from './store-set.js';
import { SEGMENT_SIZE, type SegmentState } from './queue-store.js';
import type { StoreWriter } from './store-writer.js';

export class InlineSyncWriter implements StoreWriter {
  private readonly stores = new StoreSet();
  written = 0;
  durable = 0;
  failed = false;
  /** flush() does the I/O at once: nothing waits */
  readonly backlogged = false;

  get fsyncs(): number {
    return this.stores.fsyncs;
  }

  get diskBytes(): number {
    return this.stores.diskBytes;
  }

  open(handle: number, dir: string, segments: SegmentState[] = [], segmentSize = SEGMENT_SIZE): number {
    this.stores.open(handle, dir, segments, segmentSize);
    return ++this.written;
  }

  append(handle: number, id: number, buf: Buffer, start: number, end: number, expiresAt = 0): number {
    this.stores.append(handle, id, buf, start, end, expiresAt);
    return ++this.written;
  }

  ack(handle: number, id: number): number {
    this.stores.ack(handle, id);
    return ++this.written;
  }

  ackRange(handle: number, from: number, to: number): number {
    this.stores.ackRange(handle, from, to);
    return ++this.written;
  }

  delivered(handle: number, id: number): number {
    this.stores.delivered(handle, id);
    return ++this.written;
  }

  dropFrom(handle: number, segment: number): number {
    this.stores.dropFrom(handle, segment);
    return ++this.written;
  }

  close(handle: number): number {
    this.stores.close(handle);
    return ++this.written;
  }

  destroy(handle: number): number {
    this.stores.destroy(handle);
    return ++this.written;
  }

  requestStop(): number {
    this.stores.closeAll();
    return ++this.written;
  }

  flush(): void {
    if (this.failed || this.durable === this.written) return;
    try {
      this.stores.sync();
      this.durable = this.written;
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }
}
