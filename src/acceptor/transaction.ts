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

/** A publish kept until commit: copies, since frame views do not outlive the turn. */
export interface BufferedPublish {
  kind: 'publish';
  /** exchange and routing key as shortstrs (length octet first) */
  exchange: Buffer;
  routingKey: Buffer;
  flags: number;
  properties: Buffer;
  body: Buffer;
  route: TxRoute;
}

/** basic.ack / nack / reject kept until commit: the deliveries it took, by tag. */
export interface BufferedSettle<D> {
  kind: 'settle';
  action: number;
  deliveries: [tag: number, delivery: D][];
}

export type TxOp<D> = BufferedPublish | BufferedSettle<D>;

export class Transaction<D> {
  private ops: TxOp<D>[] = [];
  /** Bytes held by buffered publishes (they count against the memory watermark). */
  bytes = 0;
  /** Deliveries held by buffered settlements (the management API's acks_uncommitted). */
  settling = 0;

  publish(exchange: Buffer, routingKey: Buffer, flags: number, properties: Buffer, body: Buffer[], bodySize: number, route: TxRoute): void {
    const copy: BufferedPublish = {
      kind: 'publish',
      exchange: Buffer.from(exchange),
      routingKey: Buffer.from(routingKey),
      flags,
      properties: Buffer.from(properties),
      body: Buffer.concat(body, bodySize), // always a fresh buffer
      route,
    };
    this.bytes += copy.exchange.length + copy.routingKey.length + copy.properties.length + bodySize;
    this.ops.push(copy);
  }

  settle(action: number, deliveries: [number, D][]): void {
    this.ops.push({ kind: 'settle', action, deliveries });
    this.settling += deliveries.length;
  }

  /** The oldest operation, removed; what is left stays for rollback if applying it fails. */
  next(): TxOp<D> | undefined {
    const op = this.ops.shift();
    if (op?.kind === 'publish') this.bytes -= op.exchange.length + op.routingKey.length + op.properties.length + op.body.length;
    else if (op !== undefined) this.settling -= op.deliveries.length;
    return op;
  }

  /** Publishes buffered (the management API's messages_uncommitted; counted only when asked). */
  get publishes(): number {
    let n = 0;
    for (const op of this.ops) if (op.kind === 'publish') n++;
    return n;
  }

  /** Drops everything; returns the deliveries that buffered settlements took. */
  rollback(): [number, D][] {
    const taken: [number, D][] = [];
    for (const op of this.ops) if (op.kind === 'settle') taken.push(...op.deliveries);
    this.ops = [];
    this.bytes = 0;
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
