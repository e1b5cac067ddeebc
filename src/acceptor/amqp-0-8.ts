/**
 * AMQP 0-8 as RabbitMQ speaks it, to clients whose protocol header asks for it
 * (Mono's .NET client by default, old py-amqplib). RabbitMQ's 0-8 method table
 * is 0-9-1's but for a few methods, so a 0-8 connection runs warren's 0-9-1 code
 * with those translated at its edges: connection.close and close-ok are 10/60
 * and 10/61 (0-9-1's connection.blocked and unblocked; 10/50 is 0-8's
 * connection.redirect, which only a server sends), channel.open-ok has no
 * field, basic.consume no arguments table, and basic.nack, exchange.bind and
 * unbind and connection.update-secret do not exist. The handshake never
 * tells a 0-8 client connection.blocked.
 */
import { FRAME_METHOD } from '../protocol/constants.js';
import * as M from '../protocol/methods.generated.js';
import type { OutputBuffer } from '../protocol/output-buffer.js';

/** 0-8's header as its spec writes the version (8-0), and as the spec on the AMQP site had it (9-1): RabbitMQ takes both. */
export const AMQP_0_8_HEADERS = [Buffer.from('AMQP\x01\x01\x08\x00', 'latin1'), Buffer.from('AMQP\x01\x01\x09\x01', 'latin1')];

const method = (classId: number, methodId: number): number => ((classId << 16) | methodId) >>> 0;
const CLOSE_0_8 = method(10, 60);
const CLOSE_OK_0_8 = method(10, 61);
const NO_ARGUMENTS = Buffer.alloc(4);
const UNKNOWN_IN_0_8 = new Set([
  M.CONNECTION_CLOSE, // 0-8's connection.redirect
  M.CONNECTION_CLOSE_OK,
  M.BASIC_NACK,
  M.EXCHANGE_BIND,
  M.EXCHANGE_UNBIND,
  M.CONNECTION_UPDATE_SECRET,
]);

/** A 0-8 method frame's payload as the 0-9-1 code reads it: a copy with the id or fields it needs, or null where the bytes read the same. */
export function methodFrom08(buf: Buffer, start: number, end: number): Buffer | null {
  const id = buf.readUInt32BE(start);
  if (id === CLOSE_0_8 || id === CLOSE_OK_0_8) {
    const payload = Buffer.from(buf.subarray(start, end));
    payload.writeUInt32BE(id === CLOSE_0_8 ? M.CONNECTION_CLOSE : M.CONNECTION_CLOSE_OK, 0);
    return payload;
  }
  if (id === M.BASIC_CONSUME) return Buffer.concat([buf.subarray(start, end), NO_ARGUMENTS]);
  if (UNKNOWN_IN_0_8.has(id)) throw M.unknownMethod(id);
  return null;
}

/** The few frames a 0-8 connection writes otherwise than a 0-9-1 one. */
export const AMQP_0_8_WRITERS = {
  versionMajor: 8,
  versionMinor: 0,
  connectionClose(out: OutputBuffer, a: M.ConnectionClose): void {
    const start = out.beginFrame(FRAME_METHOD, 0);
    out.u32(CLOSE_0_8);
    out.u16(a.replyCode);
    out.replyText(a.replyText);
    out.u16(a.classId);
    out.u16(a.methodId);
    out.endFrame(start);
  },
  connectionCloseOk(out: OutputBuffer): void {
    const start = out.beginFrame(FRAME_METHOD, 0);
    out.u32(CLOSE_OK_0_8);
    out.endFrame(start);
  },
  channelOpenOk(out: OutputBuffer, channel: number): void {
    const start = out.beginFrame(FRAME_METHOD, channel);
    out.u32(M.CHANNEL_OPEN_OK);
    out.endFrame(start);
  },
};

/** The same frames in 0-9-1. */
export const AMQP_0_9_1_WRITERS: typeof AMQP_0_8_WRITERS = {
  versionMajor: 0,
  versionMinor: 9,
  connectionClose: (out, a) => M.writeConnectionClose(out, 0, a),
  connectionCloseOk: (out) => M.writeConnectionCloseOk(out, 0, {}),
  channelOpenOk: (out, channel) => M.writeChannelOpenOk(out, channel, { channelId: Buffer.alloc(0) }),
};
