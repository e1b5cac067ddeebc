/**
 * The publish a channel is receiving: basic.publish, then its content header,
 * then its body frames. Its parts stay where they arrived, as places in the
 * socket's chunks, so the hot path makes no view objects; `exchange`,
 * `routingKey`, `properties` and `body` make one when a slower path asks.
 */
import { FRAME_BODY, FRAME_HEADER } from '../protocol/constants.js';
import { AmqpError, ReplyCode, connectionError } from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-types.js';
import { deliveryMode, propertiesError } from '../protocol/properties-validator.js';
import * as M from '../protocol/methods.generated.js';
import { alignPad, copyBytes, type ViewHolder } from '../protocol/copy-bytes.js';
import { readU16BE, readU32BE } from '../protocol/uint32.js';
import type { OutputBuffer } from '../protocol/output-buffer.js';
import { PUBLISH_IMMEDIATE, PUBLISH_MANDATORY, PUBLISH_PERSISTENT, blockSize, copyParts, writeBlockProperties } from '../shard/records.js';
import type { RoutedMessage } from '../routing/topology.js';
import { HEADERS_FLAG_BYTE0 } from '../routing/sender-selected.js';
import { REPLY_TO_FLAG_BYTE0 } from './direct-reply-to.js';
import { messageParts, type MessageParts } from '../rig/observers.js';

/** Bodies above this are let go as soon as they are routed (letGoOfLargeBody). */
const LARGE_BODY = 1024 * 1024;
/**
 * Body frames smaller than this are copied together into buffers of the
 * message's own (up to GATHER_BYTES each) instead of kept as views: a view
 * costs about 100 bytes of V8 heap, so a 128 MiB body in one-byte frames would
 * have cost 13 GiB, none of it counted by the memory alarm. Clients send
 * frames of frame-max (4 KiB at least) but the last.
 */
const SMALL_PART = 1024;
const GATHER_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const NO_CONTENT = 0;
const EXPECT_HEADER = 1;
const EXPECT_BODY = 2;

export class IncomingMessage implements RoutedMessage {
  /** `input`: the connection it comes from, with views of the chunks its parts lie in, for word-wise copies out of them (copyBytes) */
  constructor(private readonly input: ViewHolder) {}

  private expecting = NO_CONTENT;
  /** PUBLISH_* flags for its ring record */
  flags = 0;
  bodySize = 0;
  private received = 0;
  // The exchange and routing-key shortstrs lie side by side, as in basic.publish,
  // at names[namesAt..keyAt..namesEnd); the properties at props[propsAt..propsEnd).
  names: Buffer = EMPTY;
  namesAt = 0;
  keyAt = 0;
  namesEnd = 0;
  private props: Buffer = EMPTY;
  private propsAt = 0;
  private propsEnd = 0;
  private exchangeView: Buffer | null = null;
  private routingKeyView: Buffer | null = null;
  private propertiesView: Buffer | null = null;
  /** A body that came in one frame, the usual case, lies at bodySrc[bodyAt..): no view is made of it. */
  private bodySrc: Buffer | null = null;
  private bodyAt = 0;
  /** A body in several frames, as views of them, or of `gathered`. */
  private readonly bodyParts: Buffer[] = [];
  /** where small body frames are copied, from `gatheredFrom` (not yet a part) to `gatheredTo` */
  private gathered: Buffer | null = null;
  private gatheredFrom = 0;
  private gatheredTo = 0;

  /** Between basic.publish and its last body frame. */
  get assembling(): boolean {
    return this.expecting !== NO_CONTENT;
  }

  /** Bytes of its body received so far (they count against the memory watermark). */
  get receivedBytes(): number {
    return this.expecting === EXPECT_BODY ? this.received : 0;
  }

  /** The rest of its frames will not come (the channel closed). */
  abandon(): void {
    this.expecting = NO_CONTENT;
  }

