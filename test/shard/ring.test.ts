import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Ring } from '../../src/shard/ring.js';

function write(ring: Ring, payload: Buffer, publish = true): boolean {
  const at = ring.reserve(payload.length);
  if (at < 0) return false;
  payload.copy(ring.data, at);
  ring.commit();
  if (publish) ring.publish();
  return true;
}

function read(ring: Ring): Buffer | null {
  const at = ring.peek();
  if (at < 0) return null;
  const copy = Buffer.from(ring.data.subarray(at, at + ring.recordSize));
  ring.consume();
  ring.release();
  return copy;
}

describe('Ring', () => {
  it('lets the consumer see records only once published, and the producer reuse their room only once released', () => {
    // Two views of one ring, as the two threads hold them.
    const producer = Ring.allocate(64);
    const consumer = new Ring(producer.sab);
    let written = 0;
    while (write(producer, Buffer.alloc(8, written), false)) written++;
    expect(written).toBeGreaterThan(2);
    expect(consumer.peek()).toBe(-1); // committed, not yet published
    producer.publish();
    for (let i = 0; i < 2; i++) {
      const at = consumer.peek();
      expect(consumer.data[at]).toBe(i);
      consumer.consume();
    }
    expect(producer.reserve(8)).toBe(-1); // consumed, not yet released
    consumer.release();
    expect(write(producer, Buffer.alloc(8, 0xee))).toBe(true);
    // The rest arrives in order, then the new one; a read that finds the ring empty releases by itself.
    const got: number[] = [];
    for (let at = consumer.peek(); at >= 0; at = consumer.peek()) {
      got.push(consumer.data[at]);
      consumer.consume();
    }
    expect(got).toEqual([...Array.from({ length: written - 2 }, (_, i) => i + 2), 0xee]);
    expect(consumer.peek()).toBe(-1);
    let room = 0;
    while (write(producer, Buffer.alloc(8), false)) room++;
    expect(room).toBeGreaterThanOrEqual(written - 1); // all of it but what the wrap leaves unused
  });

  it('shows the units the consumer took at release, modulo 2^32, and says when the producer waits for room or for units', () => {
    const producer = Ring.allocate(64);
    const consumer = new Ring(producer.sab);
    write(producer, Buffer.alloc(8));
    consumer.peek();
    consumer.consume();
    consumer.take(2 ** 31 - 1);
    consumer.take(5);
    expect(producer.taken).toBe(0); // taken, not yet released
    consumer.release();
    expect(producer.taken).toBe((2 ** 31 + 4) | 0);
    expect(((producer.taken - 2 ** 31 + 1) | 0) >>> 0).toBe(5);
    // A view made later starts from the shared count.
    const again = new Ring(producer.sab);
    again.take(1);
    again.release();
    expect(producer.taken).toBe((2 ** 31 + 5) | 0);

    expect(consumer.producerBlocked).toBe(false);
    producer.setProducerWaiting(true);
    expect(consumer.producerBlocked).toBe(true);
    producer.setProducerBlocked(true);
    producer.setProducerWaiting(false);
    expect(consumer.producerBlocked).toBe(true);
    producer.setProducerBlocked(false);
    expect(consumer.producerBlocked).toBe(false);
  });

  it('carries records in order across many wrap-arounds, sizes varying', () => {
    const ring = Ring.allocate(1000);
    let written = 0;
    let readCount = 0;
    for (let round = 0; round < 5000; round++) {
      const size = (round * 37) % 300;
      const payload = Buffer.alloc(size, round & 0xff);
      while (!write(ring, payload)) {
        const got = read(ring);
        expect(got).not.toBeNull();
        const expectedSize = (readCount * 37) % 300;
        expect(got!.length).toBe(expectedSize);
        if (expectedSize > 2) expect(got![expectedSize - 1]).toBe(readCount & 0xff);
        readCount++;
      }
      written++;
    }
    while (read(ring) !== null) readCount++;
    expect(readCount).toBe(written);
    expect(ring.isEmpty()).toBe(true);
  });

  it('refuses a record when full and never overwrites unread bytes', () => {
    const ring = Ring.allocate(64); // each 16-byte record takes 20 bytes with its length
    expect(write(ring, Buffer.alloc(16, 1))).toBe(true);
    expect(write(ring, Buffer.alloc(16, 2))).toBe(true);
    expect(write(ring, Buffer.alloc(16, 3))).toBe(true);
    expect(write(ring, Buffer.alloc(16, 4))).toBe(false);
    expect(read(ring)).toEqual(Buffer.alloc(16, 1));
    // 20 bytes free at the front, but the write may not catch up with the reader
    expect(write(ring, Buffer.alloc(16, 4))).toBe(false);
    expect(read(ring)).toEqual(Buffer.alloc(16, 2));
    expect(write(ring, Buffer.alloc(16, 4))).toBe(true); // wraps to offset 0
    expect(read(ring)).toEqual(Buffer.alloc(16, 3));
    expect(read(ring)).toEqual(Buffer.alloc(16, 4));
    expect(read(ring)).toBeNull();
  });

  it('passes 300k records between two threads', async () => {
    const ring = Ring.allocate(1 << 16);
    const count = 300_000;
    // The producer runs in a worker; it writes the record index in each record.
    const worker = new Worker(
      `
      const { workerData } = require('node:worker_threads');
      const CONTROL = 128, TAIL = 16, HEAD = 0;
      const ctl = new Int32Array(workerData.sab, 0, 32);
      const cap = workerData.sab.byteLength - CONTROL;
      const data = Buffer.from(workerData.sab, CONTROL, cap);
      let tail = 0;
      for (let i = 0; i < workerData.count; i++) {
        const need = 4 + 8;
        for (;;) {
          const head = Atomics.load(ctl, HEAD);
          let at = tail;
          if (at >= head) {
            if (cap - at < need || (cap - at === need && head === 0)) {
              if (need >= head) continue;
              if (cap - at >= 4) data.writeUInt32LE(0xffffffff, at);
              at = 0;
            }
          } else if (head - at <= need) continue;
          data.writeUInt32LE(8, at);
          data.writeDoubleLE(i, at + 4);
          tail = at + need === cap ? 0 : at + need;
          Atomics.store(ctl, TAIL, tail);
          break;
        }
      }
      `,
      { eval: true, workerData: { sab: ring.sab, count } },
    );
    let expected = 0;
    while (expected < count) {
      const at = ring.peek();
      if (at < 0) continue; // spin: the producer is another thread
      const value = ring.data.readDoubleLE(at);
      if (value !== expected || ring.recordSize !== 8) throw new Error(`record ${expected} arrived as ${value}`);
      ring.consume();
      expected++;
    }
    await worker.terminate();
    expect(expected).toBe(count);
  });

  it('passes 200k records of varying sizes between two threads that publish and release in batches of varying length', async () => {
    const ring = Ring.allocate(4096);
    const count = 200_000;
    const size = (i: number) => 4 + ((i * 37) % 200);
    // The producer is a Ring in a worker; it publishes after 1-7 records, and whenever the ring is full.
    const worker = new Worker(
      `
      const { workerData } = require('node:worker_threads');
      import(workerData.ring).then(({ Ring }) => {
        const ring = new Ring(workerData.sab);
        for (let i = 0; i < workerData.count; i++) {
          const size = 4 + ((i * 37) % 200);
          let at;
          while ((at = ring.reserve(size)) < 0) ring.publish();
          ring.data.fill(i & 0xff, at, at + size);
          ring.data.writeUInt32LE(i, at);
          ring.commit();
          if (i % 7 === 6 || i % 3 === 0) ring.publish();
        }
        ring.publish();
      });
      `,
      { eval: true, workerData: { sab: ring.sab, count, ring: new URL('../../dist/src/shard/ring.js', import.meta.url).href } },
    );
    const deadline = performance.now() + 30_000;
    let expected = 0;
    while (expected < count) {
      const at = ring.peek();
      if (at < 0) {
        if (performance.now() > deadline) throw new Error(`stuck after ${expected} records: room never came back`);
        continue; // spin: the producer is another thread
      }
      const n = ring.data.readUInt32LE(at);
      if (n !== expected || ring.recordSize !== size(n)) throw new Error(`record ${expected} arrived as ${n} of ${ring.recordSize} bytes`);
      const last = ring.data[at + ring.recordSize - 1];
      if (ring.recordSize > 4 && last !== (n & 0xff)) throw new Error(`record ${n} ends in ${last}: overwritten`);
      ring.consume();
      if (expected % 13 === 0 || expected % 5 === 1) ring.release();
      expected++;
    }
    await worker.terminate();
    expect(expected).toBe(count);
  });
});
