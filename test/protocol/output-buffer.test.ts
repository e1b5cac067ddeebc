import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, FRAME_MIN_SIZE } from '../../src/protocol/constants.js';
import { OutputBuffer } from '../../src/protocol/output-buffer.js';
import { BASIC_DELIVER } from '../../src/protocol/methods.generated.js';
import { prewrittenDeliver } from '../../src/acceptor/consumer-registry.js';
import { bytes, int, readFrames, rng } from './helpers.js';
import { arrayBufferBytesAfterGc } from '../helpers.js';

describe('OutputBuffer primitives', () => {
  it('writes big-endian integers and floats', () => {
    const out = new OutputBuffer(16);
    out.u8(0xab);
    out.u16(0xbeef);
    out.u32(0xdeadbeef);
    out.u64(2 ** 53 - 1);
    out.i8(-1);
    out.i16(-2);
    out.i32(-3);
    out.i64(-4);
    out.i64(-(2n ** 63n));
    out.i64(2 ** 62);
    out.f32(1.5);
    out.f64(-0.1);
    const b = out.take();
    let p = 0;
    expect(b[p++]).toBe(0xab);
    expect(b.readUInt16BE(p)).toBe(0xbeef), (p += 2);
    expect(b.readUInt32BE(p)).toBe(0xdeadbeef), (p += 4);
    expect(b.readBigUInt64BE(p)).toBe(2n ** 53n - 1n), (p += 8);
    expect(b.readInt8(p)).toBe(-1), (p += 1);
    expect(b.readInt16BE(p)).toBe(-2), (p += 2);
    expect(b.readInt32BE(p)).toBe(-3), (p += 4);
    expect(b.readBigInt64BE(p)).toBe(-4n), (p += 8);
    expect(b.readBigInt64BE(p)).toBe(-(2n ** 63n)), (p += 8);
    expect(b.readBigInt64BE(p)).toBe(2n ** 62n), (p += 8);
    expect(b.readFloatBE(p)).toBe(1.5), (p += 4);
    expect(b.readDoubleBE(p)).toBe(-0.1), (p += 8);
    expect(p).toBe(b.length);
  });

  it('writes random signed 64-bit numbers like writeBigInt64BE', () => {
    const r = rng(5);
    for (let i = 0; i < 1000; i++) {
      const v = int(r, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      const out = new OutputBuffer(16);
      out.i64(v);
      expect(out.take().readBigInt64BE(0)).toBe(BigInt(v));
    }
  });

  it('writes short strings as length + utf8 and refuses more than 255 bytes', () => {
    const out = new OutputBuffer(16);
    out.shortstr('');
    out.shortstr('héllo');
    out.shortstr('x'.repeat(255));
    expect(out.take()).toEqual(Buffer.concat([Buffer.from([0, 6]), Buffer.from('héllo'), Buffer.from([255]), Buffer.from('x'.repeat(255))]));
    expect(() => out.shortstr('x'.repeat(256))).toThrow(Error);
    expect(() => out.shortstr('é'.repeat(128))).toThrow(/256 bytes/);
    // a failed write leaves nothing behind
    expect(out.length).toBe(0);
    out.shortstr('漢'.repeat(85)); // 255 bytes exactly
    expect(out.take().length).toBe(256);
  });

  it('writes long strings from strings and buffers', () => {
    const out = new OutputBuffer(16);
    out.longstr('€uro');
    out.longstr(Buffer.from([1, 2, 3]));
    out.longstr('');
    expect(out.take()).toEqual(Buffer.from([0, 0, 0, 6, ...Buffer.from('€uro'), 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0]));
  });

  it('copies a byte range', () => {
    const out = new OutputBuffer(16);
    out.bytes(Buffer.from([1, 2, 3, 4, 5]), 1, 4);
    out.bytes(Buffer.from([9]));
    expect(out.take()).toEqual(Buffer.from([2, 3, 4, 9]));
  });
  it('writes any u64 up to 2^53 - 1, at any offset across growth', () => {
    fc.assert(
      fc.property(fc.nat(40), fc.maxSafeNat(), (before, v) => {
        const out = new OutputBuffer(16);
        for (let i = 0; i < before; i++) out.u8(i);
        out.u64(v);
        expect(out.take().readBigUInt64BE(before)).toBe(BigInt(v));
      }),
      { numRuns: 500 },
    );
  });

  it("starts a consumer's basic.deliver from its written head as beginFrame, the method id and the tag would (any channel, tag up to 255 bytes, across growth)", () => {
    const tag = fc.string({ unit: 'binary', maxLength: 255 }).filter((t) => Buffer.byteLength(t) <= 255);
    fc.assert(
      fc.property(fc.nat(40), fc.integer({ min: 0, max: 0xffff }), tag, fc.maxSafeNat(), (before, channel, consumerTag, deliveryTag) => {
        const written = prewrittenDeliver(channel, consumerTag);
        const a = new OutputBuffer(16);
        const b = new OutputBuffer(16);
        for (let i = 0; i < before; i++) a.u8(i), b.u8(i);
        const startA = a.beginWrittenFrame(written.deliverStart, written.deliverStartView);
        const startB = b.beginFrame(FRAME_METHOD, channel);
        b.u32(BASIC_DELIVER);
        b.shortstr(consumerTag);
        for (const [out, start] of [[a, startA], [b, startB]] as const) {
          out.u64(deliveryTag);
          out.u8(1);
          out.endFrame(start);
        }
        expect(a.take()).toEqual(b.take());
      }),
      { numRuns: 300 },
    );
  });
});

describe('OutputBuffer growth and take', () => {
  it('keeps contents when growing, including an open frame', () => {
    const out = new OutputBuffer(16);
    const start = out.beginFrame(FRAME_BODY, 3);
    const payload = bytes(rng(1), 5000);
    for (const b of payload) out.u8(b); // many small growths
    out.endFrame(start);
    const frames = readFrames([out.take()]);
    expect(frames).toEqual([{ type: FRAME_BODY, channel: 3, payload }]);
  });

  it('never overwrites bytes already taken', () => {
    const out = new OutputBuffer(64);
    const r = rng(2);
    const taken: [Buffer, Buffer][] = [];
    for (let i = 0; i < 500; i++) {
      const data = bytes(r, pick3(r));
      out.bytes(data);
      if (r() < 0.5) out.u8(0x55);
      const t = out.take();
      expect(out.length).toBe(0);
      taken.push([t, Buffer.from(t)]);
    }
    for (const [t, copy] of taken) expect(t).toEqual(copy);
  });

  it('hands out pieces (takePiece) that add up to the frames written, across slabs, and never rewrites them', () => {
    // Each op writes one frame (a method frame with a table, a content header and
    // body, or a heartbeat), or takes what is pending, piece by piece or with take().
    const op = fc.oneof(
      fc.record({ kind: fc.constant('method' as const), channel: fc.integer({ min: 0, max: 65535 }), table: fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(fc.integer(), fc.string({ maxLength: 300 }))) }),
      fc.record({ kind: fc.constant('content' as const), channel: fc.integer({ min: 1, max: 65535 }), body: fc.uint8Array({ maxLength: 3000 }), frameMax: fc.constantFrom(0, 4096, 200) }),
      fc.constant({ kind: 'heartbeat' as const }),
      fc.constant({ kind: 'pieces' as const }),
      fc.constant({ kind: 'take' as const }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 16, max: 2048 }), fc.array(op, { maxLength: 60 }), (initial, ops) => {
        const out = new OutputBuffer(initial);
        const expected = new OutputBuffer(1 << 22); // never outgrows its slab
        const taken: [Buffer, Buffer][] = [];
        const drain = (whole: boolean): void => {
          const want = expected.take();
          const got: Buffer[] = [];
          if (whole) got.push(out.take());
          else while (out.length > 0) got.push(out.takePiece());
          expect(out.length).toBe(0);
          expect(Buffer.concat(got)).toEqual(want);
          for (const g of got) taken.push([g, Buffer.from(g)]);
        };
        for (const o of ops) {
          for (const target of [out, expected]) {
            if (o.kind === 'method') {
              const start = target.beginFrame(FRAME_METHOD, o.channel);
              target.u32(0x003c0028);
              target.table(o.table);
              target.endFrame(start);
            } else if (o.kind === 'content') {
              const body = Buffer.from(o.body);
              target.writeContent(o.channel, 60, body.length, Buffer.from([0x80, 0, 3, 0x61, 0x62, 0x63]), body, o.frameMax);
            } else if (o.kind === 'heartbeat') target.heartbeat();
          }
          if (o.kind === 'pieces' || o.kind === 'take') drain(o.kind === 'take');
        }
        drain(false);
        for (const [t, copy] of taken) expect(t).toEqual(copy);
      }),
      { numRuns: 300 },
    );
  });

  it('written(0) writes the next turn over the slab once everything was taken, keeps a slab a busy turn grew, drops one made for a large message', () => {
    const out = new OutputBuffer(64);
    out.bytes(Buffer.alloc(40, 1));
    const first = out.take();
    out.written(0);
    out.bytes(Buffer.alloc(40, 2));
    expect(out.take().buffer).toBe(first.buffer);
    expect(first[0]).toBe(2); // written over: the caller said nobody reads it any more

    // pending bytes: written(0) must not move the write position under them
    out.written(0);
    out.bytes(Buffer.alloc(10, 3));
    out.written(0);
    out.bytes(Buffer.alloc(10, 4));
    expect(out.take()).toEqual(Buffer.concat([Buffer.alloc(10, 3), Buffer.alloc(10, 4)]));

    // a turn of 100 KiB grows the slab; the grown slab is the one reused next turn
    out.written(0);
    for (let i = 0; i < 100; i++) out.bytes(Buffer.alloc(1024, i));
    while (out.length > 0) out.takePiece();
    out.written(0);
    out.bytes(Buffer.alloc(100 * 1024, 5));
    const grown = out.takePiece();
    expect(out.length).toBe(0);
    out.written(0);
    out.bytes(Buffer.alloc(8, 6));
    expect(out.take().buffer).toBe(grown.buffer);

    // one 1 MiB message: its slab goes once taken
    out.written(0);
    out.bytes(Buffer.alloc(1024 * 1024, 7));
    const large = out.take();
    out.written(0);
    out.bytes(Buffer.alloc(8, 8));
    expect(out.take().buffer).not.toBe(large.buffer);
    expect(large.every((b) => b === 7)).toBe(true);
  });

  it('gives an outgrown slab to the next grow() once the socket has written every byte taken from it, and not before', () => {
    const KiB = 1024;
    const slabOf = (b: Buffer) => b.buffer;
    for (const unwrittenAfter of [300 * KiB, 100 * KiB + 1, 100 * KiB]) {
      const out = new OutputBuffer(256 * KiB);
      out.bytes(Buffer.alloc(200 * KiB, 1));
      const p1 = out.takePiece(); // in slab A; the socket holds it
      out.written(200 * KiB);
      out.bytes(Buffer.alloc(100 * KiB, 2)); // outgrows A
      const p2 = out.takePiece(); // in slab B
      expect(slabOf(p2)).not.toBe(slabOf(p1));
      // of the 300 KiB taken, the socket still holds `unwrittenAfter`: A is free only once p1's 200 KiB are out
      out.written(unwrittenAfter);
      out.bytes(Buffer.alloc(200 * KiB, 3)); // outgrows B
      const p3 = out.takePiece();
      if (unwrittenAfter <= 100 * KiB) expect(slabOf(p3)).toBe(slabOf(p1));
      else expect(slabOf(p3)).not.toBe(slabOf(p1));
      expect(p3.every((b) => b === 3)).toBe(true);
      expect(p2.every((b) => b === 2)).toBe(true); // B is still the socket's: never written over
      if (unwrittenAfter > 100 * KiB) expect(p1.every((b) => b === 1)).toBe(true);
    }
  });

  it('keeps no outgrown slab alive in a buffer whose owner never calls written() (its views may be kept)', async () => {
    const out = new OutputBuffer(1024);
    const chunk = Buffer.alloc(100 * 1024, 9);
    const before = await arrayBufferBytesAfterGc();
    for (let turn = 0; turn < 200; turn++) {
      for (let i = 0; i < 3; i++) out.bytes(chunk);
      expect(out.take().length).toBe(300 * 1024);
    }
    // 200 turns of 300 KiB outgrew about 230 slabs of 256 KiB: 57 MiB if they were followed
    expect((await arrayBufferBytesAfterGc()) - before).toBeLessThan(2 * 1024 * 1024);
  });

  it('take() on an empty buffer returns an empty buffer', () => {
    const out = new OutputBuffer();
    expect(out.take().length).toBe(0);
    out.u8(1);
    expect(out.length).toBe(1);
    expect(out.take()).toEqual(Buffer.from([1]));
    expect(out.take().length).toBe(0);
  });

  it('ensure() reserves room for direct writes', () => {
    const out = new OutputBuffer(16);
    out.u8(7);
    out.ensure(100);
    expect(out.buf.length - out.pos).toBeGreaterThanOrEqual(100);
    out.buf[out.pos++] = 8;
    expect(out.take()).toEqual(Buffer.from([7, 8]));
  });

  it('writes heartbeats', () => {
    const out = new OutputBuffer(4);
    out.heartbeat();
    expect(out.take()).toEqual(Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce]));
  });
});

