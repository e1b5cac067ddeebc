/**
 * Ring record layouts between the acceptor and a shard. Hot records (publish,
 * settle, deliver) are laid out by hand; rare control records carry msgpack.
 * docs/ARCHITECTURE.md shows the same layouts.
 *
 * A message travels as a "block", copied once into the ring and once out (an
 * inline shard's DELIVER records hand theirs over by reference: BlockHandoff):
 *   u8 exchangeLen, exchange, u8 routingKeyLen, routingKey,   (AMQP shortstrs)
 *   u32 propertiesLen, properties (content-header property bytes, verbatim),
 *   u32 bodyLen, body
 * The first two fields are exactly basic.deliver's exchange and routing-key
 * arguments, so deliveries copy them without decoding.
 */
import { Packr } from 'msgpackr';
import { copyBytes } from '../protocol/copy-bytes.js';
import { readU32LE, writeU32LE } from '../protocol/uint32.js';
import { writeF64LE } from '../protocol/float64.js';
import type { RingWriter } from './ring-writer.js';

/** Acceptor -> shard */
export const A2S_PUBLISH = 1;
export const A2S_SETTLE = 2;
export const A2S_CONTROL = 3;
export const A2S_CREDIT = 4;
export const A2S_DIRECT = 5;
export const A2S_LEASE_END = 6;
/** Shard -> acceptor */
export const S2A_DELIVER = 1;
export const S2A_GET_OK = 2;
export const S2A_REPLY = 3;
export const S2A_IMMEDIATE = 4;
export const S2A_CONFIRM = 5;
export const S2A_QUEUE_FLOW = 6;
export const S2A_MEMORY = 7;
export const S2A_DEAD_LETTER = 8;
export const S2A_QUEUE_EXPIRED = 9;
export const S2A_LEASE = 10;

export const PUBLISH_MANDATORY = 1;
export const PUBLISH_IMMEDIATE = 2;
/** the channel is in confirm mode: the shard reports when the message is safe */
export const PUBLISH_CONFIRM = 4;
/** delivery-mode 2: a durable target queue keeps it on disk */
export const PUBLISH_PERSISTENT = 8;
/** the queue ids are followed by an f64 message id each: not 0, the acceptor delivered it under that queue's lease (an acking consumer's) with that id */
export const PUBLISH_LEASED = 16;
/** flags bits 5-7: bytes left unused before the block, placing its body for the copy (alignPad); the record may run on past the block */
export const PUBLISH_PAD_SHIFT = 5;
/** DELIVER and GET_OK: bit 0 of the second byte is `redelivered`, bits 1-3 the bytes left unused before the block */
export const DELIVER_PAD_SHIFT = 1;
/** DELIVER: bit 4 of the second byte, the delivery took a place under its channel's global limit (ChannelLimits) */
export const DELIVER_COUNTED = 16;
/** DELIVER: bit 5 of the second byte, the record carries no block: it is the next message in the link's BlockHandoff (an inline shard) */
export const DELIVER_BY_REFERENCE = 32;
/** A DELIVER or GET_OK record at buf[at..]: its redelivered flag. */
export const isRedelivered = (buf: Buffer, at: number): boolean => (buf[at + 1] & 1) === 1;
/** A DELIVER record at buf[at..]: whether it took a place under its channel's global limit. */
export const isCounted = (buf: Buffer, at: number): boolean => (buf[at + 1] & DELIVER_COUNTED) !== 0;
/** A DELIVER record at buf[at..]: whether its block was handed over by reference (BlockHandoff). */
export const isByReference = (buf: Buffer, at: number): boolean => (buf[at + 1] & DELIVER_BY_REFERENCE) !== 0;
/** A DELIVER or GET_OK record at buf[at..] whose header is `headerSize` bytes: where its block begins. */
export const deliveredBlockAt = (buf: Buffer, at: number, headerSize: number): number => at + headerSize + ((buf[at + 1] >>> DELIVER_PAD_SHIFT) & 7);

export const SETTLE_ACK = 0;
export const SETTLE_REQUEUE = 1;
export const SETTLE_DROP = 2;

/** PUBLISH: u8 type, u8 flags, u16 queueCount, u32 channelRef, u32 publishId, u32 queueId * n, [f64 msgId * n with PUBLISH_LEASED], pad, block, [slack] */
export const PUBLISH_HEADER = 12;
/** SETTLE: u8 type, u8 action, u32 count, (u32 queueId, f64 msgId) * count */
export const SETTLE_HEADER = 6;
export const SETTLE_ENTRY = 12;
/**
 * Counts per id (beginCounts), CREDIT and DIRECT alike: u8 type, u32 count, (u32 id, u32 n) * count.
 * CREDIT: per consumer id, deliveries now in the connection's output.
 * DIRECT: per queue id, publishes the acceptor delivered itself under the queue's lease.
 */
