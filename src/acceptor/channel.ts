/**
 * One AMQP channel: routing publishes into shard rings, delivery tags and
 * unacked deliveries, consumers, qos and confirms. A publish's frames are
 * assembled by its IncomingMessage; method handlers live in one module per
 * AMQP class (exchange-, queue-, basic-methods).
 */
import { FRAME_BODY, FRAME_METHOD } from '../protocol/constants.js';
import { AmqpError, ReplyCode, channelError, connectionError, internalError } from '../protocol/errors.js';
import { expirationText, parseExpiration } from '../shard/expiry.js';
import * as M from '../protocol/methods.generated.js';
import { BlockView, PUBLISH_CONFIRM, PUBLISH_IMMEDIATE, PUBLISH_MANDATORY, PUBLISH_PAD_SHIFT, PUBLISH_PERSISTENT, SETTLE_ACK, SETTLE_DROP, SETTLE_REQUEUE, publishRecordSize, writePublishHeader } from '../shard/records.js';
import { alignSlack, copyBytes } from '../protocol/copy-bytes.js';
import { readU32BE } from '../protocol/uint32.js';
import type { Destination, ExchangeRecord, QueueRecord } from '../routing/topology.js';
import { typeOf } from '../vhost/queue-arguments.js';
import { senderSelected } from '../routing/sender-selected.js';
import { BUFFER_LIMIT, PAUSE_BACKLOG, type Connection } from './connection.js';
import type { ShardLink } from './shard-link.js';
import { ConfirmTracker } from './confirm-tracker.js';
import { ChannelStats } from './channel-stats.js';
import { PendingCommits, Transaction, type TxRoute } from './transaction.js';
import { exchangeMethod } from './exchange-methods.js';
import { queueMethod } from './queue-methods.js';
import { basicMethod } from './basic-methods.js';
import type { ConsumerRef, PrewrittenDeliver } from './consumer-registry.js';
import { REPLY_TO, replyToRewritten, type ReplyConsumer } from './direct-reply-to.js';
import { messageParts, publishEvent, type MessageParts, type Observers, type PublishEvent } from '../rig/observers.js';
import { PublishPermits } from '../auth/publish-permits.js';
import { ShortstrCache } from '../protocol/shortstr-cache.js';
import { RouteCache } from './route-cache.js';
import { COUNTED, DELIVERED, UNCOUNTED, UnackedWindow } from './unacked-window.js';
import { LIMIT_SLOTS } from '../shard/channel-limits.js';
import { IncomingMessage } from './incoming-message.js';

/** A transaction's buffered publishes ask the memory alarm to look every this many (about 1 MB of heap). */
const TX_HEAP_CHECK = 4096;

/** For the benchmark's regression gate: burn this many microseconds per publish. */
const INJECTED_DELAY_US = Number(process.env.WARREN_BENCH_DELAY_US ?? 0);

/** The user-id bit in a basic content header's property flags. */
const USER_ID_FLAG = 0x0010;
/** The expiration property: checked at publish, as RabbitMQ does (the shard reads it unchecked). */
const EXPIRATION_FLAG = 0x0100;

/** A channel keeps a read buffer only for views of at least this share of it (see holdsViewsOf). */
const HOLD_SHARE = 8;

export class Channel {
  /** closing: we sent channel.close and await close-ok; closed: released, gone */
  state: 'open' | 'closing' | 'closed' = 'open';
  /** release() ran: a channel the server closed is released then, and its connection's end must not count it again */
  private released = false;
  readonly consumers = new Map<string, ConsumerRef>();
  /** basic.consume of amq.rabbitmq.reply-to (direct reply-to), at most one per channel */
  replyConsumer: ReplyConsumer | null = null;
  private readonly unacked = new UnackedWindow();
  private nextTag = 0;
  /** basic.qos global=false: applies to consumers created afterwards */
  prefetchCount = 0;
  /** basic.qos global=true: shared by all consumers of the channel, on every shard (0: none) */
  globalPrefetch = 0;
  /** its slot in the broker's ChannelLimits, from its first global prefetch on; -1: none */
  limitSlot = -1;
  /** consumers gone whose deliveries may still come and count in the slot (ConsumerRegistry.retire) */
  retiring = 0;
  /**
   * Set in confirm mode (confirm.select: the client hears basic.ack/nack) and in tx
   * mode (tx.select: tx.commit-ok waits for it): knows when shards stored publishes
   */
  private confirms: ConfirmTracker | null = null;
  /** tx.commits waiting for the shards (tx mode) */
  private readonly commits = new PendingCommits();
  /** shards answered some publishes; the broker calls flushConfirms at the batch's end */
  private confirmsQueued = false;
  /** tx.select: publishes and settlements wait here for tx.commit */
  private tx: Transaction | null = null;
  /** for RabbitMQ's "empty queue name = last declared queue" shortcut */
  lastQueue = '';
  /** what the shards were last told about this channel's consumers */
  private consumersActive = true;
  /** Set while an awaited method (a shard round trip) runs; frames wait in order. */
  private busy = false;
  private readonly backlog: { type: number; payload: Buffer }[] = [];
  /** Global id, so shard records (immediate results) can find the channel. */
  readonly ref: number;
  /** totals for the management API (confirms: see messageStats) */
  private readonly stats = new ChannelStats();

  /** the publish being assembled, then routed */
  private readonly incoming: IncomingMessage;
  /** on the connection's inputHolders list */
  private listedAsInputHolder = false;

  private readonly routed = new Set<Destination>();
  /** the CC and BCC keys of the publish being routed (senderSelected), if it had any */
  private ccKeys: readonly string[] | undefined = undefined;
  /** per shard, the target queues its record names once leased ones are delivered (see deliverLeased) */
  private leftover: number[][] | null = null;
  /** per shard, beside `leftover`: each queue's message id, not 0 where delivered under a lease for a consumer that acks; empty if none was */
  private leasedIds: number[][] | null = null;
  /** the last route, and the queue ids per shard of the publish being routed */
  private readonly routeCache: RouteCache;
  /** (queue id, message id) pairs per shard for the settlements being gathered */
  private readonly settling: number[][];
  /** Shards this channel sent drops (reject or nack without requeue) since its last basic.get (see deadLettersRouted). */
  private readonly droppedOn = new Set<ShardLink>();
  private readonly view = new BlockView();
  /** write permission per exchange, checked once until permissions change */
  private readonly permits: PublishPermits;
  /** The last publish's exchange and routing key as text (decoded again only when they change). */
  private readonly exchangeText = new ShortstrCache();
  private readonly routingKeyText = new ShortstrCache();
  /** the routing key, for topic permissions only (most publishes never ask) */
  private readonly routingKeyNow = () => this.routingKeyText.get(this.incoming.routingKey);
  /** the broker's observing hooks: one flag read per message while nobody listens */
  private readonly observers: Observers;

