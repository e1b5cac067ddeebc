import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FRAME_END, FRAME_METHOD } from '../../src/protocol/constants.js';
import { AmqpError, ReplyCode } from '../../src/protocol/errors.js';
import * as M from '../../src/protocol/methods.generated.js';
import { OutputBuffer } from '../../src/protocol/output-buffer.js';
import {
  baseType,
  bytes,
  camel,
  int,
  pascal,
  pick,
  readFrames,
  rng,
  spec,
  str,
  table,
  type Rand,
  type SpecArg,
  errorOf,
} from './helpers.js';
import { shortstrText } from '../property/arbitraries.js';

// amqplib's own codec, as an independent implementation to cross-check against
const require = createRequire(import.meta.url);
const amqplibDefs = require('amqplib/lib/defs.js') as {
  encodeMethod(id: number, channel: number, fields: object): Buffer;
  decode(id: number, args: Buffer): Record<string, unknown>;
};

const api = M as unknown as Record<string, any>;

/** Arguments writers may omit; see RESERVED in tools/generate-methods.mjs. */
const RESERVED = new Set([
  'connection.open.capabilities',
  'connection.open.insist',
  'connection.open-ok.known-hosts',
  'channel.open.out-of-band',
  'channel.open-ok.channel-id',
  'basic.get-empty.cluster-id',
]);

interface MethodCase {
  name: string;
  id: number;
  typeName: string;
  constName: string;
  content: boolean;
  args: { name: string; field: string; type: string; reserved: boolean }[];
}

const methods: MethodCase[] = spec.classes.flatMap((c) =>
  c.methods.map((m) => ({
    name: `${c.name}.${m.name}`,
    id: (c.id << 16) | m.id,
    typeName: pascal(c.name) + pascal(m.name),
    constName: `${c.name}_${m.name}`.replace(/-/g, '_').toUpperCase(),
    content: m.content === true,
    args: m.arguments.map((a: SpecArg) => ({
      name: a.name,
      field: camel(a.name),
      type: baseType(a),
      reserved: a.name === 'ticket' || RESERVED.has(`${c.name}.${m.name}.${a.name}`),
    })),
  })),
);

type Value = boolean | number | string | Buffer | object;

function randomArg(r: Rand, type: string, amqplibCompatible = false): Value {
  switch (type) {
    case 'bit':
      return r() < 0.5;
    case 'octet':
      return pick(r, [0, 255, int(r, 0, 255)]);
    case 'short':
      return pick(r, [0, 0xffff, int(r, 0, 0xffff)]);
    case 'long':
      return pick(r, [0, 0xffffffff, int(r, 0, 0xffffffff)]);
    case 'longlong':
    case 'timestamp':
      return pick(r, [0, Number.MAX_SAFE_INTEGER, 0x100000000, int(r, 0, Number.MAX_SAFE_INTEGER)]);
    case 'shortstr':
      return str(r, 255);
    case 'longstr':
      // writers also accept strings; the decoder always returns a Buffer
      return !amqplibCompatible && r() < 0.3 ? str(r, 600) : bytes(r, 600);
    case 'table':
      return table(r, 0, { amqplibCompatible });
    default:
      throw new Error(`no generator for ${type}`);
  }
}

/** What decodeMethod must return for the given writer input. */
function expected(m: MethodCase, input: Record<string, Value | undefined>): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const a of m.args) {
    let v = input[a.field];
    if (v === undefined) v = a.type === 'bit' ? false : a.type === 'shortstr' ? '' : a.type === 'longstr' ? '' : 0;
    out[a.field] = a.type === 'longstr' && typeof v === 'string' ? Buffer.from(v) : v;
  }
  return out;
}

function encode(m: MethodCase, channel: number, args: object): Buffer {
  const out = new OutputBuffer(64);
  api[`write${m.typeName}`](out, channel, args);
  return out.take();
}

describe('generated method table', () => {
  it('has a constant, writer, name and content flag per method', () => {
    expect(methods.length).toBe(66);
    for (const m of methods) {
      expect(api[m.constName], m.constName).toBe(m.id);
      expect(typeof api[`write${m.typeName}`], m.typeName).toBe('function');
      expect(M.methodName(m.id)).toBe(m.name);
      expect(M.hasContent(m.id)).toBe(m.content);
    }
    expect(M.BASIC_PUBLISH).toBe(0x003c0028);
    expect(M.EXCHANGE_UNBIND_OK).toBe(0x00280033); // RabbitMQ's id (51), not 41
    expect(methods.filter((m) => m.content).map((m) => m.name)).toEqual([
      'basic.publish',
      'basic.return',
      'basic.deliver',
      'basic.get-ok',
    ]);
    expect(M.methodName(0x00630001)).toContain('99');
  });
});

