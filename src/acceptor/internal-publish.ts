/**
 * A publish that comes from inside the broker (the management API's POST
 * /api/exchanges/.../publish and aliveness test, the amq.rabbitmq.log lines):
 * routed by the vhost topology like an AMQP one and written as PUBLISH records
 * straight into the target shards' rings; no channel, so no return. One that
 * names an InternalConfirms waits for its queues' answers, as RabbitMQ's
 * management API publishes through a confirm channel.
 */
import type { ShardLink } from './shard-link.js';
import { OutputBuffer } from '../protocol/output-buffer.js';
import { decodeBasicProperties, encodeBasicProperties, type BasicProperties } from '../protocol/methods.generated.js';
import { deliveryMode } from '../protocol/properties-validator.js';
import { HEADERS_FLAG_BYTE0, senderSelected } from '../routing/sender-selected.js';
import type { InternalConfirms } from './internal-confirms.js';
import { PUBLISH_CONFIRM, PUBLISH_PERSISTENT, blockSize, publishRecordSize, writeBlock, writePublishHeader } from '../shard/records.js';
import type { Destination, ExchangeRecord, VHost } from '../routing/topology.js';
import type { OutputScheduler } from './output-scheduler.js';

/** What an internal publish needs of the broker: the shards' rings. */
export interface RingHost {
  readonly links: readonly ShardLink[];
  readonly output: Pick<OutputScheduler, 'linkDirty'>;
}

/**
 * Routes a message like an AMQP publish (exchange-to-exchange bindings,
 * alternate exchanges) and writes one PUBLISH record per target shard;
 * returns whether it reached any queue. With `confirms`, `answers` resolves
 * with whether every queue kept it (false: one refused it, a length limit
 * with reject-publish, or its shard stopped).
 */
export function publish(
  host: RingHost,
  vhost: VHost,
  exchange: ExchangeRecord,
  routingKey: string,
  /** decoded, or an encoded property list (the firehose's, whose copied headers keep their bytes) */
  properties: BasicProperties | Buffer,
  payload: Buffer,
  confirms?: InternalConfirms,
): { routed: boolean; answers: Promise<boolean> } {
  const encoded = Buffer.isBuffer(properties) ? properties : encode(properties);
  const decoded = Buffer.isBuffer(properties) ? () => decodeBasicProperties(encoded, 0, encoded.length) : () => properties;
  // CC and BCC route as they do for a client's publish (a CC that is no array: RabbitMQ's 406), and BCC is not kept.
  const selected = (encoded[0] & HEADERS_FLAG_BYTE0) === 0 ? null : senderSelected(encoded);
  const props = selected?.properties ?? encoded;
  const routed = new Set<Destination>();
  vhost.route(exchange, routingKey, { headers: () => decoded().headers }, routed, selected?.keys);
  const byShard = new Map<number, number[]>();
  exchange.publishIn++;
  for (const d of routed) {
    if (d.kind !== 'queue') continue;
    exchange.publishOut++;
    const ids = byShard.get(d.shard) ?? [];
    byShard.set(d.shard, ids);
    ids.push(d.id);
  }
  const flags = (deliveryMode(encoded, 0) === 2 ? PUBLISH_PERSISTENT : 0) | (confirms === undefined ? 0 : PUBLISH_CONFIRM);
  const answers: Promise<boolean>[] = [];
  for (const [shard, ids] of byShard) {
    const link = host.links[shard];
    writePublish(host, link, exchange, routingKey, flags, confirms?.ref ?? 0, props, payload, ids);
    if (confirms !== undefined) answers.push(confirms.expect(link));
  }
  return { routed: byShard.size > 0, answers: Promise.all(answers).then((kept) => kept.every(Boolean)) };
}

function writePublish(host: RingHost, link: ShardLink, exchange: ExchangeRecord, routingKey: string, flags: number, channelRef: number, props: Buffer, payload: Buffer, queueIds: number[]): void {
  const exchangeBytes = shortstr(exchange.name);
  const keyBytes = shortstr(routingKey);
  const w = link.writer;
  link.beginPublish(queueIds, publishRecordSize(queueIds.length, blockSize(exchangeBytes.length + keyBytes.length, props.length, payload.length)));
  const p = writePublishHeader(w.buf, w.offset, flags, channelRef, 0, queueIds);
  writeBlock(w.buf, p, exchangeBytes, keyBytes, props, [payload], payload.length);
  link.endPublish();
  host.output.linkDirty(link);
}

function encode(properties: BasicProperties): Buffer {
  const out = new OutputBuffer(256);
  encodeBasicProperties(out, properties); // throws for a header key over 255 bytes, say
  return out.take();
}

function shortstr(s: string): Buffer {
  const bytes = Buffer.from(s);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}