  constructor(
    readonly id: number,
    readonly conn: Connection,
  ) {
    this.incoming = new IncomingMessage(conn);
    this.permits = new PublishPermits(conn.broker.access, conn.user, conn.vhost.name);
    this.ref = conn.broker.registerChannel(this);
    this.routeCache = new RouteCache(conn.broker.links.length);
    this.settling = conn.broker.links.map(() => []);
    this.observers = conn.broker.observers;
  }

  /** A frame whose payload is buf[start..end). */
  onFrame(type: number, buf: Buffer, start: number, end: number): void {
    if (this.busy) {
      this.holdInput();
      this.backlog.push({ type, payload: buf.subarray(start, end) });
      if ((this.conn.backlogBytes += end - start) > BUFFER_LIMIT) this.conn.pause(PAUSE_BACKLOG);
      return;
    }
    this.dispatch(type, buf, start, end);
  }

  private dispatch(type: number, buf: Buffer, start: number, end: number): void {
    if (this.state !== 'open') return this.whileClosing(type, buf.subarray(start, end));
    if (this.incoming.assembling) return this.content(type, buf, start, end);
    if (type !== FRAME_METHOD) {
      throw connectionError(ReplyCode.UNEXPECTED_FRAME, `unexpected content frame on channel ${this.id}: no basic.publish before it`);
    }
    const id = readU32BE(buf, start);
    if (id === M.BASIC_PUBLISH) return this.startPublish(buf, start, end);
    let result: void | Promise<void>;
    try {
      result = this.method(id, M.decodeMethod(id, buf, start + 4, end));
    } catch (err) {
      throw err instanceof AmqpError ? err.withMethod(id >>> 16, id & 0xffff) : err;
    }
    if (result instanceof Promise) this.await(result, id);
  }

  /** Holds this channel's later frames until an awaited method finishes. */
  private await(result: Promise<void>, id: number): void {
    this.busy = true;
    result.then(
      () => this.resume(),
      (err) => {
        this.conn.fail(err instanceof AmqpError ? err.withMethod(id >>> 16, id & 0xffff) : err, this);
        this.resume();
      },
    );
  }

  private resume(): void {
    this.busy = false;
    this.conn.dirty();
    while (!this.busy && this.backlog.length > 0) {
      const { type, payload } = this.backlog.shift()!;
      this.backlogShrank(payload.length);
      // Same guard as Connection.onFrame: errors close the channel or connection.
      try {
        this.dispatch(type, payload, 0, payload.length);
      } catch (err) {
        this.conn.fail(err, this);
      }
    }
  }

  private backlogShrank(bytes: number): void {
    if ((this.conn.backlogBytes -= bytes) <= BUFFER_LIMIT / 2) this.conn.unpause(PAUSE_BACKLOG);
  }

  /** confirm.select was sent: `confirms` answers the client (tx mode, which excludes it, uses it for commits) */
  private get confirmMode(): boolean {
    return this.confirms !== null && this.tx === null;
  }

  /** What the management API shows of this channel. */
  get info(): { unacked: number; confirm: boolean; transactional: boolean; unconfirmed: number; uncommitted: number; acksUncommitted: number } {
    const tx = this.tx;
    return {
      unacked: this.unacked.size,
      confirm: this.confirmMode,
      transactional: tx !== null,
      unconfirmed: this.confirmMode ? this.confirms!.unconfirmed : 0,
      uncommitted: tx === null ? 0 : tx.publishes,
      acksUncommitted: tx === null ? 0 : tx.settling,
    };
  }

  /** Its message_stats totals, confirms included. */
  get messageStats(): Readonly<ChannelStats> {
    this.stats.confirm = this.confirmMode ? this.confirms!.acked : 0;
    return this.stats;
  }

  /** Records that a basic.get found the queue empty. */
  countGetEmpty(): void {
    this.stats.getEmpty++;
  }

  /** What it holds (counted against the memory watermark): the body being received, the unacked set, a transaction's operations. */
  get heldBytes(): number {
    return this.incoming.receivedBytes + this.unacked.bytes + (this.tx === null ? 0 : this.tx.bytes);
  }

  /** What it holds in the V8 heap, by count: a transaction's buffered publishes, unacked deliveries kept apart from the window's ring. */
  get heapBytes(): number {
    return this.unacked.heapBytes + (this.tx === null ? 0 : this.tx.heapBytes);
  }

  private method(id: number, args: any): void | Promise<void> {
    switch (id >>> 16) {
      case M.CLASS_CHANNEL:
        return this.channelMethod(id, args);
      case M.CLASS_EXCHANGE:
        return exchangeMethod(this, id, args);
      case M.CLASS_QUEUE:
        return queueMethod(this, id, args);
      case M.CLASS_BASIC:
        return basicMethod(this, id, args);
      case M.CLASS_ACCESS:
        // Gone from 0-9-1 but sent by old clients; RabbitMQ grants a dummy ticket.
        if (id !== M.ACCESS_REQUEST) break;
        M.writeAccessRequestOk(this.conn.out, this.id, { ticket: 1 });
        return this.conn.dirty();
      case M.CLASS_CONFIRM:
        if (id !== M.CONFIRM_SELECT) break;
        if (this.tx !== null) throw channelError(ReplyCode.PRECONDITION_FAILED, 'cannot switch from tx to confirm mode');
        this.confirms ??= new ConfirmTracker(this.conn.broker.links.length, (seq, multiple, ack) => this.writeConfirm(seq, multiple, ack));
        if (!(args as M.ConfirmSelect).nowait) M.writeConfirmSelectOk(this.conn.out, this.id);
        return this.conn.dirty();
      case M.CLASS_TX:
        return this.txMethod(id);
    }
    throw connectionError(ReplyCode.COMMAND_INVALID, `unexpected ${M.methodName(id)} on a channel`);
  }

  private channelMethod(id: number, args: any): void {
    switch (id) {
      case M.CHANNEL_CLOSE:
        this.release();
        M.writeChannelCloseOk(this.conn.out, this.id);
        this.conn.forgetChannel(this);
        return this.conn.dirty();
      case M.CHANNEL_FLOW:
        // RabbitMQ (since 3.3) does not let a client pause its own deliveries; use basic.qos.
        if (!(args as M.ChannelFlow).active) throw connectionError(ReplyCode.NOT_IMPLEMENTED, 'active=false');
        M.writeChannelFlowOk(this.conn.out, this.id, { active: true });
        return this.conn.dirty();
      case M.CHANNEL_OPEN:
        throw connectionError(ReplyCode.CHANNEL_ERROR, `second 'channel.open' seen on channel ${this.id}`);
      default:
        throw connectionError(ReplyCode.COMMAND_INVALID, `unexpected ${M.methodName(id)}`);
    }
  }

