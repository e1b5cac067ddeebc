/**
 * The answers warren gives to bad names, malformed UTF-8 and malformed
 * content properties, side by side with a real RabbitMQ's. Skipped unless
 * RABBITMQ_URL names one (tools/rabbitmq-crosscheck.sh starts a local
 * rabbitmq-server and runs this file); CI runs against warren alone, in
 * bad-input.test.ts and test/broker/errors.test.ts.
 *
 * Each case is sent on a fresh raw connection, followed by a passive declare
 * of the target queue: the first of connection.close, channel.close or
 * declare-ok is the answer. Then a separate connection counts what the queue
 * holds.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start } from '../helpers.js';
import type { RunningBroker } from '../../dist/src/index.js';
import { RawClient, closeOk, frame, method, shortstr, u16, u32, u8 } from './raw-client.js';

const RABBITMQ_URL = process.env.RABBITMQ_URL;

const ss = (b: Buffer) => Buffer.concat([u8(b.length), b]);
const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');
const BAD = hex('61 fffe 62');
const publish = (exchange: string, key: Buffer, properties: Buffer) => [
  method(1, 60, 40, u16(0), shortstr(exchange), ss(key), u8(0)),
  frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(1), properties])),
  frame(3, 1, Buffer.from('1')),
];

interface Answer {
  /** 'connection 501', 'channel 404' or 'ok' */
  answer: string;
  /** messages in the target queue afterwards */
  stored: number;
  /** the reply text, where a case compares it */
  text?: string;
}

/** name, frames (given the target queue, bound to amq.fanout), expected answer, whether the text must match too */
const CASES: [string, (q: string) => Buffer[], Omit<Answer, 'text'>, boolean?][] = [
  ['malformed UTF-8 in queue.declare', () => [method(1, 50, 10, u16(0), ss(BAD), u8(0), u32(0))], { answer: 'connection 501', stored: 0 }],
  ['overlong UTF-8 in queue.declare', () => [method(1, 50, 10, u16(0), ss(hex('c080')), u8(0), u32(0))], { answer: 'connection 501', stored: 0 }],
  ['malformed UTF-8 in exchange.declare', () => [method(1, 40, 10, u16(0), ss(BAD), shortstr('direct'), u8(0), u32(0))], { answer: 'connection 501', stored: 0 }],
  ['malformed UTF-8 in a queue.bind key', (q) => [method(1, 50, 20, u16(0), shortstr(q), shortstr('amq.direct'), ss(BAD), u8(0), u32(0))], { answer: 'connection 501', stored: 0 }],
  ['malformed UTF-8 in a consumer tag', (q) => [method(1, 60, 20, u16(0), shortstr(q), ss(BAD), u8(0), u32(0))], { answer: 'connection 501', stored: 0 }],
  ['malformed UTF-8 in basic.get', () => [method(1, 60, 70, u16(0), ss(BAD), u8(1))], { answer: 'connection 501', stored: 0 }],
  ['malformed UTF-8 in a table key', () => [method(1, 50, 10, u16(0), shortstr('crosscheck-args'), u8(0), u32(10), ss(BAD), hex('53 00000000'))], { answer: 'ok', stored: 0 }],
  ['malformed UTF-8 in a basic.publish key', () => publish('amq.fanout', BAD, hex('0000')), { answer: 'ok', stored: 1 }],
  ['headers table of 0xFFFFFFFF bytes', () => publish('amq.fanout', Buffer.from('k'), hex('2000 ffffffff')), { answer: 'connection 541', stored: 0 }],
  ['a content-type running past the end', () => publish('amq.fanout', Buffer.from('k'), hex('8000 0a 616263')), { answer: 'connection 541', stored: 0 }],
  ['trailing bytes after the properties', () => publish('amq.fanout', Buffer.from('k'), hex('1000 02 6a756e6b')), { answer: 'connection 541', stored: 0 }],
  ['the continuation flag bit', () => publish('amq.fanout', Buffer.from('k'), hex('0001 0000')), { answer: 'connection 541', stored: 0 }],
  ['no property flags', () => publish('amq.fanout', Buffer.from('k'), Buffer.alloc(0)), { answer: 'connection 541', stored: 0 }],
  ['an unknown field type in headers', () => publish('amq.fanout', Buffer.from('k'), hex('2000 00000003 016b5a')), { answer: 'connection 541', stored: 0 }],
  ['a cut timestamp', () => publish('amq.fanout', Buffer.from('k'), hex('0040 00000001')), { answer: 'connection 541', stored: 0 }],
  ['the spare flag bit 1', () => publish('amq.fanout', Buffer.from('k'), hex('1002 02')), { answer: 'ok', stored: 1 }],
  ['malformed UTF-8 in content-type', () => publish('amq.fanout', Buffer.from('k'), hex('8000 04 61fffe62')), { answer: 'ok', stored: 1 }],
  ['a passive declare of a missing 250-byte name', () => [method(1, 50, 10, u16(0), shortstr('q'.repeat(250)), u8(1), u32(0))], { answer: 'channel 404', stored: 0 }, true],
];

async function answer(port: number, url: string, make: (q: string) => Buffer[]): Promise<Answer> {
  const q = `crosscheck-${Math.random().toString(36).slice(2)}`;
  const admin = await amqp.connect(url);
  const ch = await admin.createChannel();
  await ch.assertQueue(q, { autoDelete: false });
  await ch.bindQueue(q, 'amq.fanout', '');
  const c = await RawClient.open(port);
  let result = '';
  let text: string | undefined;
  try {
    await c.handshake();
    c.send(method(1, 20, 10, shortstr('')));
    await c.readFrame();
    c.send(...make(q), method(1, 50, 10, u16(0), shortstr(q), u8(1), u32(0)));
    for (;;) {
      const f = await c.readFrame();
      if (f === null) {
        result = 'socket closed';
        break;
      }
      const close = (f.classId === 10 && f.methodId === 50) || (f.classId === 20 && f.methodId === 40);
      if (close) {
        result = `${f.classId === 10 ? 'connection' : 'channel'} ${f.payload.readUInt16BE(4)}`;
        text = f.payload.subarray(7, 7 + f.payload[6]).toString();
        if (f.classId === 10) c.send(closeOk());
        break;
      }
      if (f.classId === 50 && f.methodId === 11) {
        result = 'ok';
        break;
      }
    }
  } finally {
    c.destroy();
  }
  await new Promise((r) => setTimeout(r, 200)); // RabbitMQ enqueues asynchronously
  const { messageCount } = await ch.checkQueue(q);
  await ch.deleteQueue(q);
  await ch.deleteQueue('crosscheck-args').catch(() => {});
  await admin.close();
  return { answer: result, stored: messageCount, text };
}

describe.skipIf(!RABBITMQ_URL)('bad input: warren answers as RabbitMQ does', () => {
  let warren: RunningBroker;
  const rabbit = new URL(RABBITMQ_URL ?? 'amqp://localhost');

  beforeAll(async () => {
    warren = await start(0);
  });
  afterAll(async () => {
    await warren?.close();
  });

  it.each(CASES)('%s', async (_, make, expected, sameText) => {
    const theirs = await answer(Number(rabbit.port || 5672), RABBITMQ_URL!, make);
    const ours = await answer(warren.port, warren.url, make);
    expect({ answer: theirs.answer, stored: theirs.stored }, `RabbitMQ said '${theirs.text}'`).toEqual(expected);
    expect({ answer: ours.answer, stored: ours.stored }, `warren said '${ours.text}'`).toEqual(expected);
    if (sameText) expect(ours.text).toBe(theirs.text);
  });
});