export const COUNTS_HEADER = 5;
export const COUNTS_ENTRY = 8;
/** LEASE_END: u8 type, u32 queueId: the acceptor gave back (or declined) the queue's lease */
export const LEASE_END_SIZE = 5;
/**
 * LEASE: u8 type, u32 queueId, u32 consumerId, f64 position (acceptor records
 * handled when offered), f64 nextId (the queue's next message id), u32 room
 * (deliveries its prefetch allows; UNLIMITED_ROOM: no limit, or no acks)
 */
export const LEASE_SIZE = 29;
export const UNLIMITED_ROOM = 0xffffffff;
/** DELIVER: u8 type, u8 redelivered | pad << 1 | DELIVER_COUNTED, u32 consumerId, u32 queueId, f64 msgId, pad, block, [slack] */
export const DELIVER_HEADER = 18;
/** GET_OK: u8 type, u8 redelivered | pad << 1, u32 requestId, u32 queueId, f64 msgId, u32 messageCount, pad, block, [slack] */
export const GET_OK_HEADER = 22;
/** IMMEDIATE: u8 type, u8 delivered, u32 channelRef, u32 publishId, block (only when not delivered) */
export const IMMEDIATE_HEADER = 10;
/**
 * CONFIRM: u8 type, u32 count, (u32 channelRef, u32 stored, u32 refused) * count.
 * Each entry: the next `stored` confirm-mode publishes this shard got from that
 * channel are safe, then the next `refused` ones were refused. A channel's
 * publishes reach a shard in order through one ring, so counts are enough.
 */
export const CONFIRM_HEADER = 5;
export const CONFIRM_ENTRY = 12;
/** QUEUE_FLOW: u8 type, u8 congested, u32 queueId */
export const QUEUE_FLOW_SIZE = 6;
/** MEMORY: u8 type, u8 flags (MEMORY_*), f64 bytes (what the shard's ready messages cost) */
export const MEMORY_SIZE = 10;
/** the shard's heap is filling up */
export const MEMORY_HEAP_ALARM = 1;
/** the shard's store failed (a write or fsync threw): nothing more goes to disk */
export const MEMORY_STORE_FAILED = 2;
/**
 * DEAD_LETTER: u8 type, u32 queueId (where it died), block: exchange = the
 * dead-letter exchange, routing key = the one to route with, properties with
 * the death headers. The acceptor routes it like a publish.
 */
export const DEAD_LETTER_HEADER = 5;
/** QUEUE_EXPIRED: u8 type, u32 queueId: unused for its x-expires, the acceptor deletes it */
export const QUEUE_EXPIRED_SIZE = 5;
/** CONTROL / REPLY: u8 type, u32 requestId, msgpack */
export const CONTROL_HEADER = 5;

const packr = new Packr({ useRecords: false });
/** The 'stats' control reply: this many numbers per queue (see Shard.queueStats). */
export const QUEUE_STATS_FIELDS = 19;

export const packControl = (value: unknown): Buffer => packr.pack(value);
/**
 * Control records are read from a ring, a view of a SharedArrayBuffer, which
 * msgpackr's native string decoder (msgpackr-extract) refuses for strings of
 * 32 bytes or more. They are rare, so copy the record out before decoding.
 */
export const unpackControl = (buf: Buffer, start: number, end: number): any => packr.unpack(Buffer.from(buf.subarray(start, end)));

/** Size of a PUBLISH record to `queueCount` queues carrying a block of `blockBytes` (`leased`: with message ids). */
export function publishRecordSize(queueCount: number, blockBytes: number, leased = false): number {
  return PUBLISH_HEADER + (leased ? 12 : 4) * queueCount + blockBytes;
}

/**
 * Queue entries of clients' publishes that may be in a shard's input ring, not
 * yet taken, before their publishers are paused. Bytes alone do not bound them:
 * a publish to a fanout of 1,000 queues is 4 bytes a queue, and they become
 * entries in the shard's heap once the memory alarm has paused the publishers.
 */
export const PUBLISH_WINDOW = 65_536;

/**
 * The queue entries a record at buf[at..] brings when it is a client's PUBLISH
 * (channelRef not 0), else 0: what the acceptor's publish window counts.
 */
export function clientEntries(buf: Buffer, at: number): number {
  if (buf[at] !== A2S_PUBLISH || readU32LE(buf, at + 4) === 0) return 0;
  return buf[at + 2] | (buf[at + 3] << 8);
}

/**
 * Writes a PUBLISH record's header and queue ids at buf[at..]; returns where
 * its block goes. channelRef 0: a publish from inside the broker (dead letters,
 * the management API, log lines), nothing to confirm or return. `msgIds`, one
 * per queue id (0: not delivered): the record is PUBLISH_LEASED.
 */
