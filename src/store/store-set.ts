/**
 * The QueueStores of one shard, by handle, as the sync worker (or the inline
 * writer) keeps them: applies commands, then syncs the stores they touched.
 */
import { QueueStore, type SegmentState } from './queue-store.js';
import * as C from './sync-commands.js';
import { unpackControl } from '../shard/records.js';
import { readU32LE } from '../protocol/uint32.js';
import { readF64LE } from '../protocol/float64.js';

export class StoreSet {
  private readonly stores = new Map<number, QueueStore>();
  private readonly touched = new Set<QueueStore>();
  /** each open store's disk bytes and fsyncs when last counted */
  private readonly counted = new Map<QueueStore, { bytes: number; fsyncs: number }>();
  /** the open stores' files, as of the last sync */
  diskBytes = 0;
  /** fdatasync calls so far, segment rollovers included */
  fsyncs = 0;

  open(handle: number, dir: string, segments: SegmentState[], segmentSize: number): void {
    if (this.stores.has(handle)) this.close(handle);
    const store = new QueueStore(dir, segments, segmentSize);
    this.stores.set(handle, store);
    this.recount(store);
  }

  append(handle: number, id: number, buf: Buffer, start: number, end: number, expiresAt = 0): void {
    const store = this.store(handle);
    store.append(id, buf, start, end, expiresAt);
    this.touched.add(store);
  }

  ack(handle: number, id: number): void {
    const store = this.store(handle);
    store.ack(id);
    this.touched.add(store);
  }

  ackRange(handle: number, from: number, to: number): void {
    const store = this.store(handle);
    store.ackRange(from, to);
    this.touched.add(store);
    this.recount(store);
  }

  delivered(handle: number, id: number): void {
    const store = this.store(handle);
    store.delivered(id);
    this.touched.add(store);
  }

  dropFrom(handle: number, segment: number): void {
    const store = this.store(handle);
    store.dropFrom(segment);
    this.recount(store);
  }

  close(handle: number): void {
    this.end(handle, 'close');
  }

  destroy(handle: number): void {
    this.end(handle, 'destroy');
  }

  /** The queue's store is closed (its files kept) or destroyed (its files removed), and forgotten. */
  private end(handle: number, how: 'close' | 'destroy'): void {
    const store = this.store(handle);
    store[how]();
    this.recount(store);
    this.forget(store);
    this.stores.delete(handle);
  }

  /** Makes everything applied so far durable: one fdatasync per file touched. Returns how many. */
  sync(): number {
    let n = 0;
    for (const store of this.touched) {
      n += store.sync();
      this.recount(store);
    }
    this.touched.clear();
    return n;
  }

  /** Brings diskBytes and fsyncs up to date with a store that changed. */
  private recount(store: QueueStore): void {
    let counted = this.counted.get(store);
    if (counted === undefined) this.counted.set(store, (counted = { bytes: 0, fsyncs: 0 }));
    const bytes = store.diskBytes;
    this.diskBytes += bytes - counted.bytes;
    this.fsyncs += store.fsyncs - counted.fsyncs;
    counted.bytes = bytes;
    counted.fsyncs = store.fsyncs;
  }

  /** A closed store's files no longer count (its fsyncs do). */
  private forget(store: QueueStore): void {
    this.touched.delete(store);
    this.diskBytes -= this.counted.get(store)!.bytes;
    this.counted.delete(store);
  }

  closeAll(): void {
    for (const handle of [...this.stores.keys()]) this.close(handle);
  }

  /** Applies the command at buf[at..end); returns true for STOP. */
  apply(buf: Buffer, at: number, end: number): boolean {
    const op = buf[at];
    if (op === C.OP_STOP) return true;
    const handle = readU32LE(buf, at + 1);
    switch (op) {
      case C.OP_APPEND: {
        const pad = buf[at + C.ID_HEADER];
        const tail = buf[at + C.ID_HEADER + 1];
        this.append(handle, readF64LE(buf, at + C.HANDLE_HEADER), buf, at + C.APPEND_HEADER + pad, end - tail, readF64LE(buf, at + C.ID_HEADER + 2));
        break;
      }
      case C.OP_ACK:
        this.ack(handle, readF64LE(buf, at + C.HANDLE_HEADER));
        break;
      case C.OP_ACK_RANGE:
        this.ackRange(handle, readF64LE(buf, at + C.HANDLE_HEADER), readF64LE(buf, at + C.ID_HEADER));
        break;
      case C.OP_DELIVERED:
        this.delivered(handle, readF64LE(buf, at + C.HANDLE_HEADER));
        break;
      case C.OP_DROP_FROM:
        this.dropFrom(handle, readF64LE(buf, at + C.HANDLE_HEADER));
        break;
      case C.OP_OPEN: {
        const c = unpackControl(buf, at + C.HANDLE_HEADER, end) as C.OpenCommand;
        this.open(handle, c.dir, c.segments, c.segmentSize);
        break;
      }
      case C.OP_CLOSE:
        this.close(handle);
        break;
      case C.OP_DESTROY:
        this.destroy(handle);
        break;
      default:
        throw new Error(`sync worker: unknown command ${op}`);
    }
    return false;
  }

  private store(handle: number): QueueStore {
    const store = this.stores.get(handle);
    if (store === undefined) throw new Error(`store: no queue open as handle ${handle}`);
    return store;
  }
}