  private txMethod(id: number): void {
    if (id === M.TX_SELECT) {
      if (this.confirmMode) throw channelError(ReplyCode.PRECONDITION_FAILED, 'cannot switch from confirm to tx mode');
      if (this.tx === null) {
        this.tx = new Transaction();
        this.confirms = new ConfirmTracker(this.conn.broker.links.length, (seq, _multiple, ack, first) => this.commits.answered(first, seq, ack));
      }
      M.writeTxSelectOk(this.conn.out, this.id);
      return this.conn.dirty();
    }
    if (id !== M.TX_COMMIT && id !== M.TX_ROLLBACK) throw connectionError(ReplyCode.COMMAND_INVALID, `unexpected ${M.methodName(id)}`);
    if (this.tx === null) throw channelError(ReplyCode.PRECONDITION_FAILED, 'channel is not transactional');
    if (id === M.TX_COMMIT) {
      this.commit(this.tx);
      // As RabbitMQ: commit-ok once the queues stored its publishes (on disk, where persistent)
      this.commits.add(this.confirms!.lastSeq);
      this.confirms!.flush();
      return this.answerCommits();
    }
    this.rollback(this.tx);
    M.writeTxRollbackOk(this.conn.out, this.id);
    this.conn.dirty();
  }

  /**
   * Answers the commits whose publishes the shards all answered, in order. One
   * that a queue refused (reject-publish) closes the channel, as RabbitMQ's
   * "partial tx completion": the rest of it took effect.
   */
  private answerCommits(): void {
    const refused = !this.commits.settle(this.confirms!.answeredThrough(), () => M.writeTxCommitOk(this.conn.out, this.id));
    this.conn.dirty();
    if (refused) throw channelError(ReplyCode.PRECONDITION_FAILED, 'partial tx completion').withMethod(M.TX_COMMIT >>> 16, M.TX_COMMIT & 0xffff);
  }

  /** answerCommits from shard records: its channel error closes this channel, as a frame handler's would. */
  private answerCommitsOutsideFrames(): void {
    try {
      this.answerCommits();
    } catch (err) {
      this.conn.fail(err, this);
    }
  }

  /** Applies the buffered operations in order; if one fails, the rest are rolled back at close. */
  private commit(tx: Transaction): void {
    for (let op = tx.next(); op !== undefined; op = tx.next()) {
      if (op.kind === 'publish') {
        this.incoming.load(op.data, op.keyAt, op.propertiesAt, op.bodyAt, op.flags);
        this.deliverRouted(this.restoreRoute(op));
      } else {
        if (op.action === SETTLE_ACK) this.stats.ack += op.taken.length;
        let counted = 0;
        op.taken.forEach((_tag, kind, link, queueId, msgId) => {
          this.settling[link].push(queueId, msgId);
          if (kind === COUNTED) counted++;
        });
        this.flushSettles(op.action, counted);
      }
    }
  }

  /** Buffered settlements give their deliveries back to the unacked set, under their tags. */
  private rollback(tx: Transaction): void {
    const taken = tx.rollback();
    if (taken.length === 0) return;
    const unacked = this.unacked;
    for (const deliveries of taken) deliveries.forEach((tag, kind, link, queueId, msgId, sentAt) => unacked.add(tag, kind, link, queueId, msgId, sentAt));
    if (this.state === 'open') this.conn.broker.consumerTimeout.watch(this);
  }

  /** After we sent channel.close, only close-ok (or a crossing close) matters. */
  private whileClosing(type: number, payload: Buffer): void {
    if (type !== FRAME_METHOD) return;
    const id = payload.readUInt32BE(0);
    if (id === M.CHANNEL_CLOSE_OK) this.conn.forgetChannel(this);
    else if (id === M.CHANNEL_CLOSE) {
      M.writeChannelCloseOk(this.conn.out, this.id);
      this.conn.dirty();
    }
  }

  /** Server-initiated close for a channel error. */
  close(code: number, text: string, classId: number, methodId: number): void {
    if (this.state !== 'open') return;
    this.release();
    this.state = 'closing';
    this.incoming.abandon();
    for (const { payload } of this.backlog) this.backlogShrank(payload.length);
    this.backlog.length = 0;
    M.writeChannelClose(this.conn.out, this.id, { replyCode: code, replyText: text, classId, methodId });
    this.conn.dirty();
  }

  /**
   * A publish being assembled and frames waiting in the backlog are views of
   * the socket's chunks: the connection must not read into that buffer again
   * while they last (read-buffer.ts).
   */
  private holdInput(): void {
    if (this.listedAsInputHolder) return;
    this.listedAsInputHolder = true;
    this.conn.inputHolders.push(this);
  }

  /** Asked after each chunk; false also takes the channel off the connection's list. */
  stillHoldsInput(): boolean {
    const holds = this.incoming.assembling || this.backlog.length > 0;
    if (!holds) this.listedAsInputHolder = false;
    return holds;
  }

  /**
   * Whether what it holds lies in `buffer`, a read buffer the connection would
   * read into next. What it holds there, if less than 1/HOLD_SHARE of it, is
   * copied out first and the answer is no: a publish cut after its header, or
   * a one-byte body frame, on each of 2,000 channels read one at a time, kept
   * a 64 KiB buffer each (124 MiB, none of it counted by the memory alarm).
   */
  holdsViewsOf(buffer: ArrayBufferLike): boolean {
    const held = this.viewsIn(buffer, null);
    if (held === 0) return false;
    if (held * HOLD_SHARE >= buffer.byteLength) return true;
    const own = Buffer.allocUnsafeSlow(held);
    let at = 0;
    this.viewsIn(buffer, (src, start, end) => {
      const copy = own.subarray(at, at + end - start);
      copyBytes(src, start, end, own, at);
      at += copy.length;
      return copy;
    });
    return false;
  }

  /**
   * The bytes of the publish being assembled and of the backlog that lie in
   * `buffer`; with `move`, each such view is replaced by what move returns.
   */
  private viewsIn(buffer: ArrayBufferLike, move: ((src: Buffer, start: number, end: number) => Buffer) | null): number {
    let held = this.incoming.viewsIn(buffer, move);
    for (const frame of this.backlog) {
      if (frame.payload.buffer !== buffer) continue;
      held += frame.payload.length;
      if (move !== null) frame.payload = move(frame.payload, 0, frame.payload.length);
    }
    return held;
  }

  // --- publish ---------------------------------------------------------------

