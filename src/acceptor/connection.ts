/**
 * One client connection after the protocol header: the frame reader, channel 0
 * (handshake, close, heartbeats), the channels, and the output buffer that the
 * broker flushes once per turn of the event loop.
 */
import type { Socket } from 'node:net';
import type { ViewHolder } from '../protocol/copy-bytes.js';
import { FrameReader, PROTOCOL_HEADER, type FrameHandler } from '../protocol/frame-reader.js';
import { AMQP_0_8_HEADERS, AMQP_0_8_WRITERS, AMQP_0_9_1_WRITERS, methodFrom08 } from './amqp-0-8.js';
import { OutputBuffer } from '../protocol/output-buffer.js';
import { FRAME_HEARTBEAT, FRAME_METHOD, FRAME_MIN_SIZE } from '../protocol/constants.js';
import { AmqpError, ReplyCode, connectionError } from '../protocol/errors.js';
import * as M from '../protocol/methods.generated.js';
import type { VHost } from '../routing/topology.js';
import type { FieldTable } from '../protocol/field-types.js';
import type { VHostService } from '../vhost/vhost-service.js';
import { Handshake } from './handshake.js';
import { Channel } from './channel.js';
import { readIntoOwnBuffers, type ReadBuffers } from './read-buffer.js';
import type { Broker } from '../broker.js';
import type { UserAccess } from '../auth/user-access.js';
import { connectionLog, log } from '../log/logger.js';

/** What the client said it can handle (client-properties.capabilities). */
export interface ClientCapabilities {
  consumerCancelNotify: boolean;
  connectionBlocked: boolean;
  authenticationFailureClose: boolean;
}

type State = 'header' | 'handshake' | 'open' | 'closing' | 'closed';

/** How long a server-initiated close waits for close-ok before dropping the socket. */
const CLOSE_TIMEOUT_MS = 1000;
/**
 * How long the socket stays open after our close-ok for the client to close it (the spec
 * leaves that to the receiver of close-ok); RabbitMQ waits as long. Hanging up first races
 * clients that are still finishing their close (amqp091-go reported EOF, 501, to a Close).
 */
const CLOSE_OK_LINGER_MS = 30_000;

/** What a client hears when the broker itself failed while serving it. */
const INTERNAL = new AmqpError(ReplyCode.INTERNAL_ERROR, 'internal error', 0, 0, true);
/**
 * Why the socket is not being read; it resumes when no reason is left.
 * QUEUE: it published into a congested queue. RING: into a shard whose input
 * ring overflows. ALARM: it published during a memory alarm. OUTPUT / BACKLOG:
 * its own unwritten output, or frames waiting on its busy channels, are over
 * BUFFER_LIMIT (a client that does not read must not grow the heap).
 * BLOCKED: a test rig blocked its publishing (faults.blockPublishers). STALL:
 * a test rig stalled it (faults.stallConnections).
 */
export const PAUSE_QUEUE = 1;
export const PAUSE_RING = 2;
export const PAUSE_ALARM = 4;
export const PAUSE_OUTPUT = 8;
export const PAUSE_BACKLOG = 16;
export const PAUSE_BLOCKED = 32;
export const PAUSE_STALL = 64;
/**
 * Reasons to stop handling frames at once, not only reading: a publish met the
 * memory alarm or a rig's block, and RabbitMQ handles nothing more from a
 * blocked connection, that publish's own content and the rest of the read included.
 */
const HOLD_FRAMES = PAUSE_ALARM | PAUSE_BLOCKED;
export const BUFFER_LIMIT = 16 * 1024 * 1024;
/**
 * AMQP 0-9's header: RabbitMQ speaks 0-9-1 to a client that sends it (the two
 * share their frames and the methods clients use), and so does warren. 0-8's
 * headers get 0-8, as from RabbitMQ (amqp-0-8.ts).
 */
const AMQP_0_9_HEADER = Buffer.from('AMQP\x01\x01\x00\x09', 'latin1');
const ACCEPTED_HEADERS = [PROTOCOL_HEADER, AMQP_0_9_HEADER, ...AMQP_0_8_HEADERS];