  /** basic.publish decoded by hand: the exchange and key stay as shortstr bytes. */
  start(buf: Buffer, start: number, end: number, flags: number): void {
    const exchangeAt = start + 6; // class, method, reserved-1
    const keyAt = exchangeAt + 1 + buf[exchangeAt];
    // (past the frame: the end check below refuses it)
    const keyEnd = keyAt < end ? keyAt + 1 + buf[keyAt] : end;
    if (keyEnd + 1 !== end) {
      throw new AmqpError(ReplyCode.SYNTAX_ERROR, 'malformed basic.publish', M.CLASS_BASIC, 40, true);
    }
    const bits = buf[keyEnd];
    this.setNames(buf, exchangeAt, keyAt);
    this.flags = (bits & 1 ? PUBLISH_MANDATORY : 0) | (bits & 2 ? PUBLISH_IMMEDIATE : 0) | flags;
    this.expecting = EXPECT_HEADER;
  }

  /** A content frame of this publish; returns true when it completed the message. */
  content(type: number, buf: Buffer, start: number, end: number, maxSize: number): boolean {
    if (type === FRAME_HEADER && this.expecting === EXPECT_HEADER) {
      if (end - start < 12) throw connectionError(ReplyCode.FRAME_ERROR, 'content header frame too short');
      if (readU16BE(buf, start) !== M.CLASS_BASIC) {
        throw new AmqpError(ReplyCode.UNEXPECTED_FRAME, `expected content header for class 60, got one for class ${readU16BE(buf, start)}`, M.CLASS_BASIC, 40, true);
      }
      if (readU16BE(buf, start + 2) !== 0) {
        throw new AmqpError(ReplyCode.UNEXPECTED_FRAME, `content header weight ${readU16BE(buf, start + 2)}: it must be 0`, M.CLASS_BASIC, 40, true);
      }
      // Properties are stored and delivered verbatim: check them once, here (RabbitMQ: 541, nothing stored).
      const malformed = propertiesError(buf, start + 12, end);
      if (malformed !== null) throw connectionError(ReplyCode.INTERNAL_ERROR, `malformed content header properties: ${malformed}`);
      if (deliveryMode(buf, start + 12) === 2) this.flags |= PUBLISH_PERSISTENT;
      const high = readU32BE(buf, start + 4);
      const bodySize = high * 0x1_0000_0000 + readU32BE(buf, start + 8);
      if (bodySize > maxSize) {
        this.expecting = NO_CONTENT;
        // above 2^53 the number would print rounded
        const exact = high < 0x20_0000 ? String(bodySize) : buf.readBigUInt64BE(start + 4).toString();
        throw new AmqpError(ReplyCode.PRECONDITION_FAILED, `message size ${exact} is larger than configured max size ${maxSize}`, M.CLASS_BASIC, 40, false);
      }
      this.resetBody(bodySize);
      this.received = 0;
      this.props = buf;
      this.propsAt = start + 12;
      this.propsEnd = end;
      this.propertiesView = null;
      this.expecting = EXPECT_BODY;
      return bodySize === 0 ? this.complete() : false;
    }
    if (type === FRAME_BODY && this.expecting === EXPECT_BODY) {
      if (this.received === 0 && end - start === this.bodySize) {
        this.bodySrc = buf;
        this.bodyAt = start;
        return this.complete();
      }
      const size = end - start;
      // An empty body frame carries nothing: an endless run of them kept nothing either.
      if (size === 0) return false;
      this.received += size;
      if (this.received > this.bodySize) {
        // RabbitMQ's code: a frame past the body is not the body frame expected.
        throw connectionError(ReplyCode.UNEXPECTED_FRAME, `body of ${this.received} bytes exceeds the declared ${this.bodySize}`);
      }
      if (size < SMALL_PART) {
        this.gather(buf, start, size);
      } else {
        this.endGathered();
        this.bodyParts.push(buf.subarray(start, end));
      }
      if (this.received < this.bodySize) return false;
      this.endGathered();
      return this.complete();
    }
    const wanted = this.expecting === EXPECT_HEADER ? 'content header' : 'content body';
    throw new AmqpError(ReplyCode.UNEXPECTED_FRAME, `expected ${wanted} for class 60, got frame type ${type} instead`, M.CLASS_BASIC, 40, true);
  }

