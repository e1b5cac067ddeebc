/**
 * The acceptor's end of one shard: the ring pair, the worker (or the inline
 * runner for --workers 0), control requests awaiting replies, and the pump that
 * reads the shard's records and hands them to the broker.
 */
import { Worker } from 'node:worker_threads';
import { Ring } from '../shard/ring.js';
import { RingWriter } from '../shard/ring-writer.js';
import { LocalDoorbell, Pump, SharedDoorbell, type Doorbell } from '../shard/doorbell.js';
import { ShardRunner } from '../shard/shard-runner.js';
import type { ShardControl } from '../shard/shard.js';
import type { ShardWorkerData } from '../shard/shard-worker.js';
import * as R from '../shard/records.js';
import { PAUSE_RING, type Connection } from './connection.js';

export interface GetResult {
  redelivered: boolean;
  queueId: number;
  msgId: number;
  messageCount: number;
  /** the message block (copied out of the ring) */
  block: Buffer;
}

/** What the broker does with the records a shard sends. */
export interface ShardEvents {
  onDeliver(link: ShardLink, buf: Buffer, at: number): void;
  onImmediate(channelRef: number, publishId: number, delivered: boolean, buf: Buffer, blockAt: number): void;
  /** The shard's heap alarm went on or off. */
  onShardMemory(): void;
  /** Called after each batch of records, so output can be flushed once. */
  onBatchEnd(): void;
}

/** Records handled per turn before yielding to sockets. */
const BATCH = 4096;

export class ShardLink {
  readonly writer: RingWriter;
  private readonly input: Ring;
  private readonly shardBell: Doorbell;
  private readonly pump: Pump;
  private readonly worker: Worker | null = null;
  /** --workers 0: the shard's own pump, in this thread */
  private readonly shardPump: Pump | null = null;
  private readonly pending = new Map<number, (value: any) => void>();
  private nextRequest = 1;
  /** Publishers paused while this shard's input ring overflows. */
  private readonly ringStalled = new Set<Connection>();
  /** Congested queues of this shard, by id, and the publishers paused on each. */
  private readonly congestedQueues = new Map<number, Set<Connection>>();
  /** What the shard's ready messages cost, as it last reported (MEMORY records). */
  queuedBytes = 0;
  /** The shard's ready messages are filling its V8 heap. */
  heapAlarm = false;

  constructor(
    readonly index: number,
    inline: boolean,
    ringBytes: number,
    private readonly events: ShardEvents,
  ) {
    const toShard = Ring.allocate(ringBytes);
    const fromShard = Ring.allocate(ringBytes);
    this.input = fromShard;
    if (inline) {
      const shardBell = new LocalDoorbell();
      const acceptorBell = new LocalDoorbell();
      this.shardBell = shardBell;
      const runner = new ShardRunner(toShard, fromShard, acceptorBell);
      this.shardPump = new Pump(shardBell, () => runner.work());
      this.shardPump.start();
      this.pump = new Pump(acceptorBell, () => this.work());
    } else {
      const shardBell = new SharedDoorbell();
      const acceptorBell = new SharedDoorbell();
      this.shardBell = shardBell;
      const workerData: ShardWorkerData = {
        input: toShard.sab,
        output: fromShard.sab,
        shardBell: shardBell.words.buffer as SharedArrayBuffer,
        acceptorBell: acceptorBell.words.buffer as SharedArrayBuffer,
      };
      this.worker = new Worker(new URL('../shard/shard-worker.js', import.meta.url), { workerData });
      this.worker.on('error', (err) => {
        console.error(`warren: shard ${index} failed:`, err);
      });
      this.pump = new Pump(acceptorBell, () => this.work());
    }
    this.writer = new RingWriter(toShard, this.shardBell);
    this.pump.start();
  }

  /**
   * After `conn` published into `queueIds`: it waits while the ring overflows,
   * or while one of those queues is congested, unless it consumes from that
   * queue (its acks are what drain it). Publishing into other queues goes on.
   */
  afterPublish(conn: Connection, queueIds: readonly number[]): void {
    if (this.writer.backlogged && !this.ringStalled.has(conn)) {
      this.ringStalled.add(conn);
      conn.pause(PAUSE_RING);
    }
    if (this.congestedQueues.size === 0) return;
    for (let i = 0; i < queueIds.length; i++) {
      const stalled = this.congestedQueues.get(queueIds[i]);
      if (stalled === undefined || stalled.has(conn) || conn.consumesFrom(queueIds[i])) continue;
      stalled.add(conn);
      conn.stallOnQueue();
    }
  }

  /** A queue cleared or was deleted: its publishers go on. */
  queueCleared(queueId: number): void {
    const stalled = this.congestedQueues.get(queueId);
    if (stalled === undefined) return;
    this.congestedQueues.delete(queueId);
    for (const conn of stalled) conn.queueCleared();
  }

