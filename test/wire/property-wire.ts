/**
 * Property lists over a raw connection: publish one as bytes, read one back
 * with basic.get, and take it apart by type letter without the broker's codec,
 * for tests that compare what the broker keeps byte for byte.
 */
import { expect } from 'vitest';
import { sleep } from '../helpers.js';
import { RawClient, frame, method, shortstr, u16, u64, u8, type Frame } from './raw-client.js';

// ---------------------------------------------------------------- reading property lists off the wire, independently of the broker's codec

/** A value as [type letter, bytes after it]; tables and arrays read into. */
export type Typed = [string, string | Typed[] | [string, Typed][]];

function valueEnd(b: Buffer, p: number): number {
  const t = String.fromCharCode(b[p++]);
  const fixed: Record<string, number> = { t: 1, b: 1, B: 1, s: 2, u: 2, I: 4, i: 4, f: 4, D: 5, l: 8, d: 8, T: 8, V: 0 };
  if (t in fixed) return p + fixed[t];
  return p + 4 + b.readUInt32BE(p); // S x A F
}

/** The entries of the table whose u32 size is at b[at]. */
export function entriesOf(b: Buffer, at: number): { key: Buffer; value: Buffer }[] {
  const end = at + 4 + b.readUInt32BE(at);
  const entries: { key: Buffer; value: Buffer }[] = [];
  for (let p = at + 4; p < end; ) {
    const valueAt = p + 1 + b[p];
    const next = valueEnd(b, valueAt);
    entries.push({ key: b.subarray(p + 1, valueAt), value: b.subarray(valueAt, next) });
    p = next;
  }
  return entries;
}

export function typed(v: Buffer): Typed {
  const t = String.fromCharCode(v[0]);
  if (t === 'F') return [t, entriesOf(v, 1).map((e) => [e.key.toString('latin1'), typed(e.value)] as [string, Typed])];
  if (t === 'A') {
    const items: Typed[] = [];
    for (let p = 5; p < v.length; p = valueEnd(v, p)) items.push(typed(v.subarray(p, valueEnd(v, p))));
    return [t, items];
  }
  if (t === 'S') return [t, v.toString('latin1', 5)];
  return [t, v.toString('hex', 1)];
}

/** A property list's values by flag bit, raw; the headers also as entries. */
export function propertiesOf(b: Buffer): { flags: number; values: Map<number, Buffer>; headers: { key: Buffer; value: Buffer }[] } {
  const flags = b.readUInt16BE(0);
  const values = new Map<number, Buffer>();
  let headers: { key: Buffer; value: Buffer }[] = [];
  let p = 2;
  for (let bit = 0x8000; bit > 1; bit >>>= 1) {
    if ((flags & bit) === 0) continue;
    let end: number;
    if (bit === 0x2000) {
      end = p + 4 + b.readUInt32BE(p);
      headers = entriesOf(b, p);
    } else if (bit === 0x1000 || bit === 0x0800) end = p + 1;
    else if (bit === 0x0040) end = p + 8;
    else end = p + 1 + b[p];
    values.set(bit, b.subarray(p, end));
    p = end;
  }
  return { flags, values, headers };
}

/** The entries of a table value ('F'). */
export const tableEntriesOf = (value: Buffer) => entriesOf(value, 1);

export const entryOf = (headers: { key: Buffer; value: Buffer }[], key: string) => headers.find((e) => e.key.toString('latin1') === key);

// ---------------------------------------------------------------- a raw client that publishes property lists and reads them back

export class Wire {
  private constructor(private readonly raw: RawClient) {}

  static async open(port: number): Promise<Wire> {
    const raw = await RawClient.open(port);
    await raw.handshake(0, 131072);
    raw.send(method(1, 20, 10, shortstr('')));
    await raw.readFrame();
    return new Wire(raw);
  }

  publish(queue: string, properties: Buffer, body: string): void {
    this.raw.send(
      method(1, 60, 40, u16(0), shortstr(''), shortstr(queue), u8(0)),
      frame(2, 1, Buffer.concat([u16(60), u16(0), u64(body.length), properties])),
      frame(3, 1, Buffer.from(body)),
    );
  }

  /** basic.get until a message comes (dead letters are routed after the death): its tag and property list. */
  async get(queue: string, noAck: boolean): Promise<{ tag: bigint; properties: Buffer }> {
    for (let tries = 0; ; tries++) {
      this.raw.send(method(1, 60, 70, u16(0), shortstr(queue), u8(noAck ? 1 : 0)));
      const reply = (await this.raw.readFrame()) as Frame;
      expect(reply.classId, reply.payload.toString('latin1')).toBe(60);
      expect([71, 72]).toContain(reply.methodId);
      if (reply.methodId === 71) {
        const header = (await this.raw.readFrame()) as Frame;
        if (header.payload.readBigUInt64BE(4) > 0n) await this.raw.readFrame();
        return { tag: reply.payload.readBigUInt64BE(4), properties: Buffer.from(header.payload.subarray(12)) };
      }
      expect(tries, `nothing in ${queue}`).toBeLessThan(100);
      await sleep(20);
    }
  }

  reject(tag: bigint): void {
    this.raw.send(method(1, 60, 90, u64(tag), u8(0)));
  }

  nackRequeue(tag: bigint): void {
    this.raw.send(method(1, 60, 120, u64(tag), u8(2)));
  }

  close(): void {
    this.raw.destroy();
  }
}