  private startPublish(buf: Buffer, start: number, end: number): void {
    this.incoming.start(buf, start, end, this.confirms !== null ? PUBLISH_CONFIRM : 0);
    this.holdInput();
    this.conn.broker.alarms.onPublish(this.conn, 0);
  }

  private content(type: number, buf: Buffer, start: number, end: number): void {
    if (type === FRAME_BODY) this.conn.broker.alarms.onPublish(this.conn, end - start); // half-received bodies count too
    if (!this.incoming.content(type, buf, start, end, this.conn.broker.maxMessageSize)) return;
    this.finishPublish();
    this.incoming.letGoOfLargeBody();
  }

  /** A whole publish: routed, then written to its queues' shards, or in a transaction kept with its route until commit. */
  private finishPublish(): void {
    const m = this.incoming;
    if (m.hasReplyTo()) m.properties = replyToRewritten(m.properties, this.replyConsumer);
    if (INJECTED_DELAY_US > 0) spin(INJECTED_DELAY_US);
    // Refused or routed as it comes, in a transaction too (RabbitMQ routes a transaction's publish then, and delivers it at commit).
    const exchange = this.resolveRoute();
    if (this.tx === null) return this.deliverRouted(exchange);
    // RabbitMQ's firehose copies a transaction's publish as it comes, rolled back or not.
    if (this.conn.vhost.tracing) this.conn.broker.firehose.tracePublish(this.publishEvent(exchange.name, this.ccKeys, true));
    const queues: QueueRecord[] = [];
    for (const d of this.routed) if (d.kind === 'queue') queues.push(d);
    this.tx.publish(m.exchange, m.routingKey, m.flags, m.properties, m.body, m.bodySize, { exchange, queues, ccKeys: this.ccKeys });
    // A flood into a transaction fills the heap faster than the alarm's 100 ms checks look.
    if (this.tx.publishes % TX_HEAP_CHECK === 0) this.conn.broker.alarms.recheck();
  }

  /**
   * Finds the incoming message's exchange (checked: 404, 403, user-id,
   * expiration) and queues: into the route cache's targets, and into `routed`
   * on a miss. Strips BCC from its properties.
   */
  private resolveRoute(): ExchangeRecord {
    const cache = this.routeCache;
    const m = this.incoming;
    const hit = cache.hit(m.names, m.namesAt, m.keyAt, m.namesEnd, this.conn.vhost.generation);
    const exchange = hit ? this.admitted(cache.exchange!) : this.publishable();
    const selected = m.hasHeaders() ? senderSelected(m.properties) : null;
    this.ccKeys = selected?.keys;
    if (selected !== null) m.properties = selected.properties; // BCC removed
    if (!hit || selected !== null) this.routeAfresh(exchange, selected?.keys);
    return exchange;
  }

  /**
   * A committed publish: the queues it was routed to when it came, looked up
   * again by name, as RabbitMQ's commit does: one deleted since is left out (with
   * none left, a mandatory publish is returned), one declared again gets it.
   */
  private restoreRoute(route: TxRoute): ExchangeRecord {
    this.routeCache.clear();
    this.routed.clear();
    const queues = this.conn.vhost.queues;
    for (const queue of route.queues) {
      const now = queues.get(queue.name);
      if (now !== undefined) this.routed.add(now);
    }
    this.groupRouted();
    this.ccKeys = route.ccKeys;
    return route.exchange;
  }

  /** Writes the routed message into each target shard's ring (the route cache's targets): leases, returns, confirms. */
  private deliverRouted(exchange: ExchangeRecord): void {
    const broker = this.conn.broker;
    const vhost = this.conn.vhost;
    const cache = this.routeCache;
    const m = this.incoming;
    this.stats.publish++;
    exchange.publishIn++;
    if (broker.waitFor.countingPublishes) broker.waitFor.countPublish(vhost.name, exchange.name);
    exchange.publishOut += cache.queues;
    if (this.observers.publish) this.observePublish(exchange.name, this.ccKeys);
    const immediate = (m.flags & PUBLISH_IMMEDIATE) !== 0;
    // An immediate publish asks the shards whether a consumer took it: it goes through them.
    const leftover = immediate || cache.shards === 0 ? null : this.deliverLeased(cache.targets);
    const targets = leftover ?? cache.targets;
    const shards = leftover === null ? cache.shards : countNonEmpty(leftover);
    const publishId = immediate && shards > 0 ? broker.expectImmediate(this, shards) : 0;
    const confirms = this.confirms;
    const seq = confirms === null ? 0 : confirms.publish(shards);
    if (shards === 0) {
      // No queue has an amq.* name: only here can the key be a direct reply-to address.
      const replied = leftover !== null || (exchange.name === '' && this.replyDirectly());
      if (!replied && (m.flags & (PUBLISH_MANDATORY | PUBLISH_IMMEDIATE)) !== 0) {
        const mandatory = (m.flags & PUBLISH_MANDATORY) !== 0;
        this.writeReturn(mandatory ? ReplyCode.NO_ROUTE : ReplyCode.NO_CONSUMERS, m.exchange, m.routingKey, m.properties, m.body);
        this.stats.returnUnroutable++;
      } else if (!replied) this.stats.dropUnroutable++;
      // Unroutable, or handed to reply or leased no-ack consumers: acked at once, after a return (as RabbitMQ does).
      confirms?.flush();
    } else {
      for (let shard = 0; shard < targets.length; shard++) {
        const queueIds = targets[shard];
        if (queueIds.length === 0) continue;
        const msgIds = leftover === null ? undefined : this.leasedIds![shard];
        this.writePublishRecord(broker.links[shard], queueIds, publishId, msgIds !== undefined && msgIds.length > 0 ? msgIds : undefined);
        confirms?.routedTo(shard, seq);
      }
    }
  }

