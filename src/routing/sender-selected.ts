/**
 * RabbitMQ's sender-selected distribution: the `CC` and `BCC` headers of a
 * publish (arrays of longstr) are more routing keys for the same exchange, and
 * `BCC` is removed from the message before it is stored. Read from the raw
 * property bytes (already checked by properties-validator.ts): only the
 * header keys are looked at, so a message without CC or BCC allocates nothing.
 */
import { AmqpError, ReplyCode } from '../protocol/errors.js';
import { HEADERS_FLAG, fieldValueEnd, propertyAt } from '../protocol/properties-validator.js';
import { readU32BE } from '../protocol/uint32.js';
import { TYPE_NAMES } from '../protocol/field-types.js';

/** The headers bit of a basic property list's flags, in its first byte. */
export const HEADERS_FLAG_BYTE0 = HEADERS_FLAG >>> 8;

export interface SenderSelected {
  /** the CC then BCC routing keys, in order (duplicates are harmless: routing collects a set) */
  readonly keys: string[];
  /** the property bytes to store: without the BCC header, else the ones given */
  readonly properties: Buffer;
}

const C = 0x43;
const B = 0x42;

/**
 * The CC/BCC routing keys of a property list whose headers flag is set, or
 * null when it has neither header. A CC or BCC that is not an array is
 * refused with RabbitMQ's 406; array items other than longstr are ignored, as
 * RabbitMQ does.
 */
export function senderSelected(props: Buffer): SenderSelected | null {
  const tableAt = propertyAt(props, 0, HEADERS_FLAG);
  const tableEnd = tableAt + 4 + readU32BE(props, tableAt);
  let cc = -1;
  let bcc = -1;
  let bccEnd = -1;
  for (let p = tableAt + 4; p < tableEnd; ) {
    const keyLen = props[p];
    const valueAt = p + 1 + keyLen;
    const valueEnd = fieldValueEnd(props, valueAt, tableEnd);
    // The first of each name counts, as RabbitMQ's table lookup does.
    if (keyLen === 2 && cc < 0 && props[p + 1] === C && props[p + 2] === C) cc = valueAt;
    else if (keyLen === 3 && bcc < 0 && props[p + 1] === B && props[p + 2] === C && props[p + 3] === C) {
      bcc = p;
      bccEnd = valueEnd;
    }
    p = valueEnd;
  }
  if (cc < 0 && bcc < 0) return null;
  const keys: string[] = [];
  if (cc >= 0) routesOf(props, cc, 'CC', keys);
  if (bcc < 0) return { keys, properties: props };
  routesOf(props, bcc + 4, 'BCC', keys);
  const stripped = Buffer.allocUnsafe(props.length - (bccEnd - bcc));
  props.copy(stripped, 0, 0, bcc);
  props.copy(stripped, bcc, bccEnd);
  stripped.writeUInt32BE(tableEnd - tableAt - 4 - (bccEnd - bcc), tableAt);
  return { keys, properties: stripped };
}

/** Adds the longstr items of the array at `at` (its type letter) to `keys`. */
function routesOf(props: Buffer, at: number, header: string, keys: string[]): void {
  const type = String.fromCharCode(props[at]);
  if (type !== 'A') {
    const name = TYPE_NAMES[type] ?? type;
    throw new AmqpError(ReplyCode.PRECONDITION_FAILED, `invalid message: {unacceptable_type_in_header,"${header}",${name}}`, 60, 40, false);
  }
  const end = at + 5 + props.readUInt32BE(at + 1);
  for (let p = at + 5; p < end; ) {
    const next = fieldValueEnd(props, p, end);
    if (props[p] === 0x53) keys.push(props.toString('utf8', p + 5, next));
    p = next;
  }
}