function pick3(r: () => number): number {
  const x = r();
  return x < 0.6 ? 20 : x < 0.9 ? 200 : 3000;
}

describe('OutputBuffer.writeContent', () => {
  const props = Buffer.from([0x90, 0x00, 3, 0x61, 0x2f, 0x62, 2]); // content-type "a/b", delivery-mode 2

  function check(bodySize: number, frameMax: number, chunks: Buffer[] | Buffer, body: Buffer) {
    const out = new OutputBuffer(32);
    out.u8(0xee); // something pending before, to check offsets
    out.writeContent(4, 60, bodySize, props, chunks, frameMax);
    const wire = out.take();
    expect(wire[0]).toBe(0xee);
    const frames = readFrames([wire.subarray(1)], frameMax);
    const header = frames[0];
    expect(header.type).toBe(FRAME_HEADER);
    expect(header.channel).toBe(4);
    expect(header.payload.readUInt16BE(0)).toBe(60);
    expect(header.payload.readUInt16BE(2)).toBe(0);
    expect(Number(header.payload.readBigUInt64BE(4))).toBe(bodySize);
    expect(header.payload.subarray(12)).toEqual(props);

    const bodies = frames.slice(1);
    const maxPayload = frameMax === 0 ? Infinity : frameMax - 8;
    expect(bodies.length).toBe(bodySize === 0 ? 0 : frameMax === 0 ? 1 : Math.ceil(bodySize / maxPayload));
    for (const f of bodies) {
      expect(f.type).toBe(FRAME_BODY);
      expect(f.channel).toBe(4);
      expect(f.payload.length).toBeGreaterThan(0);
      expect(f.payload.length).toBeLessThanOrEqual(maxPayload);
    }
    expect(Buffer.concat(bodies.map((f) => f.payload))).toEqual(body.subarray(0, bodySize));
  }

  it('splits bodies at frame-max around every boundary', () => {
    const frameMax = FRAME_MIN_SIZE;
    for (const size of [0, 1, frameMax - 9, frameMax - 8, frameMax - 7, 2 * (frameMax - 8), 2 * (frameMax - 8) + 1, 50_000]) {
      const b = Buffer.alloc(size);
      for (let i = 0; i < size; i++) b[i] = i * 7;
      check(size, frameMax, b, b);
    }
  });

  it('takes the body in chunks that do not line up with frames', () => {
    const r = rng(9);
    for (let n = 0; n < 100; n++) {
      const size = int(r, 0, 20_000);
      const body = Buffer.alloc(size);
      for (let i = 0; i < size; i++) body[i] = (i * 31 + n) & 0xff;
      const chunks: Buffer[] = [];
      for (let p = 0; p < size; p += chunks[chunks.length - 1].length) {
        chunks.push(body.subarray(p, p + int(r, 0, 3000))); // empty chunks included
      }
      if (r() < 0.3) chunks.push(Buffer.alloc(0));
      check(size, int(r, 9, 9000), chunks, body);
    }
  });

  it('frame-max 0 means a single body frame', () => {
    const body = Buffer.alloc(100_000, 1);
    check(body.length, 0, body, body);
  });

  it('sends only bodySize bytes and throws when the body is short', () => {
    const body = Buffer.from('abcdef');
    check(3, FRAME_MIN_SIZE, [body], body);
    const out = new OutputBuffer();
    out.u8(1);
    expect(() => out.writeContent(1, 60, 10, props, [Buffer.from('abc'), Buffer.from('de')], FRAME_MIN_SIZE)).toThrow(/shorter/);
    expect(() => out.writeContent(1, 60, 10, props, Buffer.from('abc'), FRAME_MIN_SIZE)).toThrow(/shorter/);
    expect(out.length).toBe(1); // nothing of the failed content is left pending
  });
});