  /**
   * Delivers the message to the consumer of each target queue this thread
   * holds a lease on (direct-leases.ts); returns the queues each shard's
   * record names, or null when no target shard has a lease out. A no-ack
   * consumer's queue is left out of the record; a queue whose consumer acks
   * stays in it with the message id the delivery took (`leasedIds`).
   */
  private deliverLeased(targets: readonly number[][]): number[][] | null {
    const broker = this.conn.broker;
    const links = broker.links;
    let leased = false;
    for (let shard = 0; shard < targets.length && !leased; shard++) leased = targets[shard].length > 0 && links[shard].leases.size > 0;
    if (!leased) return null;
    const leftover = (this.leftover ??= targets.map(() => []));
    const leasedIds = (this.leasedIds ??= targets.map(() => []));
    for (let shard = 0; shard < targets.length; shard++) {
      const queueIds = targets[shard];
      const left = leftover[shard];
      const ids = leasedIds[shard];
      // (setting an array's length is a call into V8's runtime even when it is 0 already: a tenth of this thread in `single`)
      if (left.length !== 0) left.length = 0;
      if (ids.length !== 0) ids.length = 0;
      const leases = links[shard].leases;
      let acking = false;
      for (let i = 0; i < queueIds.length; i++) {
        const queueId = queueIds[i];
        const consumer = leases.size === 0 ? undefined : leases.consumerFor(queueId);
        const msgId = consumer === undefined || consumer.noAck ? 0 : leases.takeId(queueId);
        if (consumer === undefined || !this.deliveredDirectly(consumer, msgId)) {
          left.push(queueId);
          ids.push(0);
        } else if (consumer.noAck) leases.countDelivery(queueId);
        else {
          left.push(queueId);
          ids.push(msgId);
          acking = true;
        }
      }
      if (!acking && ids.length !== 0) ids.length = 0;
      if (left.length < queueIds.length) broker.output.linkDirty(links[shard]);
    }
    return leftover;
  }

  /**
   * deliverDirect, where a fault is the consumer connection's, not this one's:
   * it fails that connection (541), the lease ends, and the message goes to
   * the queue instead (false), as a DELIVER record that throws is requeued.
   */
  private deliveredDirectly(consumer: ConsumerRef, msgId: number): boolean {
    try {
      consumer.channel.deliverDirect(consumer, this.incoming, msgId);
      return true;
    } catch (err) {
      consumer.link.leases.end(consumer.queue.id);
      consumer.channel.conn.fail(err);
      return false;
    }
  }

  private observePublish(exchange: string, ccKeys: readonly string[] | undefined): void {
    // `routed` holds the route in the cache: routeAfresh clears the cache before it routes.
    this.observers.onPublish(this.publishEvent(exchange, ccKeys, this.tx !== null));
  }

  /** The incoming message as a publish event, routed as `routed` says. */
  private publishEvent(exchange: string, ccKeys: readonly string[] | undefined, transactional: boolean): PublishEvent {
    const m = this.incoming;
    const mandatory = (m.flags & PUBLISH_MANDATORY) !== 0;
    const key = this.routingKeyText.get(m.routingKey);
    const queues: string[] = [];
    for (const d of this.routed) if (d.kind === 'queue') queues.push(d.name);
    return publishEvent(this, exchange, key, ccKeys ?? [], mandatory, m.properties, m.body, m.bodySize, queues, transactional);
  }

  /**
   * Routes through the vhost topology into the route cache's targets, and keeps
   * the route for the next publish unless it depended on this message's
   * headers (CC/BCC keys, or a headers exchange on the way).
   */
  private routeAfresh(exchange: ExchangeRecord, extraKeys: readonly string[] | undefined): void {
    const vhost = this.conn.vhost;
    const m = this.incoming;
    this.routeCache.clear();
    vhost.route(exchange, this.routingKeyText.get(m.routingKey), m, this.routed, extraKeys);
    const byHeaders = this.groupRouted() || extraKeys !== undefined;
    if (!byHeaders) this.routeCache.remember(m.names, m.namesAt, m.keyAt, m.namesEnd, vhost.generation, exchange);
  }

  /** Groups the queues in `routed` into the (cleared) route cache's targets; true when a headers exchange was on the way. */
  private groupRouted(): boolean {
    const cache = this.routeCache;
    let byHeaders = false;
    for (const destination of this.routed) {
      if (destination.kind !== 'queue') {
        if (destination.type === 'headers') byHeaders = true;
        continue;
      }
      const queueIds = cache.targets[destination.shard];
      if (queueIds.length === 0) cache.shards++;
      queueIds.push(destination.id);
      cache.queues++;
    }
    return byHeaders;
  }

  /** A reply to a direct reply-to address: written straight to the requesting channel, if it is still there. */
  private replyDirectly(): boolean {
    const consumer = this.conn.broker.directReply.find(this.incoming.routingKey);
    if (consumer === undefined) return false;
    consumer.channel.sendReply(consumer, this.incoming);
    return true;
  }

  /** The target exchange, if this publish may go to it (exists, not internal, user-id matches). */
  private publishable(): ExchangeRecord {
    const vhost = this.conn.vhost;
    const exchangeName = this.exchangeText.get(this.incoming.exchange);
    const exchange = vhost.exchanges.get(exchangeName);
    if (exchange !== undefined) return this.admitted(exchange);
    try {
      // RabbitMQ checks write permission before it looks the exchange up.
      this.conn.permissions.write('exchange', exchangeName);
    } catch (err) {
      throw err instanceof AmqpError ? err.withMethod(M.CLASS_BASIC, 40) : err;
    }
    throw new AmqpError(ReplyCode.NOT_FOUND, `no exchange '${exchangeName}' in vhost '${vhost.name}'`, M.CLASS_BASIC, 40, false);
  }

  /** `exchange` if this publish may go to it (write and topic permission, not internal, user-id and expiration valid). */
  private admitted(exchange: ExchangeRecord): ExchangeRecord {
    try {
      this.permits.check(exchange, this.routingKeyNow);
    } catch (err) {
      throw err instanceof AmqpError ? err.withMethod(M.CLASS_BASIC, 40) : err;
    }
    if (exchange.internal) {
      throw new AmqpError(ReplyCode.ACCESS_REFUSED, `cannot publish to internal exchange '${exchange.name}' in vhost '${this.conn.vhost.name}'`, M.CLASS_BASIC, 40, false);
    }
    const flags = this.incoming.propertyFlags;
    if ((flags & USER_ID_FLAG) !== 0) this.checkUserId();
    if ((flags & EXPIRATION_FLAG) !== 0) this.checkExpiration();
    return exchange;
  }

  /** `msgIds`: beside `queueIds`, those delivered under a lease (see deliverLeased). */
  private writePublishRecord(link: ShardLink, queueIds: number[], publishId: number, msgIds: number[] | undefined): void {
    const w = link.writer;
    const leased = msgIds !== undefined;
    const m = this.incoming;
    const beforeBody = publishRecordSize(queueIds.length, m.blockHead, leased);
    const slack = alignSlack(m.bodySize);
    const size = beforeBody + m.bodySize + slack;
    link.beginPublish(queueIds, size, msgIds);
    const { buf, offset } = w;
    // the body's first (usually only) frame and the ring agree mod 8: one word-wise copy
    const pad = m.bodyPad(buf, offset + beforeBody, slack);
    m.writeBlock(buf, w.view, writePublishHeader(buf, offset, m.flags | (pad << PUBLISH_PAD_SHIFT), this.ref, publishId, queueIds, msgIds) + pad);
    // Delivered everywhere, nothing to confirm or store: the shard may take it with the ack.
    const quiet = msgIds !== undefined && (m.flags & (PUBLISH_CONFIRM | PUBLISH_PERSISTENT)) === 0 && !msgIds.includes(0);
    link.endPublish(quiet ? size : 0);
    this.conn.broker.output.linkDirty(link);
    link.afterPublish(this.conn, queueIds);
  }