export function writePublishHeader(buf: Buffer, at: number, flags: number, channelRef: number, publishId: number, queueIds: readonly number[], msgIds?: readonly number[]): number {
  buf[at] = A2S_PUBLISH;
  buf[at + 1] = msgIds === undefined ? flags : flags | PUBLISH_LEASED;
  buf[at + 2] = queueIds.length;
  buf[at + 3] = queueIds.length >>> 8;
  writeU32LE(buf, at + 4, channelRef);
  writeU32LE(buf, at + 8, publishId);
  let p = at + PUBLISH_HEADER;
  for (let i = 0; i < queueIds.length; i++, p += 4) writeU32LE(buf, p, queueIds[i]);
  if (msgIds !== undefined) for (let i = 0; i < msgIds.length; i++, p += 8) writeF64LE(buf, p, msgIds[i]);
  return p;
}

/** The block's two u32 length fields, of the properties and of the body. */
const BLOCK_LENGTHS = 8;

/**
 * Size of a block; `namesLen` is that of the exchange and routing key in
 * shortstr form (length octet first), as basic.publish carries them.
 */
export function blockSize(namesLen: number, propertiesLen: number, bodyLen: number): number {
  return namesLen + BLOCK_LENGTHS + propertiesLen + bodyLen;
}

/** Where the block starting at buf[at] ends (its record may run on past it: alignSlack). */
export function blockEnd(buf: Buffer, at: number): number {
  const routingKeyAt = at + 1 + buf[at];
  const propertiesLenAt = routingKeyAt + 1 + buf[routingKeyAt];
  const propertiesEnd = propertiesLenAt + 4 + readU32LE(buf, propertiesLenAt);
  return propertiesEnd + 4 + readU32LE(buf, propertiesEnd);
}

/** Where each part of the block starting at `at` lies. */
export class BlockView {
  buf!: Buffer;
  start = 0;
  /** start of the routing-key shortstr (the exchange shortstr begins at start) */
  routingKeyAt = 0;
  propertiesAt = 0;
  propertiesEnd = 0;
  bodyAt = 0;
  end = 0;

  read(buf: Buffer, at: number): this {
    this.buf = buf;
    this.start = at;
    this.routingKeyAt = at + 1 + buf[at];
    const propertiesLenAt = this.routingKeyAt + 1 + buf[this.routingKeyAt];
    this.propertiesAt = propertiesLenAt + 4;
    this.propertiesEnd = this.propertiesAt + readU32LE(buf, propertiesLenAt);
    this.bodyAt = this.propertiesEnd + 4;
    this.end = this.bodyAt + readU32LE(buf, this.propertiesEnd);
    return this;
  }

  get bodySize(): number {
    return this.end - this.bodyAt;
  }
}

/**
 * Writes a block at buf[at..] from its parts as they arrived: the exchange and
 * routing key as shortstr bytes, the raw properties, and the body chunks.
 * Returns the end offset.
 */
export function writeBlock(
  buf: Buffer,
  at: number,
  exchange: Buffer,
  routingKey: Buffer,
  properties: Buffer,
  body: Buffer[],
  bodySize: number,
): number {
  at += copyBytes(exchange, 0, exchange.length, buf, at);
  at += copyBytes(routingKey, 0, routingKey.length, buf, at);
  at = writeBlockProperties(buf, at, properties, 0, properties.length, bodySize);
  return copyParts(body, buf, at);
}

/**
 * The block after its exchange and routing key, up to its body: the
 * properties src[propertiesAt..propertiesEnd) and the body's length.
 * Returns where the body goes.
 */
export function writeBlockProperties(
  buf: Buffer,
  at: number,
  src: Buffer,
  propertiesAt: number,
  propertiesEnd: number,
  bodySize: number,
  /** src's and buf's, where the caller holds them (copyBytes) */
  srcView: DataView | null = null,
  view: DataView | null = null,
): number {
  writeU32LE(buf, at, propertiesEnd - propertiesAt);
  at += 4;
  at += copyBytes(src, propertiesAt, propertiesEnd, buf, at, srcView, view);
  writeU32LE(buf, at, bodySize);
  return at + 4;
}

/** Copies `parts` one after the other to buf[at..]; returns the end offset. */
export function copyParts(parts: readonly Buffer[], buf: Buffer, at: number): number {
  for (let i = 0; i < parts.length; i++) at += copyBytes(parts[i], 0, parts[i].length, buf, at);
  return at;
}

/** Begins a CREDIT or DIRECT record with `counts` on `w`; the caller ends it (loud or quiet). */
export function beginCounts(w: RingWriter, type: number, counts: ReadonlyMap<number, number>): void {
  w.begin(COUNTS_HEADER + counts.size * COUNTS_ENTRY);
  const { buf } = w;
  let p = w.offset;
  buf[p] = type;
  writeU32LE(buf, p + 1, counts.size);
  p += COUNTS_HEADER;
  for (const [id, n] of counts) {
    writeU32LE(buf, p, id);
    writeU32LE(buf, p + 4, n);
    p += COUNTS_ENTRY;
  }
}