describe('OutputBuffer.replyText', () => {
  const written = (text: string): Buffer => {
    const out = new OutputBuffer(16);
    out.replyText(text);
    const b = out.take();
    expect(b[0]).toBe(b.length - 1); // a shortstr: length octet, then the bytes
    return b.subarray(1);
  };

  it('writes texts of up to 255 bytes as they are', () => {
    for (const text of ['', 'NOT_FOUND - no queue', 'x'.repeat(255), '漢'.repeat(85), '😀'.repeat(63) + 'abc']) {
      expect(written(text).toString()).toBe(text);
    }
  });

  it('cuts longer texts as RabbitMQ does (252 bytes and "..."), on a character boundary', () => {
    expect(written('x'.repeat(256)).toString()).toBe('x'.repeat(252) + '...');
    expect(written('x'.repeat(1000)).toString()).toBe('x'.repeat(252) + '...');
    expect(written('x' + 'é'.repeat(200)).toString()).toBe('x' + 'é'.repeat(125) + '...'); // 251 bytes kept
    expect(written('漢'.repeat(86)).toString()).toBe('漢'.repeat(84) + '...');
    expect(written('😀'.repeat(64)).toString()).toBe('😀'.repeat(63) + '...');
  });

  it('always fits a shortstr, is valid UTF-8 and starts with the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        const b = written(text);
        const full = Buffer.from(text);
        expect(b.length).toBeLessThanOrEqual(255);
        expect(isUtf8(b)).toBe(true);
        if (full.length <= 255) expect(b.equals(full)).toBe(true);
        else expect(full.subarray(0, b.length - 3).toString() + '...').toBe(b.toString());
      }),
      { numRuns: 500 },
    );
  });
});
