/**
 * A channel's last route: a publisher sends to the same exchange and routing
 * key over and over, so the queues (grouped per shard) that the last publish
 * reached are kept, keyed by the raw exchange and routing-key shortstrs as they
 * sit in the frame, and reused while the vhost's topology generation
 * (`VHost.generation`, bumped by every declare, delete, bind and unbind,
 * cascades included) is unchanged. A hit skips decoding both names, the
 * exchange lookup and `VHost.route`.
 *
 * Not cached (the caller's rule): a publish with CC/BCC headers, and a route
 * through a headers exchange, since both depend on the message's own headers.
 * Permission and property checks are not routing: they still run per publish.
 */
import type { ExchangeRecord } from '../routing/topology.js';
import { copyBytes } from '../protocol/copy-bytes.js';

export class RouteCache {
  /** exchange shortstr then routing-key shortstr, length octets included */
  private readonly key = Buffer.alloc(512);
  private exchangeLength = -1;
  private keyLength = -1;
  private generation = -1;
  /** the exchange of the cached route */
  exchange: ExchangeRecord | null = null;
  /** queue ids per shard index: the cached route after a hit or a remember(), scratch while routing a miss */
  readonly targets: number[][];
  /** how many shards in `targets` have queues */
  shards = 0;
  /** how many queues `targets` hold in all */
  queues = 0;

  constructor(shardCount: number) {
    this.targets = Array.from({ length: shardCount }, () => []);
  }

  /**
   * Whether `targets` hold the route of this exchange and key under this
   * topology generation: the exchange shortstr at names[exchangeAt..keyAt), the
   * key's at names[keyAt..keyEnd), side by side as basic.publish carries them.
   */
  hit(names: Buffer, exchangeAt: number, keyAt: number, keyEnd: number, generation: number): boolean {
    if (generation !== this.generation || keyAt - exchangeAt !== this.exchangeLength || keyEnd - keyAt !== this.keyLength) return false;
    const key = this.key;
    for (let i = exchangeAt, k = 0; i < keyEnd; i++, k++) if (names[i] !== key[k]) return false;
    return true;
  }

  /** Empties `targets` for a route to be grouped into them; forgets the cached one. */
  clear(): void {
    this.generation = -1;
    this.exchange = null;
    for (const queues of this.targets) queues.length = 0;
    this.shards = 0;
    this.queues = 0;
  }

  /** What was just grouped into `targets` is the route of this exchange and key. */
  remember(names: Buffer, exchangeAt: number, keyAt: number, keyEnd: number, generation: number, record: ExchangeRecord): void {
    // A loop below 64 bytes: a publisher whose keys vary misses every time and pays this each time.
    copyBytes(names, exchangeAt, keyEnd, this.key, 0);
    this.exchangeLength = keyAt - exchangeAt;
    this.keyLength = keyEnd - keyAt;
    this.generation = generation;
    this.exchange = record;
  }
}