describe('method round trips', () => {
  for (const m of methods) {
    it(`${m.name}: write -> frame reader -> decodeMethod`, () => {
      const r = rng(m.id);
      for (let i = 0; i < 40; i++) {
        const args: Record<string, Value> = {};
        for (const a of m.args) args[a.field] = randomArg(r, a.type);
        const channel = pick(r, [0, 1, 65535, int(r, 0, 65535)]);
        const wire = encode(m, channel, args);

        const frames = readFrames([wire]);
        expect(frames).toHaveLength(1);
        const f = frames[0];
        expect(f.type).toBe(FRAME_METHOD);
        expect(f.channel).toBe(channel);
        expect(wire[wire.length - 1]).toBe(FRAME_END);
        expect(f.payload.readUInt32BE(0)).toBe(m.id);

        const decoded = M.decodeMethod(m.id, f.payload, 4, f.payload.length);
        expect(decoded).toStrictEqual(expected(m, args));
        expect(Object.keys(decoded)).toEqual(m.args.map((a) => a.field));
      }
    });
  }

  it('writers default reserved arguments when they are missing', () => {
    for (const m of methods) {
      if (!m.args.some((a) => a.reserved)) continue;
      const r = rng(7);
      const args: Record<string, Value> = {};
      for (const a of m.args) if (!a.reserved) args[a.field] = randomArg(r, a.type);
      const wire = encode(m, 3, args);
      const decoded = M.decodeMethod(m.id, wire, 11, wire.length - 1);
      const want = expected(m, args);
      for (const a of m.args) if (a.reserved && a.type === 'longstr') want[a.field] = Buffer.alloc(0);
      expect(decoded, m.name).toStrictEqual(want);
    }
  });

  it('packs consecutive bits into one octet, low bit first', () => {
    const out = new OutputBuffer();
    M.writeQueueDeclare(out, 1, {
      queue: 'q',
      passive: true,
      durable: false,
      exclusive: true,
      autoDelete: false,
      nowait: true,
      arguments: {},
    });
    const wire = out.take();
    // 7 header + 4 id + 2 ticket + 2 "\x01q" => bits octet at 15, then the empty table
    expect(wire[15]).toBe(0b10101);
    expect(wire.readUInt32BE(16)).toBe(0);
    expect(wire.length).toBe(21);
  });

  it('matches a hand-written basic.publish frame byte for byte', () => {
    const out = new OutputBuffer();
    M.writeBasicPublish(out, 5, { exchange: 'ex', routingKey: 'rk', mandatory: true, immediate: false });
    const want = Buffer.from([
      1, 0, 5, 0, 0, 0, 13, 0, 60, 0, 40, 0, 0, 2, 0x65, 0x78, 2, 0x72, 0x6b, 1, 0xce,
    ]);
    expect(out.take()).toEqual(want);
  });
});

describe('cross-check with amqplib', () => {
  for (const m of methods) {
    it(`${m.name}: ours -> amqplib and amqplib -> ours`, () => {
      const r = rng(m.id ^ 0x5eed);
      for (let i = 0; i < 10; i++) {
        const args: Record<string, Value> = {};
        for (const a of m.args) args[a.field] = randomArg(r, a.type, true);
        const ours = encode(m, 9, args);
        expect(amqplibDefs.decode(m.id, ours.subarray(11, ours.length - 1))).toEqual(args);
        const theirs = amqplibDefs.encodeMethod(m.id, 9, args);
        expect(M.decodeMethod(m.id, theirs, 11, theirs.length - 1)).toStrictEqual(args);
      }
    });
  }
});