/** Unwritten socket bytes past which the connection's consumers wait (see write). */
const CONGESTED_BYTES = 256 * 1024;

export class Connection implements FrameHandler, ViewHolder {
  readonly out = new OutputBuffer();
  readonly reader: FrameReader;
  state: State = 'header';
  private header = Buffer.alloc(0);
  /** the frames whose ids or fields differ between 0-8 and 0-9-1: 0-8's where the client's header asked for it (amqp-0-8.ts) */
  writers = AMQP_0_9_1_WRITERS;
  private handshake: Handshake | null;
  private readonly channels: (Channel | undefined)[] = [];
  /** Channels that keep views of the input past a chunk (Channel.holdInput); asked after each chunk. */
  readonly inputHolders: Channel[] = [];
  channelMax = 0;
  frameMax = FRAME_MIN_SIZE;
  /** seconds; 0 = off */
  heartbeat = 0;
  /** set at connection.open: the routing model (read per publish) and the service that changes it */
  vhost!: VHost;
  service!: VHostService;
  /** the user's permissions in that vhost, checked by the method handlers */
  permissions!: UserAccess;
  user = '';
  /** what the client sent in connection.start-ok (the management API shows it) */
  clientProperties: FieldTable = {};
  /** when the socket was accepted, ms since the epoch */
  readonly connectedAt = Date.now();
  capabilities: ClientCapabilities = { consumerCancelNotify: false, connectionBlocked: false, authenticationFailureClose: false };
  private lastReceived = Date.now();
  /** whether anything but a heartbeat was written since the last heartbeat tick */
  private wrote = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** true while the socket's write buffer is over its high-water mark */
  congested = false;
  /** PAUSE_* bits: why reading is paused */
  private pausedFor = 0;
  /** congested queues this connection waits for */
  private queueStalls = 0;
  /** whether it ever published (a publisher blocked on demand is paused at once, not on its next publish) */
  published = false;
  /** what the frame reader left of the reads while holding frames (a copy) */
  private heldInput: Buffer | null = null;
  /** a test rig's stall: neither read nor written until it ends */
  private stalled = false;
  /** gone for the broker: channels released, out of its lists (see teardown) */
  private tornDown = false;
  /** a test rig's delay: each flush's bytes go out this many ms later, in order (faults.delayDeliveries) */
  private delayMs = 0;
  /** flushed bytes waiting for their time; one timer for the oldest */
  private readonly delayed: { at: number; bytes: Buffer }[] = [];
  private delayTimer: NodeJS.Timeout | null = null;
  /** bytes of frames waiting on busy channels */
  backlogBytes = 0;
  /** channels open (for the user's max-channels limit) */
  channelCount = 0;
  /** in the broker's list of connections to flush at the end of the batch */
  queuedForFlush = false;
  readonly name: string;
  /** the connection.close that ended it, and who sent it (for the 'close' observer) */
  closeReason: { code: number; text: string; by: 'client' | 'server' } | null = null;
  /** One log line with the stack per connection is enough: later errors are its consequences. */
  private internalErrorLogged = false;
  /** Called once the connection is done: close-ok received or the socket gone. */
  private whenEnded: (() => void) | null = null;
  /** the buffers the socket reads into (null: Node's own, a fresh one per read) */
  private readonly readBuffers: ReadBuffers | null;
  /** the last chunk read, and a view of it where its read buffer has one (viewOf) */
  private chunk: Buffer | null = null;
  private chunkView: DataView | null = null;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly broker: Broker,
  ) {
    this.reader = new FrameReader(this, FRAME_MIN_SIZE);
    this.handshake = new Handshake(this);
    this.name = `${socket.remoteAddress}:${socket.remotePort} -> ${socket.localAddress}:${socket.localPort}`;
    socket.setNoDelay(true);
    const onChunk = (chunk: Buffer, view: DataView | null = null): void => {
      // (a chunk of Node's own, a fresh buffer per read, is not held past its turn)
      this.chunk = view === null ? null : chunk;
      this.chunkView = view;
      this.guard(this.onData, chunk);
    };
    this.readBuffers = readIntoOwnBuffers(socket, onChunk, (buffer) => this.holdsInput(buffer));
    if (this.readBuffers === null) socket.on('data', onChunk);
    socket.on('drain', () => this.guard(this.onDrain, undefined));
    socket.on('error', () => {});
    socket.on('close', () => this.guard(this.teardown, undefined));
  }

  /**
   * Runs a handler on this connection's behalf from outside the frame handlers
   * (socket events, timers, shard records, flushes): whatever it throws closes
   * this connection with 541, never the process.
   */
  guard<T>(handler: (this: Connection, arg: T) => void, arg: T): void {
    try {
      handler.call(this, arg);
    } catch (err) {
      this.fail(err);
    }
  }

  /** A view of `buf` where it is the chunk just read (frames handed to the channels lie there, or in buffers of their own). */
  viewOf(buf: Uint8Array): DataView | null {
    return buf === this.chunk ? this.chunkView : null;
  }

  /** Marks the output buffer as holding bytes to write this turn. */
  dirty(): void {
    this.broker.output.connectionDirty(this);
  }

  /** Writes the pending output; called by the broker once per turn. */
  flush(): void {
    if (this.out.length === 0 || this.state === 'closed' || this.stalled) return;
    // Behind earlier delayed bytes even once the delay ends, so frames keep their order.
    if (this.delayMs > 0 || this.delayed.length > 0) {
      this.delayed.push({ at: Date.now() + this.delayMs, bytes: this.out.take() });
      if (this.delayTimer === null) this.writeDelayed();
      return;
    }
    const first = this.out.takePiece();
    if (this.out.length === 0) this.write(first);
    else {
      // Output that outgrew its slab this turn lies in several: one writev, no copy.
      this.socket.cork();
      this.write(first);
      while (this.out.length > 0) this.write(this.out.takePiece());
      this.socket.uncork();
    }
    // What the socket no longer counts, the kernel has (a write libuv could not finish at once stays counted until done).
    this.out.written(this.socket.writableLength);
  }

  private write(bytes: Buffer): void {
    this.wrote = true;
    // Congested (the consumers' deliveries paused in their shards) only past
    // CONGESTED_BYTES: at Node's 16 KiB high-water mark a consumer that lags a
    // little flapped, a flow control record and a shard wake-up each way.
    if (!this.socket.write(bytes) && !this.congested && this.socket.writableLength > CONGESTED_BYTES) {
      this.congested = true;
      for (const channel of this.channels) channel?.updateFlow();
    }
    if (this.socket.writableLength > BUFFER_LIMIT) this.pause(PAUSE_OUTPUT);
  }

  /** Stops reading the socket for `reason` (a PAUSE_* bit). */
  pause(reason: number): void {
    if (this.pausedFor === 0) this.socket.pause();
    this.pausedFor |= reason;
  }

  /** Drops `reason`; reading resumes once no reason is left, after the frames held meanwhile. */
  unpause(reason: number): void {
    if ((this.pausedFor & reason) === 0) return;
    this.pausedFor &= ~reason;
    if (this.heldInput !== null && !this.holdingFrames) {
      // In a turn of its own: an unblock comes from the memory alarm's loops, which the held publishes would re-enter.
      setImmediate(() => this.guard(this.feedHeld, undefined));
      return;
    }
    this.resumeReading();
  }

  /** See HOLD_FRAMES; the frame reader asks after each frame. */
  get holdingFrames(): boolean {
    return (this.pausedFor & HOLD_FRAMES) !== 0;
  }

  private resumeReading(): void {
    if (this.pausedFor === 0 && this.state !== 'closed') this.socket.resume();
  }

  /** The frames held while blocked, then the socket again (unless they were blocked once more). */
  private feedHeld(): void {
    const held = this.heldInput;
    if (held === null || this.holdingFrames || this.state === 'closed') return;
    this.heldInput = null;
    this.feed(held);
    this.resumeReading();
  }

  /**
   * A test rig's stall, a network partition's stand-in: stop reading and
   * writing until unstall(). The client's heartbeat times out; so does the
   * broker's (see beat), which then drops the connection on its side only.
   */
  stall(): void {
    this.stalled = true;
    this.pause(PAUSE_STALL);
  }

  unstall(): void {
    if (!this.stalled) return;
    this.stalled = false;
    // Dropped during the stall: the client hears of it now, as when a partition heals.
    if (this.state === 'closed') {
      this.socket.destroy();
      return;
    }
    this.unpause(PAUSE_STALL);
    if (this.delayed.length > 0 && this.delayTimer === null) this.writeDelayed();
    this.dirty();
  }

  /** A test rig's delay: what is flushed from now on is written `ms` later (0: at once, after what waits). */
  delayOutput(ms: number): void {
    this.delayMs = ms;
  }

  /** Writes the delayed bytes whose time came; one timer waits for the next. */
  private writeDelayed(): void {
    this.delayTimer = null;
    if (this.state === 'closed') {
      this.delayed.length = 0;
      return;
    }
    if (this.stalled) return; // unstall() carries on
    const now = Date.now();
    let due = 0;
    while (due < this.delayed.length && this.delayed[due].at <= now) this.write(this.delayed[due++].bytes);
    this.delayed.splice(0, due);
    if (this.delayed.length > 0) {
      this.delayTimer = setTimeout(() => this.guard(this.writeDelayed, undefined), this.delayed[0].at - now);
      this.delayTimer.unref();
    }
  }

  /** It published into a congested queue: wait until that queue (and any other) clears. */
  stallOnQueue(): void {
    this.queueStalls++;
    this.pause(PAUSE_QUEUE);
  }

  queueCleared(): void {
    if (--this.queueStalls === 0) this.unpause(PAUSE_QUEUE);
  }

  /**
   * What this connection holds in memory: its read and output buffers,
   * unwritten output, half-received bodies, waiting frames, transactions'
   * buffered operations, unacked sets.
   */
  bufferedBytes(): number {
    let bytes = this.socket.writableLength + this.out.heldBytes + (this.readBuffers?.bytes ?? 0) + this.backlogBytes;
    for (const { bytes: waiting } of this.delayed) bytes += waiting.length;
    for (const channel of this.channels) if (channel !== undefined) bytes += channel.heldBytes;
    return bytes;
  }

  /** What its channels hold in the V8 heap, by count (Channel.heapBytes). */
  heapBytes(): number {
    let bytes = 0;
    for (const channel of this.channels) if (channel !== undefined) bytes += channel.heapBytes;
    return bytes;
  }

  onFrame(type: number, channelId: number, buf: Buffer, start: number, end: number): void {
    // Torn down while the rest of a read is still parsed (a close, or close-ok, then more frames in the
    // same chunk): nothing more is done for this client, as RabbitMQ drops frames once it is closing.
    if (this.state === 'closed') return;
    // Errors are caught here, not in push(), so the reader stays usable for close-ok.
    try {
      if (type === FRAME_HEARTBEAT) {
        // RabbitMQ's codes: a heartbeat elsewhere than channel 0 is unexpected, one with a payload malformed.
        if (channelId !== 0) throw connectionError(ReplyCode.UNEXPECTED_FRAME, `heartbeat frame on channel ${channelId}`);
        if (end !== start) throw connectionError(ReplyCode.FRAME_ERROR, 'malformed heartbeat frame: it has a payload');
        return;
      }
      if (type === FRAME_METHOD && end - start < 4) throw connectionError(ReplyCode.FRAME_ERROR, 'method frame too short');
      const translated = this.amqp08 && type === FRAME_METHOD ? methodFrom08(buf, start, end) : null;
      if (translated !== null) {
        buf = translated;
        start = 0;
        end = buf.length;
      }
      if (this.state === 'handshake') return this.handshake!.onFrame(type, channelId, buf.subarray(start, end));
      if (channelId === 0) return this.onConnectionFrame(type, buf.subarray(start, end));
      if (this.state === 'closing') return; // only close/close-ok matter now
      const channel = this.channels[channelId];
      if (channel !== undefined) return channel.onFrame(type, buf, start, end);
      this.openChannel(type, channelId, buf.subarray(start, end));
    } catch (err) {
      this.fail(err, this.channels[channelId]);
    }
  }

  private openChannel(type: number, channelId: number, payload: Buffer): void {
    // RabbitMQ 3.10.8's texts, which name no channel.
    if (type !== FRAME_METHOD) throw connectionError(ReplyCode.UNEXPECTED_FRAME, 'expected method frame, got non method frame instead');
    if (payload.readUInt32BE(0) !== M.CHANNEL_OPEN) throw connectionError(ReplyCode.CHANNEL_ERROR, "expected 'channel.open'");
    if (channelId > this.channelMax) {
      throw connectionError(ReplyCode.NOT_ALLOWED, `channel ${channelId} is over the negotiated channel_max (${this.channelMax})`);
    }
    this.broker.checkChannelLimit(this);
    this.channels[channelId] = new Channel(channelId, this);
    this.channelCount++;
    this.writers.channelOpenOk(this.out, channelId);
    this.dirty();
  }

  get amqp08(): boolean {
    return this.writers === AMQP_0_8_WRITERS;
  }

  /** Called by the handshake once connection.open has been answered. */
  opened(): void {
    this.handshake = null;
    this.state = 'open';
  }

  /** Whether one of its consumers reads this queue (its acks drain it, so it is not held back). */
  consumesFrom(queueId: number): boolean {
    for (const channel of this.channels) {
      if (channel === undefined) continue;
      for (const consumer of channel.consumers.values()) if (consumer.queue.id === queueId) return true;
    }
    return false;
  }

  /** Its open channels, for the management API. */
  *openChannels(): IterableIterator<Channel> {
    for (const channel of this.channels) if (channel !== undefined) yield channel;
  }

  forgetChannel(channel: Channel): void {
    if (this.channels[channel.id] !== channel) return;
    this.channels[channel.id] = undefined;
    this.channelCount--;
  }

  /** Sends connection.close for an error and waits (briefly) for close-ok. */
  close(code: number, text: string, classId = 0, methodId = 0): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.releaseChannels();
    this.state = 'closing';
    this.closeReason = { code, text, by: 'server' };
    this.writers.connectionClose(this.out, { replyCode: code, replyText: text, classId, methodId });
    this.dirty();
    setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS).unref();
  }

  /**
   * The broker is going away: an open connection gets connection.close, one
   * still in its handshake is dropped. Resolves when the connection is done.
   */
  shutdown(error: AmqpError): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    const ended = new Promise<void>((resolve) => (this.whenEnded = resolve));
    if (this.state === 'open') this.fail(error);
    else if (this.state !== 'closing') this.socket.destroy();
    return ended;
  }

  /** Turns anything a handler threw into the close the spec asks for. */
  fail(err: unknown, channel?: Channel): void {
    const e = this.asReply(err);
    if (this.state === 'closed') return;
    if (this.state === 'handshake' && e.code !== ReplyCode.ACCESS_REFUSED && e.code !== ReplyCode.NOT_ALLOWED) {
      // Like RabbitMQ, a client in its handshake hears only of a refused login or vhost;
      // other errors close the socket unsaid. Bunny takes any connection.close there
      // for a refused login and gives up its connection recovery.
      connectionLog.warning(`closing connection ${this.id} (${this.name}) during the handshake: ${e.code} ${e.message}`);
      this.broker.output.flushNow(this); // what was answered before the error, a tune say, still goes
      this.socket.destroy();
      return;
    }
    // A failed handler may have left a frame half written: nothing unsent may precede the 541.
    if (e === INTERNAL && this.state !== 'closing') this.out.take();
    try {
      if (!e.hard && channel !== undefined) channel.close(e.code, e.message, e.classId, e.methodId);
      else this.close(e.code, e.message, e.classId, e.methodId);
    } catch (again) {
      // Even closing failed: drop the socket rather than serve it half torn down.
      this.asReply(again);
      this.socket.destroy();
    }
  }

  /** A protocol error as it is; anything else is a bug, logged with its stack and answered with 541. */
  private asReply(err: unknown): AmqpError {
    if (err instanceof AmqpError) return err;
    if (!this.internalErrorLogged) {
      this.internalErrorLogged = true;
      log.error(`internal error on connection ${this.name}; closing it (541)`, err);
    }
    return INTERNAL;
  }

  /** tune-ok: like RabbitMQ, heartbeat duty every heartbeat/2 seconds. */
  startHeartbeats(seconds: number): void {
    this.heartbeat = seconds;
    if (seconds === 0) return;
    this.heartbeatTimer = setInterval(() => this.guard(this.beat, Date.now()), seconds * 500);
    this.heartbeatTimer.unref();
  }

  /** One heartbeat period passed: send one if nothing else went out, drop a peer silent for two intervals. */
  private beat(now: number): void {
    if (this.state !== 'open') return;
    // A socket paused by flow control is not read, so its heartbeats cannot arrive.
    // A stall stands for a partition, where they do not arrive either: its silence counts.
    if (this.socket.isPaused() && !this.stalled) this.lastReceived = now;
    if (now - this.lastReceived >= 2 * this.heartbeat * 1000) {
      // A silent peer: RabbitMQ drops the socket without a close frame. Across a
      // partition the client cannot hear that: its socket closes when the stall ends.
      connectionLog.warning(`closing AMQP connection ${this.id} (${this.name}): missed heartbeats from client, timeout: ${this.heartbeat}s`);
      if (this.stalled) this.teardown();
      else this.socket.destroy();
      return;
    }
    if (!this.wrote) {
      this.out.heartbeat();
      this.broker.output.flushNow(this);
    }
    // Our own heartbeat does not count as traffic: the next period sends one again.
    this.wrote = false;
  }

  private onData(chunk: Buffer): void {
    this.lastReceived = Date.now();
    if (this.state === 'closed') return;
    if (this.state === 'header') {
      chunk = this.readHeader(chunk);
      if (chunk.length === 0) return;
    }
    // Bytes that were on their way when a publish met a block wait behind the frames held.
    if (this.heldInput !== null) {
      this.heldInput = Buffer.concat([this.heldInput, chunk]);
      return;
    }
    this.feed(chunk);
  }

  /** Hands the chunk's frames to the reader; keeps a copy of what it left once a publish met a block. */
  private feed(chunk: Buffer): void {
    try {
      const taken = this.reader.push(chunk);
      if (taken < chunk.length) this.heldInput = Buffer.from(chunk.subarray(taken));
      this.broker.output.flushAll();
    } catch (err) {
      // Only framing errors get here; the reader cannot go on: say why, then hang up.
      this.fail(err);
      this.broker.output.flushNow(this);
      this.socket.end();
      this.state = 'closed';
    }
  }

  /** Whether a channel still holds views of `buffer`, a read buffer (read-buffer.ts). */
  private holdsInput(buffer: ArrayBufferLike): boolean {
    const holders = this.inputHolders;
    let kept = 0;
    let held = false;
    for (let i = 0; i < holders.length; i++) {
      const channel = holders[i];
      if (!channel.stillHoldsInput()) continue;
      holders[kept++] = channel;
      if (!held && channel.holdsViewsOf(buffer)) held = true;
    }
    holders.length = kept;
    return held;
  }

  /** Checks the 8-byte protocol header; returns what follows it. */
  private readHeader(chunk: Buffer): Buffer {
    const need = PROTOCOL_HEADER.length - this.header.length;
    this.header = Buffer.concat([this.header, chunk.subarray(0, need)]);
    const sofar = this.header.length;
    if (!ACCEPTED_HEADERS.some((header) => header.subarray(0, sofar).equals(this.header))) {
      this.rejectHeader();
      return Buffer.alloc(0);
    }
    if (sofar < PROTOCOL_HEADER.length) return Buffer.alloc(0);
    if (AMQP_0_8_HEADERS.some((header) => header.equals(this.header))) this.writers = AMQP_0_8_WRITERS;
    this.state = 'handshake';
    this.handshake!.start();
    return chunk.subarray(need);
  }

  /** The spec: answer a bad header with the one we speak, then close. */
  private rejectHeader(): void {
    this.state = 'closed';
    this.socket.end(PROTOCOL_HEADER);
  }

  private onConnectionFrame(type: number, payload: Buffer): void {
    if (type !== FRAME_METHOD) {
      throw connectionError(ReplyCode.UNEXPECTED_FRAME, `unexpected frame type ${type} on channel 0`);
    }
    const id = payload.readUInt32BE(0);
    switch (id) {
      case M.CONNECTION_CLOSE: {
        const { replyCode, replyText } = M.decodeMethod(id, payload, 4, payload.length) as M.ConnectionClose;
        this.closeReason ??= { code: replyCode, text: replyText, by: 'client' };
        this.writers.connectionCloseOk(this.out);
        this.broker.output.flushNow(this);
        this.closeOkSent();
        return;
      }
      case M.CONNECTION_CLOSE_OK:
        if (this.state !== 'closing') break;
        this.ended();
        this.socket.end();
        return;
      case M.CONNECTION_UPDATE_SECRET:
        if (this.state === 'closing') return;
        // Decoded only so that a malformed frame is refused, as RabbitMQ does.
        M.decodeMethod(id, payload, 4, payload.length);
        this.updateSecret();
        return;
    }
    if (this.state === 'closing') return;
    // Any other method here, a handshake method again, a server's method or another class's:
    // RabbitMQ's "unexpected method in connection state running".
    const where = id >>> 16 === M.CLASS_CONNECTION ? 'on an open connection' : 'on channel 0';
    throw new AmqpError(ReplyCode.CHANNEL_ERROR, `unexpected ${M.methodName(id)} ${where}`, id >>> 16, id & 0xffff, true);
  }

  /**
   * RabbitMQ's extension for expiring credentials. Like RabbitMQ's internal
   * user database, whose passwords never expire (rabbit_access_control
   * update_state keeps such a backend's state as it is), warren's users
   * (src/auth) do not expire: the new secret is accepted and changes nothing, neither
   * this connection's user nor the password the next login needs.
   */
  private updateSecret(): void {
    M.writeConnectionUpdateSecretOk(this.out, 0, {});
    this.dirty();
  }

  private onDrain(): void {
    this.unpause(PAUSE_OUTPUT);
    if (!this.congested) return;
    this.congested = false;
    for (const channel of this.channels) channel?.updateFlow();
  }

  private releaseChannels(): void {
    for (const channel of this.channels) channel?.release();
    this.channels.length = 0;
    this.channelCount = 0;
  }

  /**
   * Our close-ok went out: the connection is gone for the broker (its channels released,
   * its exclusive queues too, as in RabbitMQ, in the same turn); the client closes the
   * socket, or it is dropped later. A socket left to linger does not keep the process
   * alive, and one the client closed does not keep its connection for the rest of the wait.
   */
  closeOkSent(): void {
    this.teardown();
    this.socket.unref();
    const drop = setTimeout(() => this.socket.destroy(), CLOSE_OK_LINGER_MS).unref();
    this.socket.once('close', () => clearTimeout(drop));
  }

  /** No more frames in either direction. */
  private ended(): void {
    this.state = 'closed';
    clearInterval(this.heartbeatTimer);
    this.whenEnded?.();
    this.whenEnded = null;
  }

  /** The connection is gone for the broker (its close-ok sent, its socket closed, or a stall timed out): once. */
  private teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    const release = this.state !== 'closed';
    this.ended();
    try {
      if (release) this.releaseChannels();
    } finally {
      this.broker.connectionClosed(this);
    }
  }
}