  /** Copies a small body frame after the ones before it, into a new buffer when the last is full. */
  private gather(buf: Buffer, start: number, size: number): void {
    if (this.gathered === null || this.gatheredTo + size > this.gathered.length) {
      this.endGathered();
      // What is still to come bounds it: declared, and within the largest message allowed.
      this.gathered = Buffer.allocUnsafe(Math.min(GATHER_BYTES, size + this.bodySize - this.received));
      this.gatheredFrom = this.gatheredTo = 0;
    }
    buf.copy(this.gathered, this.gatheredTo, start, start + size);
    this.gatheredTo += size;
  }

  /** The small frames gathered since the last part become one part. */
  private endGathered(): void {
    if (this.gatheredTo === this.gatheredFrom) return;
    this.bodyParts.push(this.gathered!.subarray(this.gatheredFrom, this.gatheredTo));
    this.gatheredFrom = this.gatheredTo;
  }

  private complete(): true {
    this.expecting = NO_CONTENT;
    return true;
  }

  /**
   * After it was routed: a large body's frames (views of socket chunks) are
   * not kept until the channel's next publish.
   */
  letGoOfLargeBody(): void {
    if (this.bodySize > LARGE_BODY && this.bodyParts.length !== 0) this.bodyParts.length = 0;
    this.gathered = null;
  }

  /** A whole message again, as a transaction buffered it: exchange and routing key shortstrs, properties and body, one after another in `data`. */
  load(data: Buffer, keyAt: number, propertiesAt: number, bodyAt: number, flags: number): void {
    this.setNames(data, 0, keyAt);
    this.flags = flags;
    this.properties = data.subarray(propertiesAt, bodyAt);
    this.resetBody(data.length - bodyAt, data.subarray(bodyAt));
  }

  /** The exchange shortstr at names[exchangeAt..keyAt), the routing key's right after it. */
  private setNames(names: Buffer, exchangeAt: number, keyAt: number): void {
    this.names = names;
    this.namesAt = exchangeAt;
    this.keyAt = keyAt;
    this.namesEnd = keyAt + 1 + names[keyAt];
    this.exchangeView = null;
    this.routingKeyView = null;
  }

  /** The exchange name as a shortstr. */
  get exchange(): Buffer {
    return (this.exchangeView ??= this.names.subarray(this.namesAt, this.keyAt));
  }

  /** The routing key as a shortstr. */
  get routingKey(): Buffer {
    return (this.routingKeyView ??= this.names.subarray(this.keyAt, this.namesEnd));
  }

  get properties(): Buffer {
    return (this.propertiesView ??= this.props.subarray(this.propsAt, this.propsEnd));
  }

  /** Properties rewritten (direct reply-to, BCC removed, a transaction's replay). */
  set properties(properties: Buffer) {
    this.props = this.propertiesView = properties;
    this.propsAt = 0;
    this.propsEnd = properties.length;
  }

  /** The body as buffers, for what keeps or re-sends it: transactions, returns, direct replies, observers. */
  get body(): Buffer[] {
    if (this.bodySrc !== null) {
      this.bodyParts.push(this.bodySrc.subarray(this.bodyAt, this.bodyAt + this.bodySize));
      this.bodySrc = null;
    }
    return this.bodyParts;
  }

  /** A new body of `size` bytes: `bodySrc` whole when given, else still to come. */
  private resetBody(size: number, bodySrc: Buffer | null = null): void {
    this.bodySize = size;
    this.bodySrc = bodySrc;
    this.bodyAt = 0;
    if (this.bodyParts.length !== 0) this.bodyParts.length = 0;
    this.gathered = null;
    this.gatheredFrom = this.gatheredTo = 0;
  }

  /** The basic property flags (0 for an empty property list). */
  get propertyFlags(): number {
    return this.propsEnd - this.propsAt >= 2 ? readU16BE(this.props, this.propsAt) : 0;
  }

  /** Only a message with a headers table can carry CC or BCC (sender-selected distribution). */
  hasHeaders(): boolean {
    return (this.firstFlagsByte() & HEADERS_FLAG_BYTE0) !== 0;
  }