describe('decodeMethod errors', () => {
  const code = (f: () => unknown): number => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(AmqpError);
      return (e as AmqpError).code;
    }
    throw new Error('did not throw');
  };

  it('rejects every truncation of every method with FRAME_ERROR naming the method', () => {
    for (const m of methods) {
      const r = rng(m.id + 1);
      const args: Record<string, Value> = {};
      for (const a of m.args) args[a.field] = randomArg(r, a.type);
      const wire = encode(m, 1, args);
      const end = wire.length - 1;
      for (let cut = 11; cut < end; cut++) {
        expect(code(() => M.decodeMethod(m.id, wire, 11, cut)), `${m.name} cut at ${cut}`).toBe(ReplyCode.FRAME_ERROR);
      }
      try {
        if (end > 11) M.decodeMethod(m.id, wire, 11, end - 1);
      } catch (e) {
        const err = e as AmqpError;
        expect(err.message).toContain(`cannot decode ${m.name}`);
        expect(err.classId).toBe(m.id >>> 16);
        expect(err.methodId).toBe(m.id & 0xffff);
        expect(err.hard).toBe(true);
      }
    }
  });

  it('rejects trailing bytes', () => {
    const buf = Buffer.from([0, 0, 0, 1, 0xff]); // basic.ack args + one extra byte
    const ack = Buffer.alloc(9);
    expect(M.decodeMethod(M.BASIC_ACK, ack, 0, 9)).toEqual({ deliveryTag: 0, multiple: false });
    expect(code(() => M.decodeMethod(M.BASIC_ACK, Buffer.concat([ack, buf]), 0, 10))).toBe(ReplyCode.FRAME_ERROR);
    expect(code(() => M.decodeMethod(M.TX_SELECT, buf, 0, 1))).toBe(ReplyCode.FRAME_ERROR);
  });

  it('rejects an unknown method id with a hard COMMAND_INVALID', () => {
    for (const id of [0, 0x003c0029, 0x00630001, 0xffffffff]) {
      try {
        M.decodeMethod(id, Buffer.alloc(0), 0, 0);
        throw new Error('did not throw');
      } catch (e) {
        expect(e).toBeInstanceOf(AmqpError);
        expect((e as AmqpError).code).toBe(ReplyCode.COMMAND_INVALID);
        expect((e as AmqpError).hard).toBe(true);
      }
    }
  });

  it('rejects a table with an unknown field type with SYNTAX_ERROR', () => {
    // exchange.declare: ticket, "e", "direct", bits, table { k: 'Z' ... }
    const args = Buffer.from([0, 0, 1, 0x65, 6, ...Buffer.from('direct'), 0, 0, 0, 0, 3, 1, 0x6b, 0x5a]);
    expect(code(() => M.decodeMethod(M.EXCHANGE_DECLARE, args, 0, args.length))).toBe(ReplyCode.SYNTAX_ERROR);
  });

  it('respects offset and end inside a larger buffer', () => {
    const out = new OutputBuffer();
    M.writeBasicDeliver(out, 2, { consumerTag: 'c', deliveryTag: 42, redelivered: true, exchange: '', routingKey: 'k' });
    const frame = out.take();
    const padded = Buffer.concat([Buffer.from([9, 9, 9]), frame, Buffer.from([9, 9])]);
    expect(M.decodeMethod(M.BASIC_DELIVER, padded, 3 + 11, 3 + frame.length - 1)).toStrictEqual({
      consumerTag: 'c',
      deliveryTag: 42,
      redelivered: true,
      exchange: '',
      routingKey: 'k',
    });
  });

  it('decoded long strings do not alias the frame buffer', () => {
    const out = new OutputBuffer();
    M.writeConnectionSecureOk(out, 0, { response: 'secret' });
    const frame = out.take();
    const m = M.decodeMethod(M.CONNECTION_SECURE_OK, frame, 11, frame.length - 1) as M.ConnectionSecureOk;
    frame.fill(0);
    expect(m.response.toString()).toBe('secret');
  });
});

describe('shortstr arguments and UTF-8', () => {
  /** queue.declare's payload after the method id, with these queue-name bytes. */
  const declare = (name: Buffer) => Buffer.concat([Buffer.alloc(4), Buffer.from([0, 0, name.length]), name, Buffer.from([0, 0, 0, 0, 0])]);

  it('decodes any well-formed shortstr argument, 0-255 bytes', () => {
    fc.assert(
      fc.property(shortstrText(), (name) => {
        const payload = declare(Buffer.from(name));
        expect((M.decodeMethod(M.QUEUE_DECLARE, payload, 4, payload.length) as M.QueueDeclare).queue).toBe(name);
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['invalid bytes', 'ff'],
    ['a cut character', '61e282'],
    ['an overlong encoding', 'c080'],
    ['an encoded surrogate', 'eda080'],
    ['a code point above U+10FFFF', 'f4908080'],
  ])('refuses %s with FRAME_ERROR, as RabbitMQ does', (_, hex) => {
    const payload = declare(Buffer.from(hex, 'hex'));
    const e = errorOf(() => M.decodeMethod(M.QUEUE_DECLARE, payload, 4, payload.length));
    expect([e.code, e.hard]).toEqual([ReplyCode.FRAME_ERROR, true]);
    expect(e.message).toContain('Malformed UTF-8 in shortstr');
  });
});
