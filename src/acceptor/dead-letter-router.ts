/**
 * Dead-lettering, the acceptor's half: a shard sends a dead message back in a
 * DEAD_LETTER record (its block addressed to the dead-letter exchange, with the
 * death headers, see shard/dead-letter.ts), and it is routed here like a
 * publish, to queues on any shard: no confirms, no mandatory. A dead-letter
 * exchange that does not exist drops it silently, as RabbitMQ does.
 *
 * Cycles, as RabbitMQ 3.10 (rabbit_dead_letter:detect_cycles): unless it was
 * rejected, a message is not dead-lettered into a queue it already died in when
 * no death since then (that one included) was a rejection.
 */
import { decodeBasicProperties, type BasicProperties } from '../protocol/methods.generated.js';
import type { FieldTable, FieldValue } from '../protocol/field-types.js';
import { deliveryMode } from '../protocol/properties-validator.js';
import type { Destination, VHost } from '../routing/topology.js';
import { BlockView, PUBLISH_PERSISTENT, publishRecordSize, writePublishHeader } from '../shard/records.js';
import type { ShardLink } from './shard-link.js';

export class DeadLetterRouter {
  private readonly routed = new Set<Destination>();
  /** queue ids per shard for the message being routed */
  private readonly targets: number[][];
  private readonly view = new BlockView();

  constructor(
    private readonly links: readonly ShardLink[],
    private readonly linkDirty: (link: ShardLink) => void,
  ) {
    this.targets = links.map(() => []);
  }

  /** Routes the dead message whose block is buf[blockAt..end) in `topology`. */
  route(topology: VHost, buf: Buffer, blockAt: number, end: number): void {
    const v = this.view.read(buf, blockAt);
    const exchange = topology.exchanges.get(buf.toString('utf8', blockAt + 1, v.routingKeyAt));
    if (exchange === undefined) return;
    const routingKey = buf.toString('utf8', v.routingKeyAt + 1, v.propertiesAt - 4);
    let props: BasicProperties | undefined;
    const headers = (): FieldTable | undefined => (props ??= decodeBasicProperties(buf, v.propertiesAt, v.propertiesEnd)).headers;
    // Without a dead-letter routing key it goes by the keys it was published with, CC ones too (BCC ones are gone).
    const cc = headers()?.CC;
    const ccKeys = Array.isArray(cc) ? cc.filter((key): key is string => typeof key === 'string') : undefined;
    topology.route(exchange, routingKey, { headers }, this.routed, ccKeys);
    const deaths = headers()?.['x-death'];
    const automatic = Array.isArray(deaths) && field(deaths[0], 'reason') !== 'rejected';
    for (const destination of this.routed) {
      if (destination.kind !== 'queue') continue;
      if (automatic && isCycle(destination.name, deaths as FieldValue[])) continue;
      this.targets[destination.shard].push(destination.id);
    }
    this.routed.clear();
    const flags = deliveryMode(buf, v.propertiesAt) === 2 ? PUBLISH_PERSISTENT : 0;
    for (let shard = 0; shard < this.targets.length; shard++) {
      const queueIds = this.targets[shard];
      if (queueIds.length === 0) continue;
      const link = this.links[shard];
      const w = link.writer;
      link.beginPublish(queueIds, publishRecordSize(queueIds.length, end - blockAt));
      buf.copy(w.buf, writePublishHeader(w.buf, w.offset, flags, 0, 0, queueIds), blockAt, end);
      link.endPublish();
      this.linkDirty(link);
      queueIds.length = 0;
    }
  }
}

/** The deaths up to and including the last one in `queue` (newest first) are all automatic (none rejected). */
function isCycle(queue: string, deaths: FieldValue[]): boolean {
  const at = deaths.findIndex((d) => field(d, 'queue') === queue);
  if (at < 0) return false;
  for (let i = 0; i <= at; i++) if (field(deaths[i], 'reason') === 'rejected' || field(deaths[i], 'reason') === undefined) return false;
  return true;
}

function field(d: FieldValue, key: string): FieldValue | undefined {
  if (typeof d !== 'object' || d === null || Array.isArray(d) || Buffer.isBuffer(d) || d instanceof Date) return undefined;
  return (d as FieldTable)[key];
}