  /** RabbitMQ refuses an expiration property that is not a count of ms. */
  private checkExpiration(): void {
    const expiration = expirationText(this.incoming.properties, 0)!;
    const ms = parseExpiration(expiration);
    if (typeof ms === 'string') {
      throw new AmqpError(ReplyCode.PRECONDITION_FAILED, `invalid expiration '${expiration}': ${ms}`, M.CLASS_BASIC, 40, false);
    }
  }

  /** RabbitMQ refuses a user-id property that is not the authenticated user. */
  private checkUserId(): void {
    const properties = this.incoming.properties;
    const { userId } = M.decodeBasicProperties(properties, 0, properties.length);
    if (userId !== this.conn.user) {
      throw new AmqpError(
        ReplyCode.PRECONDITION_FAILED,
        `user_id property set to '${userId}' but authenticated user was '${this.conn.user}'`,
        M.CLASS_BASIC,
        40,
        false,
      );
    }
  }

  /** basic.return with the message's content. */
  writeReturn(code: number, exchange: Buffer, routingKey: Buffer, properties: Buffer, body: Buffer | Buffer[]): void {
    const out = this.conn.out;
    const start = out.beginFrame(FRAME_METHOD, this.id);
    out.u32(M.BASIC_RETURN);
    out.u16(code);
    out.shortstr(code === ReplyCode.NO_ROUTE ? 'NO_ROUTE' : 'NO_CONSUMERS');
    out.bytes(exchange);
    out.bytes(routingKey);
    out.endFrame(start);
    const bodySize = Array.isArray(body) ? body.reduce((n, b) => n + b.length, 0) : body.length;
    out.writeContent(this.id, M.CLASS_BASIC, bodySize, properties, body, this.conn.frameMax);
    this.conn.dirty();
    if (this.observers.return) {
      const text = code === ReplyCode.NO_ROUTE ? 'NO_ROUTE' : 'NO_CONSUMERS';
      this.observers.onReturn(this, code, text, messageParts(exchange, routingKey, properties, Array.isArray(body) ? Buffer.concat(body, bodySize) : body));
    }
  }

  // --- confirms ----------------------------------------------------------------

  /**
   * A shard's CONFIRM entry for this channel: its next `stored` publishes are
   * safe, then `refused` were not. Answered at the end of the batch of shard
   * records (flushConfirms), so that the CONFIRM records of several shard turns
   * read at once become one basic.ack multiple=true.
   */
  confirmed(link: ShardLink, stored: number, refused: number): void {
    const confirms = this.confirms;
    if (confirms === null || this.state !== 'open') return;
    confirms.stored(link.index, stored);
    if (refused > 0) confirms.refused(link.index, refused);
    if (!this.confirmsQueued) {
      this.confirmsQueued = true;
      this.conn.broker.output.confirmsFinished(this);
    }
  }

  /** Sends the acks and nacks for what the shards answered since the last time. */
  flushConfirms(): void {
    this.confirmsQueued = false;
    if (this.confirms === null || this.state !== 'open') return;
    this.confirms.flush();
    if (this.commits.waiting) this.answerCommitsOutsideFrames();
  }

  /** The shard is lost: nacks what this channel published into it and it did not confirm. */
  failShard(link: ShardLink): void {
    if (this.confirms === null || this.state !== 'open') return;
    this.confirms.failShard(link.index);
    this.confirms.flush();
    if (this.commits.waiting) this.answerCommitsOutsideFrames();
  }

  private writeConfirm(seq: number, multiple: boolean, ack: boolean): void {
    if (ack) M.writeBasicAck(this.conn.out, this.id, { deliveryTag: seq, multiple });
    else M.writeBasicNack(this.conn.out, this.id, { deliveryTag: seq, multiple, requeue: false });
    this.conn.dirty();
  }

  /** An immediate publish that no shard could hand to a consumer. */
  returnImmediate(buf: Buffer, blockAt: number): void {
    const v = this.view.read(buf, blockAt);
    this.writeReturn(
      ReplyCode.NO_CONSUMERS,
      buf.subarray(v.start, v.routingKeyAt),
      buf.subarray(v.routingKeyAt, v.propertiesAt - 4),
      buf.subarray(v.propertiesAt, v.propertiesEnd),
      buf.subarray(v.bodyAt, v.end),
    );
  }

  // --- deliveries ----------------------------------------------------------------

  /**
   * A DELIVER record from a shard for one of this channel's consumers;
   * `counted`: its shard took a place for it under the channel's global limit.
   */
  deliver(consumer: ConsumerRef, redelivered: boolean, counted: boolean, queueId: number, msgId: number, buf: Buffer, blockAt: number): void {
    const tag = ++this.nextTag;
    if (!consumer.noAck) {
      const kind = this.deliveryKind(consumer);
      // One its shard sent before it knew of the channel's global limit counts all the same.
      if (kind === COUNTED && !counted) this.conn.broker.channelLimits.add(this.limitSlot, 1);
      this.addUnacked(tag, kind, consumer.link, queueId, msgId);
      this.stats.deliver++;
    } else this.stats.deliverNoAck++;
    if (redelivered) this.stats.redeliver++;
    const v = this.view.read(buf, blockAt);
    const bufView = consumer.link.viewOf(buf);
    const out = this.conn.out;
    const start = out.beginWrittenFrame(consumer.deliverStart, consumer.deliverStartView);
    out.u64(tag);
    out.u8(redelivered ? 1 : 0);
    out.bytes(buf, v.start, v.propertiesAt - 4, bufView); // exchange and routing key, already shortstrs
    out.endFrame(start);
    out.writeContentFrom(this.id, M.CLASS_BASIC, buf, v.propertiesAt, v.propertiesEnd, buf, v.bodyAt, v.end, this.conn.frameMax, bufView, bufView);
    this.conn.dirty();
    if (this.observers.deliver) this.observers.onDeliver(this, consumer.queue.name, consumer.tag, tag, redelivered, partsOf(v));
  }

  /** basic.deliver of a direct reply (no-ack: nothing to settle). */
  sendReply(consumer: ReplyConsumer, message: IncomingMessage): void {
    const tag = this.writeRouted(consumer, message);
    if (this.observers.deliver) this.observers.onDeliver(this, REPLY_TO, consumer.tag, tag, false, message.parts());
  }

