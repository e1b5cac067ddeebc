/** Builders of the acceptor's ring records, as the shard tests write them. */
import * as R from '../../src/shard/records.js';

export const shortstr = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);

/** A message block (src/shard/records.ts) from its parts. */
export function block(exchange: string, routingKey: string, properties: Buffer, body: Buffer | string): Buffer {
  const bytes = Buffer.from(body);
  const buf = Buffer.alloc(R.blockSize(shortstr(exchange).length + shortstr(routingKey).length, properties.length, bytes.length));
  R.writeBlock(buf, 0, shortstr(exchange), shortstr(routingKey), properties, [bytes], bytes.length);
  return buf;
}

/** PUBLISH of a block, or of a text body sent to exchange 'ex' with key 'rk'; `msgIds`: PUBLISH_LEASED, one per queue. */
export function publishRecord(
  queueIds: number[],
  message: Buffer | string,
  { flags = 0, channelRef = 0, publishId = 0, msgIds }: { flags?: number; channelRef?: number; publishId?: number; msgIds?: number[] } = {},
): Buffer {
  const content = typeof message === 'string' ? block('ex', 'rk', Buffer.alloc(0), message) : message;
  const buf = Buffer.alloc(R.publishRecordSize(queueIds.length, content.length, msgIds !== undefined));
  content.copy(buf, R.writePublishHeader(buf, 0, flags, channelRef, publishId, queueIds, msgIds));
  return buf;
}

export function controlRecord(requestId: number, control: object): Buffer {
  const head = Buffer.alloc(R.CONTROL_HEADER);
  head[0] = R.A2S_CONTROL;
  head.writeUInt32LE(requestId, 1);
  return Buffer.concat([head, R.packControl(control)]);
}

/** SETTLE of (queueId, msgId) pairs. */
export function settleRecord(action: number, entries: [number, number][]): Buffer {
  const buf = Buffer.alloc(R.SETTLE_HEADER + R.SETTLE_ENTRY * entries.length);
  buf[0] = R.A2S_SETTLE;
  buf[1] = action;
  buf.writeUInt32LE(entries.length, 2);
  entries.forEach(([queueId, msgId], i) => {
    buf.writeUInt32LE(queueId, R.SETTLE_HEADER + R.SETTLE_ENTRY * i);
    buf.writeDoubleLE(msgId, R.SETTLE_HEADER + R.SETTLE_ENTRY * i + 4);
  });
  return buf;
}

/** CREDIT of (consumerId, written) pairs. */
export const creditRecord = (credits: [number, number][]): Buffer => countsRecord(R.A2S_CREDIT, credits);

/** DIRECT of (queueId, delivered) pairs. */
export const directRecord = (counts: [number, number][]): Buffer => countsRecord(R.A2S_DIRECT, counts);

function countsRecord(type: number, counts: [number, number][]): Buffer {
  const buf = Buffer.alloc(R.COUNTS_HEADER + R.COUNTS_ENTRY * counts.length);
  buf[0] = type;
  buf.writeUInt32LE(counts.length, 1);
  counts.forEach(([id, n], i) => {
    buf.writeUInt32LE(id, R.COUNTS_HEADER + R.COUNTS_ENTRY * i);
    buf.writeUInt32LE(n, R.COUNTS_HEADER + R.COUNTS_ENTRY * i + 4);
  });
  return buf;
}