  /** Both rings' data areas. */
  get ringBytes(): number {
    return this.writer.ring.capacity + this.input.capacity;
  }

  /** A control operation whose reply the caller awaits. */
  request(control: ShardControl): Promise<any> {
    const id = this.nextRequest++;
    const reply = new Promise((resolve) => this.pending.set(id, resolve));
    this.writeControl(id, control);
    return reply;
  }

  /** A control operation with no reply. */
  send(control: ShardControl): void {
    this.writeControl(0, control);
  }

  /** Writes a SETTLE record for (queueId, msgId) pairs laid out flat in `entries`. */
  settle(action: number, entries: number[]): void {
    const count = entries.length >>> 1;
    if (count === 0) return;
    const w = this.writer;
    w.begin(R.SETTLE_HEADER + count * R.SETTLE_ENTRY);
    const { buf } = w;
    let p = w.offset;
    buf[p] = R.A2S_SETTLE;
    buf[p + 1] = action;
    buf.writeUInt32LE(count, p + 2);
    p += R.SETTLE_HEADER;
    for (let i = 0; i < entries.length; i += 2, p += R.SETTLE_ENTRY) {
      buf.writeUInt32LE(entries[i], p);
      buf.writeDoubleLE(entries[i + 1], p + 4);
    }
    w.end();
  }

  async close(): Promise<void> {
    this.pump.stop();
    this.shardPump?.stop();
    await this.worker?.terminate();
  }

  private writeControl(requestId: number, control: ShardControl): void {
    const payload = R.packControl(control);
    const w = this.writer;
    w.begin(R.CONTROL_HEADER + payload.length);
    w.buf[w.offset] = R.A2S_CONTROL;
    w.buf.writeUInt32LE(requestId, w.offset + 1);
    payload.copy(w.buf, w.offset + R.CONTROL_HEADER);
    w.end();
    w.flush();
  }

  private work(): boolean {
    let progress = false;
    if (this.writer.drainOverflow()) {
      progress = true;
      this.writer.flush();
    }
    if (this.ringStalled.size > 0 && !this.writer.backlogged) {
      for (const conn of this.ringStalled) conn.unpause(PAUSE_RING);
      this.ringStalled.clear();
    }
    const input = this.input;
    let handled = 0;
    while (handled < BATCH) {
      const at = input.peek();
      if (at < 0) break;
      this.handle(input.data, at, at + input.recordSize);
      input.consume();
      handled++;
    }
    if (handled > 0) {
      progress = true;
      if (input.producerBlocked) this.shardBell.ring();
      this.events.onBatchEnd();
    }
    return progress;
  }

  private handle(buf: Buffer, at: number, end: number): void {
    switch (buf[at]) {
      case R.S2A_DELIVER:
        return this.events.onDeliver(this, buf, at);
      case R.S2A_REPLY:
        return this.resolve(buf.readUInt32LE(at + 1), R.unpackControl(buf, at + R.CONTROL_HEADER, end));
      case R.S2A_GET_OK: {
        const result: GetResult = {
          redelivered: buf[at + 1] === 1,
          queueId: buf.readUInt32LE(at + 6),
          msgId: buf.readDoubleLE(at + 10),
          messageCount: buf.readUInt32LE(at + 18),
          block: Buffer.from(buf.subarray(at + R.GET_OK_HEADER, end)),
        };
        return this.resolve(buf.readUInt32LE(at + 2), result);
      }
      case R.S2A_IMMEDIATE:
        return this.events.onImmediate(
          buf.readUInt32LE(at + 2),
          buf.readUInt32LE(at + 6),
          buf[at + 1] === 1,
          buf,
          at + R.IMMEDIATE_HEADER,
        );
      case R.S2A_QUEUE_FLOW: {
        const queueId = buf.readUInt32LE(at + 2);
        if (buf[at + 1] === 0) return this.queueCleared(queueId);
        if (!this.congestedQueues.has(queueId)) this.congestedQueues.set(queueId, new Set());
        return;
      }
      case R.S2A_MEMORY: {
        this.queuedBytes = buf.readDoubleLE(at + 2);
        const heapAlarm = buf[at + 1] === 1;
        if (heapAlarm === this.heapAlarm) return;
        this.heapAlarm = heapAlarm;
        return this.events.onShardMemory();
      }
      default:
        throw new Error(`acceptor: unknown record type ${buf[at]} from shard ${this.index}`);
    }
  }

  private resolve(requestId: number, value: unknown): void {
    const resolve = this.pending.get(requestId);
    if (resolve === undefined) return;
    this.pending.delete(requestId);
    resolve(value);
  }
}
