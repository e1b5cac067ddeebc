/**
 * Has a plain TCP socket read into one reused buffer instead of the fresh
 * 64 KiB one Node allocates, outside V8's heap, for every read: at saturation
 * that memory, taken as fast as the input came, had V8 run a mark-compact
 * several times a second.
 *
 * Node offers this as the `onread` option of `new net.Socket()`, which the
 * sockets a server accepts are made without; the fields that option sets are
 * set here on the accepted socket, as the constructor would. Where they are
 * missing (another Node) or the socket is TLS, the socket keeps its 'data'
 * events.
 *
 * A chunk lies in the buffer only until the next read. Whoever keeps views of
 * it past the callback says so through `keeps()`, asked after each chunk: the
 * next read then goes to a fresh buffer, and the old one is theirs.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

const READ_BYTES = 64 * 1024;

interface OnreadFields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let fields: OnreadFields | null | undefined;

/** The socket's `onread` fields (kBuffer, kBufferCb, kBufferGen); null where this Node has none. */
function onreadFields(socket: Socket): OnreadFields | null {
  if (fields !== undefined) return fields;
  const symbols = Object.getOwnPropertySymbols(socket);
  const named = (name: string) => symbols.find((s) => s.description === name);
  const [buffer, callback, generator] = [named('kBuffer'), named('kBufferCb'), named('kBufferGen')];
  fields = buffer && callback && generator ? { buffer, callback, generator } : null;
  return fields;
}

/** Returns false (and changes nothing) where the socket cannot read into a buffer of ours. */
export function readIntoReusedBuffer(socket: Socket, onChunk: (chunk: Buffer) => void, keeps: () => boolean): boolean {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buf: Buffer) => void } })._handle;
  const f = socket instanceof TLSSocket ? null : onreadFields(socket);
  if (f === null || typeof handle?.useUserBuffer !== 'function') return false;
  let buf = Buffer.allocUnsafeSlow(READ_BYTES);
  const s = socket as unknown as Record<symbol, unknown>;
  s[f.buffer] = buf;
  s[f.callback] = (nread: number, into: Buffer) => onChunk(into.subarray(0, nread));
  // Called after each chunk: the buffer for the next read.
  s[f.generator] = () => (keeps() ? (buf = Buffer.allocUnsafeSlow(READ_BYTES)) : buf);
  handle.useUserBuffer(buf);
  return true;
}