  /**
   * basic.deliver to the consumer of a leased queue (direct-leases.ts) of the
   * message another channel is routing; `msgId`: its id in the queue, for a consumer that acks.
   */
  deliverDirect(consumer: ConsumerRef, message: IncomingMessage, msgId: number): void {
    const tag = this.writeRouted(consumer, message);
    if (consumer.noAck) this.stats.deliverNoAck++;
    else {
      this.addUnacked(tag, this.deliveryKind(consumer), consumer.link, consumer.queue.id, msgId);
      this.stats.deliver++;
    }
    if (this.observers.deliver) this.observers.onDeliver(this, consumer.queue.name, consumer.tag, tag, false, message.parts());
  }

  /** basic.deliver, straight from where the publishing channel received it, of the message it is routing; returns the tag. */
  private writeRouted(consumer: PrewrittenDeliver, message: IncomingMessage): number {
    const out = this.conn.out;
    const start = out.beginWrittenFrame(consumer.deliverStart, consumer.deliverStartView);
    const tag = ++this.nextTag;
    out.u64(tag);
    out.u8(0);
    message.writeNames(out);
    out.endFrame(start);
    message.writeContent(out, this.id, this.conn.frameMax);
    this.conn.dirty();
    return tag;
  }

  /** basic.get-ok for a message a shard handed out. */
  sendGetOk(link: ShardLink, noAck: boolean, redelivered: boolean, queueId: number, msgId: number, messageCount: number, block: Buffer): void {
    const tag = ++this.nextTag;
    if (!noAck) {
      this.addUnacked(tag, UNCOUNTED, link, queueId, msgId);
      this.stats.get++;
    } else this.stats.getNoAck++;
    if (redelivered) this.stats.redeliver++;
    const v = this.view.read(block, 0);
    const out = this.conn.out;
    const start = out.beginFrame(FRAME_METHOD, this.id);
    out.u32(M.BASIC_GET_OK);
    out.u64(tag);
    out.u8(redelivered ? 1 : 0);
    out.bytes(block, v.start, v.propertiesAt - 4);
    out.u32(messageCount);
    out.endFrame(start);
    out.writeContentFrom(this.id, M.CLASS_BASIC, block, v.propertiesAt, v.propertiesEnd, block, v.bodyAt, v.end, this.conn.frameMax);
    this.conn.dirty();
    if (this.observers.deliver) this.observers.onDeliver(this, this.conn.service.queueById(queueId)?.name ?? '', undefined, tag, redelivered, partsOf(v));
  }

  private addUnacked(tag: number, kind: number, link: ShardLink, queueId: number, msgId: number): void {
    const timeouts = this.conn.broker.consumerTimeout;
    if (this.unacked.size === 0) timeouts.watch(this);
    this.unacked.add(tag, kind, link.index, queueId, msgId, timeouts.now);
  }

  /** When the oldest unacked delivery was sent (consumer-timeout clock), if there is one. */
  oldestUnackedAt(): number | undefined {
    const tag = this.unacked.first();
    return tag === 0 ? undefined : this.unacked.sentAt(tag);
  }

  /** RabbitMQ's consumer_timeout: a delivery stayed unacked too long. */
  ackTimedOut(timeoutMs: number): void {
    const text = `delivery acknowledgement on channel ${this.id} timed out. Timeout value used: ${timeoutMs} ms. This timeout value can be configured, see consumers doc guide to learn more`;
    this.conn.fail(channelError(ReplyCode.PRECONDITION_FAILED, text), this);
  }

  setPrefetch(count: number, global: boolean): void {
    if (global) return this.setGlobalPrefetch(count);
    this.prefetchCount = count;
    // As RabbitMQ 3.10's channel: a per-consumer qos also lifts the channel's global limit.
    this.setGlobalPrefetch(0);
  }

  private setGlobalPrefetch(count: number): void {
    this.globalPrefetch = count;
    const limits = this.conn.broker.channelLimits;
    if (this.limitSlot >= 0) {
      if (limits.setLimit(this.limitSlot, count)) this.wakeConsumers();
      return;
    }
    if (count === 0) return;
    const slot = limits.allocate();
    if (slot < 0) throw channelError(ReplyCode.RESOURCE_ERROR, `too many channels with a global prefetch (${LIMIT_SLOTS})`);
    this.limitSlot = slot;
    // As RabbitMQ's limiter starts from the channel's unacked deliveries to consumers.
    limits.add(slot, this.unacked.countDelivered());
    limits.setLimit(slot, count);
    this.wakeConsumers();
  }

  /** How a delivery to `consumer` that is to be acked counts under the channel's global prefetch. */
  private deliveryKind(consumer: ConsumerRef): number {
    if (!consumer.globalLimited) return UNCOUNTED;
    return this.limitSlot >= 0 ? COUNTED : DELIVERED;
  }

  /** Tells the shards of this channel's consumers (no-ack ones too) of its global limit, where there may be room now. */
  private wakeConsumers(): void {
    for (const [link, consumerIds] of this.consumerIdsByLink((consumer) => consumer.globalLimited)) {
      link.send({ op: 'globalLimit', consumerIds, slot: this.limitSlot });
      this.conn.broker.output.linkDirty(link);
    }
  }

  /** Settled (or never delivered) deliveries give their places under the global limit back. */
  giveBack(counted: number): void {
    if (counted > 0 && this.conn.broker.channelLimits.give(this.limitSlot, counted)) this.wakeConsumers();
  }

  /** A retired consumer's deliveries can come no more (ConsumerRegistry.retire): a closed channel's slot is free once none can. */
  retired(): void {
    if (--this.retiring === 0 && this.state === 'closed') this.releaseLimit();
  }

  private releaseLimit(): void {
    if (this.limitSlot < 0) return;
    this.conn.broker.channelLimits.release(this.limitSlot);
    this.limitSlot = -1;
  }

  // --- acks ----------------------------------------------------------------

  /** basic.ack / nack / reject: settles one tag, or all up to it with multiple. */
  settle(tag: number, multiple: boolean, action: number): void {
    const unacked = this.unacked;
    if (multiple ? tag !== 0 && !unacked.has(tag) : !unacked.has(tag)) {
      throw channelError(ReplyCode.PRECONDITION_FAILED, `unknown delivery tag ${tag}`);
    }
    const last = multiple ? (tag === 0 ? Infinity : tag) : tag;
    if (action !== SETTLE_ACK) {
      const stream = this.streamAmong(multiple ? unacked.first() : tag, last);
      if (stream !== undefined) {
        throw connectionError(ReplyCode.NOT_IMPLEMENTED, `basic.nack and basic.reject not supported by stream queues queue '${stream.name}' in vhost '${stream.vhost}'`);
      }
    }
    const tx = this.tx;
    let settled = 0;
    let counted = 0;
    for (let t = multiple ? unacked.first() : tag; t !== 0 && t <= last; t = unacked.next(t)) {
      const link = unacked.link(t);
      const kind = unacked.kind(t);
      if (tx === null) this.settling[link].push(unacked.queueId(t), unacked.msgId(t));
      else tx.settle(action, t, kind, link, unacked.queueId(t), unacked.msgId(t), unacked.sentAt(t));
      unacked.remove(t);
      settled++;
      if (kind === COUNTED) counted++;
    }
    // Settled inside a transaction: out of the unacked set now, to the shards at commit (and still counted till then).
    if (tx !== null) return;
    if (action === SETTLE_ACK) this.stats.ack += settled;
    this.flushSettles(action, counted);
  }

