/**
 * Bad input on the wire, from a raw TCP socket: wrong protocol headers,
 * garbage, broken and oversized frames, unknown frame types, bad credentials,
 * methods on channels that were never opened. Each case checks what the
 * server answers, that it closes the socket, and that the rest of the broker
 * (an amqplib client connected beforehand, new connections) is unharmed.
 *
 * Frames are built by raw-client.ts's own encoder, not the broker's codec,
 * so the broker is checked against an independent reading of the spec.
 */
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, channel, collect, connect, start } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';

import {
  PROTOCOL_HEADER,
  FRAME_METHOD,
  u8,
  u16,
  u32,
  shortstr,
  longstr,
  frame,
  method,
  startOk,
  tuneOk,
  open,
  closeOk,
  queueDeclare,
  RawClient,
} from './raw-client.js';

// ---------------------------------------------------------------- the suites

const FRAME_ERROR = 501;
const SYNTAX_ERROR = 502;
const COMMAND_INVALID = 503;
const CHANNEL_ERROR = 504;
const UNEXPECTED_FRAME = 505;

describe.each(MODES)('bad input on the wire, $name', ({ workers }) => {
  let broker: RunningBroker;
  let witness: ChannelModel;
  let witnessCh: Channel;
  let n = 0;
  const clients: RawClient[] = [];

  const raw = async () => {
    const c = await RawClient.open(broker.port);
    clients.push(c);
    return c;
  };
  /** A raw client that has sent the header and read connection.start. */
  const started = async () => {
    const c = await raw();
    c.send(PROTOCOL_HEADER);
    await c.expectMethod(10, 10);
    return c;
  };
  /** A raw client through open-ok (frame-max 4096). */
  const opened = async () => {
    const c = await raw();
    await c.handshake();
    return c;
  };
  /** channel.open on `ch`, waiting for open-ok. */
  const openChannel = async (c: RawClient, ch: number) => {
    c.send(method(ch, 20, 10, shortstr('')));
    const f = await c.readFrame();
    expect([f?.channel, f?.classId, f?.methodId]).toEqual([ch, 20, 11]);
  };

  beforeAll(async () => {
    broker = await start(workers);
    // connected before any bad client, and used after each one
    witness = await connect(broker.url);
    witnessCh = await channel(witness);
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await witness?.close().catch(() => {});
    await broker?.close();
  });

  /** The earlier client still routes a message, and new connections still work. */
  async function brokerIsHealthy(): Promise<void> {
    const q = `witness-${workers}-${++n}`;
    await witnessCh.assertQueue(q, { autoDelete: true });
    const got = collect(witnessCh, q, 1);
    witnessCh.sendToQueue(q, Buffer.from(`still here ${n}`));
    const [msg] = await got;
    expect(msg.content.toString()).toBe(`still here ${n}`);

    const fresh = await connect(broker.url);
    const ch = await channel(fresh);
    expect((await ch.checkQueue(q)).queue).toBe(q);
    await fresh.close();
  }

  describe('protocol header', () => {
    // Each is refused by RabbitMQ 3.x: it answers with the header it speaks
    // and closes. (AMQP 1 1 0 9, 1 1 8 0 and 1 1 9 1 are not here: RabbitMQ
    // accepts them as 0-9 and 0-8, and so does warren, below.)
    it.each([
      ['AMQP 0-9-2', 'AMQP\x00\x00\x09\x02'],
      ['AMQP 0-10-0', 'AMQP\x00\x00\x0a\x00'],
      ['an HTTP request', 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'],
      ['an HTTP response line', 'HTTP/1.1 200 OK\r\n\r\n'],
      ['binary junk', '\x00\x01\x02\x03\x04\x05\x06\x07'],
    ])('a wrong header (%s) gets AMQP 0-9-1 back and the socket closed', async (_, header) => {
      const c = await raw();
      c.send(Buffer.from(header, 'latin1'));
      expect((await c.readAll()).toString('latin1')).toBe('AMQP\x00\x00\x09\x01');
      await brokerIsHealthy();
    });

    it("AMQP 0-9's header (1 1 0 9) gets 0-9-1, as from RabbitMQ 3.10.8: connection.start 0-9, a channel, a publish and a get", async () => {
      const c = await raw();
      const start = await c.handshake(0, 4096, Buffer.from('AMQP\x01\x01\x00\x09', 'latin1'));
      expect([start.payload[4], start.payload[5]]).toEqual([0, 9]);
      await openChannel(c, 1);
      const q = `zero-nine-${++n}`;
      c.send(queueDeclare(1, q));
      const declared = await c.readFrame();
      expect([declared?.channel, declared?.classId, declared?.methodId]).toEqual([1, 50, 11]);
      c.send(
        method(1, 60, 40, u16(0), shortstr(''), shortstr(q), u8(0)), // basic.publish
        frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(5), u16(0)])),
        frame(3, 1, Buffer.from('hello')),
        method(1, 60, 70, u16(0), shortstr(q), u8(1)), // basic.get, no-ack
      );
      const got = [await c.readFrame(), await c.readFrame(), await c.readFrame()];
      expect(got.map((f) => [f?.type, f?.classId, f?.methodId])).toEqual([[FRAME_METHOD, 60, 71], [2, 0, 0], [3, 0, 0]]);
      expect(got[2]?.payload.toString()).toBe('hello');
      await brokerIsHealthy();
    });

    it.each([
      ['1 1 8 0', 'AMQP\x01\x01\x08\x00'],
      ['1 1 9 1', 'AMQP\x01\x01\x09\x01'],
    ])("AMQP 0-8's header (%s) gets 0-8, frame for frame as from RabbitMQ 3.10.8", async (_, header) => {
      const c = await raw();
      const start = await c.handshake(0, 4096, Buffer.from(header, 'latin1'));
      expect([start.payload[4], start.payload[5]]).toEqual([8, 0]);
      c.send(method(1, 20, 10, shortstr('')));
      const openOk = await c.readFrame();
      // 0-8's channel.open-ok has no field; 0-9-1's has an empty longstr
      expect([openOk?.channel, openOk?.classId, openOk?.methodId, openOk?.payload.length]).toEqual([1, 20, 11, 4]);
      const q = `zero-eight-${++n}`;
      c.send(queueDeclare(1, q));
      await c.nextMethod(1, 50, 11);
      // 0-8's basic.consume ends at its bits: no arguments table
      c.send(method(1, 60, 20, u16(0), shortstr(q), shortstr('ctag'), u8(2)));
      await c.nextMethod(1, 60, 21);
      c.send(
        method(1, 60, 40, u16(0), shortstr(''), shortstr(q), u8(0)),
        frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(5), u16(0)])),
        frame(3, 1, Buffer.from('hello')),
      );
      const got = [await c.readFrame(), await c.readFrame(), await c.readFrame()];
      expect(got.map((f) => [f?.type, f?.classId, f?.methodId])).toEqual([[FRAME_METHOD, 60, 60], [2, 0, 0], [3, 0, 0]]);
      expect(got[2]?.payload.toString()).toBe('hello');
      // 0-8's connection.close and close-ok are 10/60 and 10/61
      c.send(method(0, 10, 60, u16(200), shortstr('bye'), u16(0), u16(0)));
      await c.expectMethod(10, 61);
      c.destroy(); // the receiver of close-ok closes the socket
      await brokerIsHealthy();
    });

    // RabbitMQ 3.10.8 resets the socket for basic.nack and answers 541 for
    // connection.redirect (10/50) on a 0-8 connection; warren closes it with 503
    // COMMAND_INVALID, in 0-8's connection.close.
    it.each([
      ['basic.nack, which 0-8 lacks', method(1, 60, 120, u32(0), u32(1), u8(0)), 'class-id 60 method-id 120'],
      ["connection.redirect, which only a server sends (0-9-1's close id)", method(0, 10, 50, u16(200), shortstr('bye'), u16(0), u16(0)), 'class-id 10 method-id 50'],
    ])('on a 0-8 connection %s closes the connection with 503 in 0-8 framing', async (_, sent, named) => {
      const c = await raw();
      await c.handshake(0, 4096, Buffer.from('AMQP\x01\x01\x08\x00', 'latin1'));
      c.send(method(1, 20, 10, shortstr('')));
      await c.nextMethod(1, 20, 11);
      c.send(sent);
      const close = await c.expectMethod(10, 60);
      expect([close.payload.readUInt16BE(4), close.payload.subarray(7, 7 + close.payload[6]).toString()]).toEqual([
        503,
        `COMMAND_INVALID - unknown method ${named}`,
      ]);
      c.send(method(0, 10, 61));
      await c.waitClosed();
      await brokerIsHealthy();
    });

    it('a header one byte off an accepted one (0-9-1, 0-9, 0-8) is refused, whole or cut short', async () => {
      const accepted = ['AMQP\x00\x00\x09\x01', 'AMQP\x01\x01\x00\x09', 'AMQP\x01\x01\x08\x00', 'AMQP\x01\x01\x09\x01'].map((h) => Buffer.from(h, 'latin1'));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...accepted), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (good, at, delta, cut) => {
          const header = Buffer.from(good);
          header[at] = (header[at] + delta) & 0xff;
          const sent = cut ? header.subarray(0, at + 1) : header;
          // still a prefix of an accepted header (e.g. 'AMQP\x01\x01\x09', a changed 0-9 header cut short, begins one of 0-8's): the broker rightly waits
          if (accepted.some((h) => h.subarray(0, sent.length).equals(sent))) return;
          const c = await raw();
          c.send(sent);
          expect((await c.readAll()).toString('latin1')).toBe('AMQP\x00\x00\x09\x01');
        }),
        { numRuns: 24 },
      );
      await brokerIsHealthy();
    });

    it('a wrong header sent a byte at a time gets the same answer', async () => {
      const c = await raw();
      for (const byte of Buffer.from('AMQP\x00\x00\x09\x02', 'latin1')) {
        if (c.ended) break;
        c.send(Buffer.from([byte]));
        await new Promise((r) => setTimeout(r, 2));
      }
      expect((await c.readAll()).toString('latin1')).toBe('AMQP\x00\x00\x09\x01');
      await brokerIsHealthy();
    });
  });

  // Errors before open-ok close the socket without connection.close, as in RabbitMQ
  // (which waits 3 s first); only a refused login or vhost is told (403, 530).
  describe('during the handshake', () => {
    it('garbage after a correct header closes the socket unsaid (a FRAME_ERROR)', async () => {
      const c = await raw();
      // 'G' is no frame type; the broker reads it as a frame header
      c.send(PROTOCOL_HEADER, Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      await c.expectBareClose();
      await brokerIsHealthy();
    });

    it('a truncated frame, then the client hangs up: the server closes too', async () => {
      const c = await started();
      c.send(Buffer.from([1, 0, 0])); // 3 of 7 frame-header bytes
      c.socket.end();
      await c.waitClosed();
      await brokerIsHealthy();
    });

    it('a bad frame-end octet closes the socket unsaid', async () => {
      const c = await started();
      const f = startOk('guest', 'guest');
      f[f.length - 1] = 0xff;
      c.send(f);
      await c.expectBareClose();
      await brokerIsHealthy();
    });

    it('a frame larger than 4096 before tune-ok closes the socket unsaid', async () => {
      const c = await started();
      // start-ok whose client-properties table pads it to ~10 kB
      const big = Buffer.concat([shortstr('junk'), Buffer.from('S'), longstr(Buffer.alloc(9_900, 'x'))]);
      c.send(method(0, 10, 11, u32(big.length), big, shortstr('PLAIN'), longstr('\0guest\0guest'), shortstr('en_US')));
      await c.expectBareClose();
      await brokerIsHealthy();
    });

    it('an unknown frame type closes the socket unsaid', async () => {
      const c = await started();
      c.send(frame(0x41, 0, Buffer.alloc(0)));
      await c.expectBareClose();
      await brokerIsHealthy();
    });

    // Bunny's connection recovery writes a channel's publishes to the new socket as soon
    // as it has one; a connection.close here would make it give up for good.
    it('a publish on channel 2 before start-ok, or between tune-ok and open, closes the socket unsaid', async () => {
      const publish = method(2, 60, 40, u16(0), shortstr(''), shortstr('q'), u8(0));
      const early = await started();
      early.send(publish, startOk('guest', 'guest'));
      await early.expectBareClose();
      const late = await started();
      late.send(startOk('guest', 'guest'));
      await late.expectMethod(10, 30); // tune
      late.send(tuneOk(4096), publish, open('/'));
      await late.expectBareClose();
      await brokerIsHealthy();
    });

    it('a refused vhost is still told: connection.close 530', async () => {
      const c = await started();
      c.send(startOk('guest', 'guest'));
      await c.expectMethod(10, 30);
      c.send(tuneOk(4096), open('no-such-vhost'));
      await c.expectClose(530);
      await brokerIsHealthy();
    });

    it('bad credentials: amqplib is refused with ACCESS_REFUSED (403)', async () => {
      const url = `amqp://guest:wrong@127.0.0.1:${broker.port}`;
      const err: Error = await amqp.connect(url).then(
        (c) => {
          void c.close();
          throw new Error('connected with a bad password');
        },
        (e: Error) => e,
      );
      // amqplib advertises authentication_failure_close, so it hears why
      expect(err.message).toMatch(/403/);
      expect(err.message).toMatch(/ACCESS.REFUSED/);
      await brokerIsHealthy();
    });

    it('bad credentials from a client without authentication_failure_close: the socket is closed', async () => {
      const c = await started();
      c.send(startOk('guest', 'nope'));
      await c.expectBareClose();
      await brokerIsHealthy();
    });
  });

  describe('after open-ok', () => {
    it('a truncated frame, then the client hangs up: the server closes too', async () => {
      const c = await opened();
      const f = queueDeclare(0, 'x'.repeat(90)); // header says ~100 bytes; 17 arrive
      c.send(f.subarray(0, 17));
      c.socket.end();
      await c.waitClosed();
      await brokerIsHealthy();
    });

    it('a frame whose end octet is not 0xCE is a FRAME_ERROR', async () => {
      const c = await opened();
      c.send(frame(FRAME_METHOD, 1, Buffer.concat([u16(20), u16(10), shortstr('')]), 0x00)); // channel.open, bad end
      await c.expectClose(FRAME_ERROR);
      await brokerIsHealthy();
    });

    it('a frame far larger than the negotiated frame-max is a FRAME_ERROR', async () => {
      const c = await opened(); // frame-max 4096
      c.send(frame(FRAME_METHOD, 1, Buffer.alloc(10_000 - 8)));
      await c.expectClose(FRAME_ERROR);
      await brokerIsHealthy();
    });

    it('a frame of exactly frame-max is accepted', async () => {
      const c = await opened();
      await openChannel(c, 1);
      // queue.declare whose arguments table pads the frame to 4096 bytes:
      // overhead 8, ids 4, reserved 2, queue '' 1, bits 1, table length 4, entry head 7
      const pad = 4096 - 8 - 4 - 2 - 1 - 1 - 4 - 7;
      const table = Buffer.concat([shortstr('p'), Buffer.from('S'), longstr(Buffer.alloc(pad, 'x'))]);
      const f = method(1, 50, 10, u16(0), shortstr(''), u8(0), u32(table.length), table);
      expect(f.length).toBe(4096);
      c.send(f);
      const ok = await c.readFrame();
      expect([ok?.channel, ok?.classId, ok?.methodId]).toEqual([1, 50, 11]); // declare-ok
      c.destroy();
      await brokerIsHealthy();
    });

    // RabbitMQ lets a frame run up to 8 bytes over frame-max (its
    // FRAME_SIZE_FUDGE: "quite a few [clients] get it wrong - off-by 1 or 8");
    // one more byte is a frame error.
    it('a frame up to 8 bytes over frame-max is tolerated, as RabbitMQ does', async () => {
      const c = await opened();
      await openChannel(c, 1);
      const pad = 4096 + 8 - 8 - 4 - 2 - 1 - 1 - 4 - 7;
      const table = Buffer.concat([shortstr('p'), Buffer.from('S'), longstr(Buffer.alloc(pad, 'x'))]);
      c.send(method(1, 50, 10, u16(0), shortstr(''), u8(0), u32(table.length), table));
      const ok = await c.readFrame();
      expect([ok?.channel, ok?.classId, ok?.methodId], 'queue.declare-ok for a 4104-byte frame').toEqual([1, 50, 11]);
      c.destroy();
      await brokerIsHealthy();
    });

    it('a frame 9 bytes over frame-max is a FRAME_ERROR', async () => {
      const c = await opened();
      c.send(frame(FRAME_METHOD, 1, Buffer.alloc(4096 + 9 - 8)));
      await c.expectClose(FRAME_ERROR);
      await brokerIsHealthy();
    });

    it('an unknown frame type is a FRAME_ERROR', async () => {
      const c = await opened();
      c.send(frame(5, 0, Buffer.from('hi')));
      await c.expectClose(FRAME_ERROR);
      await brokerIsHealthy();
    });

    it('a method on a channel that was never opened is a CHANNEL_ERROR, a content frame there an UNEXPECTED_FRAME, in RabbitMQ 3.10.8\'s words', async () => {
      const c = await opened();
      c.send(queueDeclare(5, 'never-opened'));
      await c.expectClose(CHANNEL_ERROR, { text: "CHANNEL_ERROR - expected 'channel.open'" });
      const size = Buffer.alloc(8);
      size.writeBigUInt64BE(1n);
      for (const content of [frame(2, 5, Buffer.concat([u16(60), u16(0), size, u16(0)])), frame(3, 5, Buffer.from('x'))]) {
        const d = await opened();
        d.send(content);
        await d.expectClose(UNEXPECTED_FRAME, { text: 'UNEXPECTED_FRAME - expected method frame, got non method frame instead' });
      }
      await brokerIsHealthy();
    });

    // RabbitMQ 3.x answers active=false with "NOT_IMPLEMENTED - active=false": a consumer slows down with basic.qos.
    it('channel.flow active=true is answered flow-ok; active=false is NOT_IMPLEMENTED, and the deliveries it held go back', async () => {
      const q = `flow-off-${workers}`;
      await witnessCh.assertQueue(q);
      const c = await opened();
      await openChannel(c, 1);
      const nextMethod = async () => {
        for (;;) {
          const f = await c.readFrame();
          expect(f, 'the server closed the socket').not.toBeNull();
          if (f!.type === FRAME_METHOD) return [f!.channel, f!.classId, f!.methodId, f!.payload] as const;
        }
      };
      c.send(method(1, 60, 20, u16(0), shortstr(q), shortstr('held'), u8(0), u32(0))); // basic.consume, acks
      expect((await nextMethod()).slice(0, 3)).toEqual([1, 60, 21]);
      for (let i = 0; i < 5; i++) witnessCh.sendToQueue(q, Buffer.from(`m${i}`));
      for (let i = 0; i < 5; i++) expect((await nextMethod()).slice(0, 3)).toEqual([1, 60, 60]);
      c.send(method(1, 20, 20, u8(1)));
      const [, , , okPayload] = await nextMethod();
      expect([...okPayload.subarray(0, 5)], 'channel.flow-ok active=true').toEqual([0, 20, 0, 21, 1]);
      c.send(method(1, 20, 20, u8(0)));
      const [channel0, classId, methodId, closePayload] = await nextMethod();
      expect([channel0, classId, methodId, closePayload.readUInt16BE(4)]).toEqual([0, 10, 50, 540]);
      expect(closePayload.subarray(7, 7 + closePayload[6]).toString()).toBe('NOT_IMPLEMENTED - active=false');
      c.send(closeOk());
      await c.waitClosed();
      const back = await collect(witnessCh, q, 5);
      expect(back.map((m) => [m.content.toString(), m.fields.redelivered]).sort()).toEqual([0, 1, 2, 3, 4].map((i) => [`m${i}`, true]));
      await witnessCh.deleteQueue(q);
      await brokerIsHealthy();
    });

    // What RabbitMQ 3.10.8 answers, side by side (a raw probe): a method only a server sends,
    // or a connection method once open, closes the connection with 504 on channel 0 and
    // 503 on a channel.
    it.each([
      ['connection.close-ok, unasked', 0, 10, 51, [], CHANNEL_ERROR],
      ['connection.blocked', 0, 10, 60, [shortstr('low')], CHANNEL_ERROR],
      ['connection.unblocked', 0, 10, 61, [], CHANNEL_ERROR],
      ['connection.tune again', 0, 10, 30, [u16(0), u32(0), u16(0)], CHANNEL_ERROR],
      ['channel.open on channel 0', 0, 20, 10, [shortstr('')], CHANNEL_ERROR],
      ['basic.qos on channel 0', 0, 60, 10, [u32(0), u16(1), u8(0)], CHANNEL_ERROR],
      ['confirm.select-ok', 1, 85, 11, [], COMMAND_INVALID],
      ['tx.select-ok', 1, 90, 11, [], COMMAND_INVALID],
      ['basic.get-empty', 1, 60, 72, [shortstr('')], COMMAND_INVALID],
      ['channel.open-ok', 1, 20, 11, [longstr('')], COMMAND_INVALID],
    ] as const)('%s closes the connection with its code', async (_, ch, classId, methodId, args, code) => {
      const c = await opened();
      await openChannel(c, 1);
      c.send(method(ch, classId, methodId, ...args));
      await c.expectClose(code);
      await brokerIsHealthy();
    });

    // Gone from 0-9-1, but old clients send it and RabbitMQ answers with a ticket.
    it('access.request is answered access.request-ok', async () => {
      const c = await opened();
      await openChannel(c, 1);
      c.send(method(1, 30, 10, shortstr('/data'), u8(0x1f)), queueDeclare(1, ''));
      const ok = await c.nextMethod(1, 30, 11);
      expect(ok.payload.readUInt16BE(4), 'the ticket').toBe(1);
      await c.nextMethod(1, 50, 11);
      await brokerIsHealthy();
    });

    it('after its connection.close the server ignores other frames until close-ok', async () => {
      const c = await opened();
      // the channel.open that follows the bad frame gets no open-ok
      c.send(queueDeclare(5, 'never-opened'), method(5, 20, 10, shortstr('')));
      const f = await c.readFrame();
      expect([f?.channel, f?.classId, f?.methodId]).toEqual([0, 10, 50]);
      c.send(closeOk());
      expect(await c.readFrame()).toBeNull();
      await brokerIsHealthy();
    });

    // The spec (4.2.7) says heartbeats use channel 0 and a bad one is a
    // FRAME_ERROR (501); RabbitMQ answers UNEXPECTED_FRAME (505), as warren does.
    it('a heartbeat frame on a non-zero channel is UNEXPECTED_FRAME', async () => {
      const c = await opened();
      await openChannel(c, 1);
      c.send(frame(8, 1, Buffer.alloc(0)));
      await c.expectClose(UNEXPECTED_FRAME, { ms: 2000 });
      await brokerIsHealthy();
    });

    it('a heartbeat frame with a payload is a FRAME_ERROR', async () => {
      const c = await opened();
      c.send(frame(8, 0, Buffer.from('xx')));
      await c.expectClose(FRAME_ERROR, { ms: 2000 });
      await brokerIsHealthy();
    });

    it.each([0, 1])('a method frame too short for its class and method ids (channel %i) is a FRAME_ERROR', async (ch) => {
      const c = await opened();
      if (ch !== 0) await openChannel(c, ch);
      c.send(frame(FRAME_METHOD, ch, u16(50)));
      await c.expectClose(FRAME_ERROR);
      await brokerIsHealthy();
    });

    it('a method frame with truncated arguments is a FRAME_ERROR', async () => {
      const c = await opened();
      await openChannel(c, 1);
      c.send(method(1, 50, 10, u16(0), u8(20), Buffer.from('abc'))); // queue name says 20 bytes, 3 follow
      await c.expectClose(FRAME_ERROR);
      await brokerIsHealthy();
    });

    // basic.publish is read by hand, in place in the socket's chunk: a length octet
    // must not lead it into the bytes after the frame (here a heartbeat sent in the same write).
    it.each([
      ['no arguments at all', Buffer.alloc(0)],
      ['only reserved-1', u16(0)],
      ['an exchange longer than the frame', Buffer.concat([u16(0), u8(20), Buffer.from('abc')])],
      ['a routing key longer than the frame', Buffer.concat([u16(0), shortstr(''), u8(9), Buffer.from('q')])],
      ['no flags octet', Buffer.concat([u16(0), shortstr(''), shortstr('q')])],
      ['a byte after the flags', Buffer.concat([u16(0), shortstr(''), shortstr('q'), u8(0), u8(0)])],
    ])('a basic.publish with %s is a SYNTAX_ERROR', async (_, args) => {
      const c = await opened();
      await openChannel(c, 1);
      c.send(Buffer.concat([method(1, 60, 40, args), frame(8, 0, Buffer.alloc(0))]));
      await c.expectClose(SYNTAX_ERROR);
      await brokerIsHealthy();
    });

    it('a content header too short for its fixed fields is a FRAME_ERROR', async () => {
      const c = await opened();
      await openChannel(c, 1);
      c.send(method(1, 60, 40, u16(0), shortstr(''), shortstr('q'), u8(0))); // basic.publish
      c.send(frame(2, 1, Buffer.concat([u16(60), u16(0)]))); // no body-size, no flags
      await c.expectClose(FRAME_ERROR);
      await brokerIsHealthy();
    });

    // RabbitMQ 3.10.8's codes, side by side (a raw probe): both are frames it did not expect.
    it.each([
      ['a content header with weight 1', u16(1), ['abc']],
      ['a body frame past the declared size', u16(0), ['abcd']],
      ['a second body frame past the declared size', u16(0), ['ab', 'cd']],
    ])('%s is UNEXPECTED_FRAME and nothing is stored', async (_, weight, bodies) => {
      const q = await target();
      const c = await opened();
      await openChannel(c, 1);
      c.send(method(1, 60, 40, u16(0), shortstr(''), shortstr(q), u8(0)));
      c.send(frame(2, 1, Buffer.concat([u16(60), weight, u32(0), u32(3), u16(0)])));
      for (const b of bodies) c.send(frame(3, 1, Buffer.from(b)));
      await c.expectClose(UNEXPECTED_FRAME);
      await untouched(q);
      await brokerIsHealthy();
    });

    // RabbitMQ: "unexpected method in connection state running", a CHANNEL_ERROR.
    it.each([
      ['connection.open', () => open('/')],
      ['connection.tune-ok', () => tuneOk(4096)],
    ])('%s after open-ok is a CHANNEL_ERROR, as in RabbitMQ', async (_, make) => {
      const c = await opened();
      c.send(make());
      await c.expectClose(CHANNEL_ERROR);
      await brokerIsHealthy();
    });
  });

  /** A queue made by the witness, for a bad client to aim at. */
  async function target(): Promise<string> {
    const q = `target-${workers}-${++n}`;
    await witnessCh.assertQueue(q, { autoDelete: false });
    return q;
  }

  /** Nothing reached the queue and nothing consumes it; then the witness deletes it. */
  async function untouched(q: string): Promise<void> {
    expect(await witnessCh.checkQueue(q)).toEqual({ queue: q, messageCount: 0, consumerCount: 0 });
    await witnessCh.deleteQueue(q);
  }

  // RabbitMQ 3.10 checks every shortstr argument of a method it decodes (not
  // those of basic.publish, which it reads by hand, nor table keys and values):
  // connection.close 501 "FRAME_ERROR - Malformed UTF-8 in shortstr".
  describe('malformed UTF-8 in a method shortstr', () => {
    const BAD = Buffer.from([0x61, 0xff, 0xfe, 0x62]);
    const OVERLONG = Buffer.from([0xc0, 0x80]); // NUL encoded in two bytes
    const SURROGATE = Buffer.from([0xed, 0xa0, 0x80]); // U+D800
    const CUT = Buffer.from([0x61, 0xe2, 0x82]); // '€' missing its last byte
    const ss = (b: Buffer) => Buffer.concat([u8(b.length), b]);

    it.each([
      ['queue.declare queue', BAD, (q: string, bad: Buffer) => method(1, 50, 10, u16(0), ss(bad), u8(0), u32(0))],
      ['queue.declare queue (overlong)', OVERLONG, (q: string, bad: Buffer) => method(1, 50, 10, u16(0), ss(bad), u8(0), u32(0))],
      ['queue.declare queue (surrogate)', SURROGATE, (q: string, bad: Buffer) => method(1, 50, 10, u16(0), ss(bad), u8(0), u32(0))],
      ['exchange.declare exchange', CUT, (q: string, bad: Buffer) => method(1, 40, 10, u16(0), ss(bad), shortstr('direct'), u8(0), u32(0))],
      ['queue.bind routing key', BAD, (q: string, bad: Buffer) => method(1, 50, 20, u16(0), shortstr(q), shortstr('amq.direct'), ss(bad), u8(0), u32(0))],
      ['basic.consume consumer tag', BAD, (q: string, bad: Buffer) => method(1, 60, 20, u16(0), shortstr(q), ss(bad), u8(0), u32(0))],
      ['basic.get queue', CUT, (q: string, bad: Buffer) => method(1, 60, 70, u16(0), ss(bad), u8(1))],
      ['queue.delete queue', BAD, (q: string, bad: Buffer) => method(1, 50, 40, u16(0), ss(bad), u8(0))],
    ])('in %s closes the connection with 501, as RabbitMQ does', async (_, bad, make) => {
      const q = await target();
      const c = await opened();
      await openChannel(c, 1);
      c.send(make(q, bad));
      const f = await c.readFrame();
      expect([f?.channel, f?.classId, f?.methodId]).toEqual([0, 10, 50]);
      expect(f!.payload.readUInt16BE(4)).toBe(FRAME_ERROR);
      expect(f!.payload.subarray(7, 7 + f!.payload[6]).toString()).toContain('Malformed UTF-8 in shortstr');
      c.send(closeOk());
      await c.waitClosed();
      // no binding was made: a message for that key goes nowhere
      await witnessCh.publish('amq.direct', 'a\ufffd\ufffdb', Buffer.from('x'));
      await untouched(q);
      await brokerIsHealthy();
    });

    it('in basic.publish\'s routing key is accepted, as RabbitMQ does, and the key is delivered as sent', async () => {
      const q = await target();
      await witnessCh.bindQueue(q, 'amq.fanout', '');
      const c = await opened();
      await openChannel(c, 1);
      c.send(
        method(1, 60, 40, u16(0), shortstr('amq.fanout'), ss(BAD), u8(0)),
        frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(1), u16(0)])),
        frame(3, 1, Buffer.from('1')),
        method(1, 60, 70, u16(0), shortstr(q), u8(1)), // basic.get
      );
      const getOk = await c.readFrame();
      expect([getOk?.channel, getOk?.classId, getOk?.methodId]).toEqual([1, 60, 71]);
      // get-ok: tag (8), redelivered (1), exchange, routing key
      const exchangeAt = 4 + 8 + 1;
      const keyAt = exchangeAt + 1 + getOk!.payload[exchangeAt];
      expect(getOk!.payload.subarray(keyAt, keyAt + 1 + BAD.length)).toEqual(ss(BAD));
      c.destroy();
      await witnessCh.unbindQueue(q, 'amq.fanout', '');
      await untouched(q);
      await brokerIsHealthy();
    });
  });

  // RabbitMQ 3.10 decodes the properties of every publish and, when they are
  // malformed, closes the connection with 541 INTERNAL_ERROR and stores nothing.
  // It accepts the spare flag bit 1 and any bytes inside strings.
  describe('malformed content-header properties', () => {
    const props = (hex: string) => Buffer.from(hex.replace(/ /g, ''), 'hex');

    it.each([
      ['headers table of 0xFFFFFFFF bytes', '2000 ffffffff'],
      ['a content-type running past the end', '8000 0a 616263'],
      ['trailing bytes', '0000 6a756e6b'],
      ['trailing bytes after delivery-mode', '1000 02 6a756e6b'],
      ['the continuation bit', '0001 0000'],
      ['no flags word', ''],
      ['an unknown field type in headers', '2000 00000003 016b5a'],
      ['a table entry cut inside its key', '2000 00000003 056162'],
      ['a nested table longer than its parent', '2000 00000007 016b46 00000064'],
      ['a cut timestamp', '0040 00000001'],
    ])('%s closes the publisher\'s connection with 541 and stores nothing', async (_, hex) => {
      const q = await target();
      const c = await opened();
      await openChannel(c, 1);
      c.send(method(1, 85, 10, u8(0))); // confirm.select: no ack may come for the message
      const selectOk = await c.readFrame();
      expect([selectOk?.classId, selectOk?.methodId]).toEqual([85, 11]);
      c.send(
        method(1, 60, 40, u16(0), shortstr(''), shortstr(q), u8(0)),
        frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(1), props(hex)])),
        frame(3, 1, Buffer.from('1')),
      );
      await c.expectClose(541);
      await untouched(q);
      await brokerIsHealthy();
    });

    it('the spare flag bit and malformed UTF-8 inside properties are accepted, as RabbitMQ does', async () => {
      const q = await target();
      const c = await opened();
      await openChannel(c, 1);
      const cases = ['1002 02', '8000 04 61fffe62', '2000 0000000a 04 61fffe62 53 00000000'];
      for (const hex of cases) {
        c.send(
          method(1, 60, 40, u16(0), shortstr(''), shortstr(q), u8(0)),
          frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(1), props(hex)])),
          frame(3, 1, Buffer.from('1')),
        );
      }
      c.send(method(1, 50, 10, u16(0), shortstr(q), u8(1), u32(0))); // passive declare: after the publishes
      const ok = await c.readFrame();
      expect([ok?.classId, ok?.methodId]).toEqual([50, 11]);
      c.destroy();
      for (const hex of cases) {
        const msg = await witnessCh.get(q, { noAck: true });
        expect(msg && msg.content.toString()).toBe('1');
      }
      await untouched(q);
      await brokerIsHealthy();
    });
  });

  it('a body size of 2^62 gets a 406 that names the exact size', async () => {
    const q = await target();
    const c = await opened();
    await openChannel(c, 1);
    c.send(
      method(1, 60, 40, u16(0), shortstr(''), shortstr(q), u8(0)),
      frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0x4000_0000), u32(0), u16(0)])),
    );
    const f = await c.readFrame();
    expect([f?.channel, f?.classId, f?.methodId]).toEqual([1, 20, 40]); // channel.close
    expect(f!.payload.readUInt16BE(4)).toBe(406);
    expect(f!.payload.subarray(7, 7 + f!.payload[6]).toString()).toMatch(/^PRECONDITION_FAILED - message size 4611686018427387904 is larger than configured max size \d+$/);
    c.destroy();
    await untouched(q);
    await brokerIsHealthy();
  });

  it('a topic binding of 63 #s apart and a 128-word routing key route at once, the message counted where it matches', async () => {
    // Walked path by path, this publish tried every way to share 127 a's among 63 #s: the broker hung.
    const conn = await connect(broker.url);
    try {
      const ch = await channel(conn);
      const x = `hashes-${workers}`;
      await ch.assertExchange(x, 'topic', { autoDelete: true });
      const q = (await ch.assertQueue('', { exclusive: true })).queue;
      await ch.bindQueue(q, x, Array(63).fill('#.a').join('.'));
      ch.publish(x, [...Array(127).fill('a'), 'b'].join('.'), Buffer.from('no match'));
      ch.publish(x, Array(127).fill('a').join('.'), Buffer.from('match'));
      expect((await ch.checkQueue(q)).messageCount).toBe(1);
      expect(((await ch.get(q, { noAck: true })) as amqp.GetMessage).content.toString()).toBe('match');
    } finally {
      await conn.close();
    }
    await brokerIsHealthy();
  });
});
