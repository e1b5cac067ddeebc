/**
 * tx.select: a channel's buffered publishes and settlements (ack, nack,
 * reject), applied in order at tx.commit and dropped at tx.rollback. A publish
 * is routed when it comes and goes at commit where it was routed then, as in
 * RabbitMQ (a binding made or removed in between does not change it). As in
 * RabbitMQ, settled deliveries leave the unacked set at once (a second ack of
 * the same tag is refused) and go back to it on rollback. tx.commit-ok waits
 * until the shards stored the commit's publishes (PendingCommits).
 */
import type { ExchangeRecord, QueueRecord } from '../routing/topology.js';

/** Where a transaction's publish was routed when it came: at commit it goes there (RabbitMQ's rule). */
export interface TxRoute {
  exchange: ExchangeRecord;
  queues: QueueRecord[];
  /** its CC and BCC keys (for the publish event at commit) */
  ccKeys: readonly string[] | undefined;
}

/**
 * A publish kept until commit, with its route: one copy of its bytes (frame
 * views do not outlive the turn), the exchange and routing key shortstrs,
 * properties and body one after another in `data`.
 */
export interface BufferedPublish extends TxRoute {
  kind: 'publish';
  data: Buffer;
  keyAt: number;
  propertiesAt: number;
  bodyAt: number;
  flags: number;
}

/** basic.ack / nack / reject kept until commit (consecutive ones of one action together): the deliveries they took. */
export interface BufferedSettle {
  kind: 'settle';
  action: number;
  taken: TakenDeliveries;
}

export type TxOp = BufferedPublish | BufferedSettle;

/**
 * What a buffered publish costs in the V8 heap besides its bytes: the op, its
 * Buffer object, its list of queues. Measured through an inline broker:
 * 300,000 empty publishes to one queue grow heapUsed by 389 bytes each.
 */
export const TX_PUBLISH_HEAP = 390;

/**
 * Deliveries that settlements took out of the unacked set, six numbers each
 * (tag, kind, link index, queue id, message id, sent at) in one typed array:
 * an ack multiple inside a transaction can take millions, and an object each
 * would fill the heap.
 */
export class TakenDeliveries {
  private fields = new Float64Array(6 * 4);
  length = 0;

  /** What it holds, outside the V8 heap. */
  get bytes(): number {
    return this.fields.byteLength;
  }

  push(tag: number, kind: number, link: number, queueId: number, msgId: number, sentAt: number): void {
    let at = this.length * 6;
    if (at === this.fields.length) {
      const grown = new Float64Array(this.fields.length * 2);
      grown.set(this.fields);
      this.fields = grown;
    }
    const f = this.fields;
    f[at++] = tag;
    f[at++] = kind;
    f[at++] = link;
    f[at++] = queueId;
    f[at++] = msgId;
    f[at] = sentAt;
    this.length++;
  }

  forEach(visit: (tag: number, kind: number, link: number, queueId: number, msgId: number, sentAt: number) => void): void {
    const f = this.fields;
    for (let at = 0; at < this.length * 6; at += 6) visit(f[at], f[at + 1], f[at + 2], f[at + 3], f[at + 4], f[at + 5]);
  }
}

export class Transaction {
  private ops: TxOp[] = [];
  /** Bytes held by buffered operations, a publish's heap overhead included (they count against the memory watermark). */
  bytes = 0;
  /** Buffered publishes (the management API's messages_uncommitted). */
  publishes = 0;
  /** Deliveries held by buffered settlements (the management API's acks_uncommitted). */
  settling = 0;

  /** What the buffered publishes cost in the V8 heap (their settlements' arrays are outside it). */
  get heapBytes(): number {
    return this.publishes * TX_PUBLISH_HEAP;
  }

  publish(exchange: Buffer, routingKey: Buffer, flags: number, properties: Buffer, body: Buffer[], bodySize: number, route: TxRoute): void {
    const keyAt = exchange.length;
    const propertiesAt = keyAt + routingKey.length;
    const bodyAt = propertiesAt + properties.length;
    const data = Buffer.allocUnsafe(bodyAt + bodySize);
    exchange.copy(data, 0);
    routingKey.copy(data, keyAt);
    properties.copy(data, propertiesAt);
    let at = bodyAt;
    for (const part of body) at += part.copy(data, at);
    this.ops.push({ kind: 'publish', data, keyAt, propertiesAt, bodyAt, flags, exchange: route.exchange, queues: route.queues, ccKeys: route.ccKeys });
    this.bytes += data.length + TX_PUBLISH_HEAP;
    this.publishes++;
  }

  /** A delivery a settlement took: it joins the last operation when that settles with the same action. */
  settle(action: number, tag: number, kind: number, link: number, queueId: number, msgId: number, sentAt: number): void {
    let last = this.ops[this.ops.length - 1];
    if (last?.kind !== 'settle' || last.action !== action) {
      last = { kind: 'settle', action, taken: new TakenDeliveries() };
      this.ops.push(last);
      this.bytes += last.taken.bytes;
    }
    const before = last.taken.bytes;
    last.taken.push(tag, kind, link, queueId, msgId, sentAt);
    this.bytes += last.taken.bytes - before;
    this.settling++;
  }

  /** The oldest operation, removed; what is left stays for rollback if applying it fails. */
  next(): TxOp | undefined {
    const op = this.ops.shift();
    if (op?.kind === 'publish') {
      this.bytes -= op.data.length + TX_PUBLISH_HEAP;
      this.publishes--;
    } else if (op !== undefined) {
      this.bytes -= op.taken.bytes;
      this.settling -= op.taken.length;
    }
    return op;
  }

  /** Drops everything; returns the deliveries that buffered settlements took. */
  rollback(): TakenDeliveries[] {
    const taken: TakenDeliveries[] = [];
    for (const op of this.ops) if (op.kind === 'settle') taken.push(op.taken);
    this.ops = [];
    this.bytes = 0;
    this.publishes = 0;
    this.settling = 0;
    return taken;
  }
}

/**
 * tx.commits waiting for the shards to store their publishes (the channel's
 * ConfirmTracker numbers them), oldest first: a client may send the next one
 * before the answer to the last.
 */
export class PendingCommits {
  /** each commit's last publish seq, and whether a queue refused one of its publishes */
  private readonly commits: { lastSeq: number; refused: boolean }[] = [];

  get waiting(): boolean {
    return this.commits.length > 0;
  }

  /** A commit routed its publishes; the last one got `lastSeq`. */
  add(lastSeq: number): void {
    this.commits.push({ lastSeq, refused: false });
  }

  /** The shards answered publishes `first` to `last`: not stored fails the commits they belong to. */
  answered(first: number, last: number, stored: boolean): void {
    if (stored) return;
    let from = 1;
    for (const commit of this.commits) {
      if (commit.lastSeq >= first && from <= last) commit.refused = true;
      from = commit.lastSeq + 1;
    }
  }

  /**
   * Answers, in order, the commits whose publishes were all answered (every
   * seq up to `through`): `ok` for each stored whole. Returns false at the
   * first one refused, forgetting the rest (the channel closes).
   */
  settle(through: number, ok: () => void): boolean {
    while (this.commits.length > 0 && this.commits[0].lastSeq <= through) {
      if (this.commits.shift()!.refused) {
        this.commits.length = 0;
        return false;
      }
      ok();
    }
    return true;
  }
}