  /** A stream some unacked delivery from `from` to `last` came from (RabbitMQ refuses to take those back). */
  private streamAmong(from: number, last: number): QueueRecord | undefined {
    const unacked = this.unacked;
    for (let t = from; t !== 0 && t <= last; t = unacked.next(t)) {
      const queue = this.conn.service.queueById(unacked.queueId(t));
      if (queue !== undefined && typeOf(queue.args) === 'stream') return queue;
    }
    return undefined;
  }

  /** basic.recover: every unacked delivery goes back, but where one came from a stream RabbitMQ 3.10.8 crashes (541). */
  recover(): void {
    if (this.streamAmong(this.unacked.first(), Infinity) !== undefined) throw internalError();
    this.requeueAll();
  }

  /** Requeues every unacked delivery (basic.recover, channel close). */
  requeueAll(): void {
    const unacked = this.unacked;
    let counted = 0;
    for (let t = unacked.first(); t !== 0; t = unacked.next(t)) {
      this.settling[unacked.link(t)].push(unacked.queueId(t), unacked.msgId(t));
      if (unacked.kind(t) === COUNTED) counted++;
    }
    unacked.clear();
    this.flushSettles(SETTLE_REQUEUE, counted);
  }

  /**
   * Before a basic.get: the dead letters of this channel's drops are in their
   * queues. A drop's dead letter goes from its shard through the acceptor to
   * its queue's shard, where a get sent just after the drop would arrive
   * first; waiting until each shard that took drops has handled them
   * (ShardLink.whenHandled: their DEAD_LETTER records come before its fence's
   * answer, and are routed as they are read) puts it there first. Clients count on it: RabbitMQ's Go client's suite rejects,
   * then expects the dead letter within ten gets.
   */
  async deadLettersRouted(): Promise<void> {
    if (this.droppedOn.size === 0) return;
    const output = this.conn.broker.output;
    const handled = [...this.droppedOn].map((link) => {
      output.linkDirty(link); // its flush sends the fence
      return new Promise<void>((resolve) => link.whenHandled(resolve));
    });
    this.droppedOn.clear();
    await Promise.all(handled);
  }

  /**
   * Writes the settlements gathered in `settling`; the `counted` places they
   * held under the channel's global prefetch come back. A requeue's only once
   * its shards have put the messages back: a shard given the room first
   * delivered the queue's next messages in their place, and the requeued ones
   * waited behind those for a consumer that acked nothing more (basic.recover
   * with a global prefetch, about 1 run in 30 with worker shards).
   */
  private flushSettles(action: number, counted: number): void {
    const links = this.conn.broker.links;
    let waiting = 0;
    const afterRequeue =
      action === SETTLE_REQUEUE && counted > 0
        ? () => {
            // A channel closed meanwhile lets go of its whole slot (releaseLimit).
            if (--waiting === 0 && this.state === 'open') this.giveBack(counted);
          }
        : null;
    for (let shard = 0; shard < this.settling.length; shard++) {
      const entries = this.settling[shard];
      if (entries.length === 0) continue;
      links[shard].settle(action, entries);
      this.conn.broker.output.linkDirty(links[shard]);
      if (action === SETTLE_DROP) this.droppedOn.add(links[shard]);
      if (afterRequeue !== null) {
        waiting++;
        links[shard].whenHandled(afterRequeue);
      }
      entries.length = 0;
    }
    if (afterRequeue === null) this.giveBack(counted);
  }

  // --- flow and teardown -------------------------------------------------------

  /** Tells the shards to pause or resume this channel's consumers. */
  updateFlow(): void {
    const active = !this.conn.congested;
    if (active === this.consumersActive) return;
    this.consumersActive = active;
    for (const [link, consumerIds] of this.consumerIdsByLink(() => true)) {
      link.send({ op: 'flow', consumerIds, active });
      this.conn.broker.output.linkDirty(link);
    }
  }

  /** The ids of this channel's consumers that `include` picks, grouped by shard. */
  private consumerIdsByLink(include: (consumer: ConsumerRef) => boolean): Map<ShardLink, number[]> {
    const byLink = new Map<ShardLink, number[]>();
    for (const consumer of this.consumers.values()) {
      if (!include(consumer)) continue;
      let ids = byLink.get(consumer.link);
      if (ids === undefined) byLink.set(consumer.link, (ids = []));
      ids.push(consumer.id);
    }
    return byLink;
  }

  cancelReplyConsumer(): void {
    if (this.replyConsumer === null) return;
    this.conn.broker.directReply.cancel(this.replyConsumer);
    this.replyConsumer = null;
  }

  get consumersPaused(): boolean {
    return !this.consumersActive;
  }

  /** Cancels consumers and requeues unacked deliveries: the channel is going away. */
  release(): void {
    this.state = 'closed';
    if (this.released) return;
    this.released = true;
    for (const consumer of [...this.consumers.values()]) this.conn.broker.consumers.cancel(consumer);
    this.cancelReplyConsumer();
    if (this.tx !== null) this.rollback(this.tx);
    this.requeueAll();
    this.conn.broker.consumerTimeout.unwatch(this);
    if (this.retiring === 0) this.releaseLimit();
    this.conn.service.closedChannels.add(this.messageStats);
    this.conn.broker.unregisterChannel(this);
  }
}

/** A block's message, decoded for an observer. */
function partsOf(v: BlockView): MessageParts {
  const buf = v.buf;
  return messageParts(buf.subarray(v.start, v.routingKeyAt), buf.subarray(v.routingKeyAt, v.propertiesAt - 4), buf.subarray(v.propertiesAt, v.propertiesEnd), buf.subarray(v.bodyAt, v.end));
}

function spin(microseconds: number): void {
  const until = performance.now() + microseconds / 1000;
  while (performance.now() < until);
}

function countNonEmpty(lists: readonly number[][]): number {
  let count = 0;
  for (const list of lists) if (list.length > 0) count++;
  return count;
}