  hasReplyTo(): boolean {
    return (this.firstFlagsByte() & REPLY_TO_FLAG_BYTE0) !== 0;
  }

  /** The property flags' first byte, where a property list holds more than its flags (else 0). */
  private firstFlagsByte(): number {
    return this.propsEnd - this.propsAt > 2 ? this.props[this.propsAt] : 0;
  }

  /** For headers exchanges: decoded only when one is on the route. */
  headers(): FieldTable | undefined {
    return M.decodeBasicProperties(this.properties, 0, this.properties.length).headers;
  }

  /** The length of its block (records.ts) without the body. */
  get blockHead(): number {
    return blockSize(this.namesEnd - this.namesAt, this.propsEnd - this.propsAt, 0);
  }

  /** The pad before a body copied to dst[at..) that makes it agree mod 8 with its first frame (alignPad). */
  bodyPad(dst: Buffer, at: number, slack: number): number {
    const body = this.bodySrc ?? this.bodyParts[0];
    return alignPad(body, this.bodySrc !== null ? this.bodyAt : 0, dst, at, slack);
  }

  /** Writes its block at buf[at..) (`view`: buf's): exchange and routing key exactly as basic.publish carried them, properties, body. */
  writeBlock(buf: Buffer, view: DataView, at: number): void {
    const input = this.input;
    at += copyBytes(this.names, this.namesAt, this.namesEnd, buf, at, input.viewOf(this.names), view);
    at = writeBlockProperties(buf, at, this.props, this.propsAt, this.propsEnd, this.bodySize, input.viewOf(this.props), view);
    const body = this.bodySrc;
    if (body !== null) copyBytes(body, this.bodyAt, this.bodyAt + this.bodySize, buf, at, input.viewOf(body), view);
    else copyParts(this.bodyParts, buf, at);
  }

  /** Its exchange and routing key, shortstrs as published (basic.deliver's). */
  writeNames(out: OutputBuffer): void {
    out.bytes(this.names, this.namesAt, this.namesEnd, this.input.viewOf(this.names));
  }

  /** Its content (header and body frames) on channel `channelId`. */
  writeContent(out: OutputBuffer, channelId: number, frameMax: number): void {
    const bodySrc = this.bodySrc;
    if (bodySrc !== null) {
      const input = this.input;
      out.writeContentFrom(channelId, M.CLASS_BASIC, this.props, this.propsAt, this.propsEnd, bodySrc, this.bodyAt, this.bodyAt + this.bodySize, frameMax, input.viewOf(this.props), input.viewOf(bodySrc));
    }
    else out.writeContent(channelId, M.CLASS_BASIC, this.bodySize, this.properties, this.bodyParts, frameMax);
  }

  /** Decoded for an observer. */
  parts(): MessageParts {
    return messageParts(this.exchange, this.routingKey, this.properties, Buffer.concat(this.body, this.bodySize));
  }

  /**
   * The bytes it holds in `buffer` (a read buffer); with `move`, each such view
   * is replaced by what move returns (Channel.holdsViewsOf).
   */
  viewsIn(buffer: ArrayBufferLike, move: ((src: Buffer, start: number, end: number) => Buffer) | null): number {
    if (this.expecting === NO_CONTENT) return 0;
    let held = 0;
    if (this.names.buffer === buffer) {
      held += this.namesEnd - this.namesAt;
      if (move !== null) this.setNames(move(this.names, this.namesAt, this.namesEnd), 0, this.keyAt - this.namesAt);
    }
    if (this.expecting === EXPECT_BODY) {
      if (this.props.buffer === buffer) {
        held += this.propsEnd - this.propsAt;
        if (move !== null) this.properties = move(this.props, this.propsAt, this.propsEnd);
      }
      const parts = this.bodyParts;
      for (let i = 0; i < parts.length; i++) {
        if (parts[i].buffer !== buffer) continue;
        held += parts[i].length;
        if (move !== null) parts[i] = move(parts[i], 0, parts[i].length);
      }
    }
    return held;
  }
}
