/**
 * Has a plain TCP socket read into buffers of its own, reused, instead of the
 * fresh 64 KiB one Node allocates outside V8's heap for every read: at
 * saturation that memory, taken as fast as the input came, had V8 run a
 * mark-compact several times a second.
 *
 * Node offers this as the `onread` option of `new net.Socket()`, which the
 * sockets a server accepts are made without; the fields that option sets are
 * set here on the accepted socket, as the constructor would. Where they are
 * missing (another Node) or the socket is TLS, the socket keeps its 'data'
 * events.
 *
 * A chunk lies in its buffer only until that buffer is read into again. After
 * each chunk `holds(buffer)` asks whether views of it are still kept (a
 * publish cut by the chunk's end, frames waiting behind a busy channel): then
 * the next read goes to the spare buffer, or a fresh one if the spare is held
 * too. A connection starts with 1 KiB and doubles, up to 64 KiB, while its
 * reads fill the buffer: idle connections stay small.
 *
 * These fields are Node's own, not its API: should a Node keep them but stop
 * asking the generator after each read, chunks would be overwritten while
 * held. test/property/body-frames.property.test.ts fails then.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { viewOfBytes } from '../protocol/copy-bytes.js';

const FIRST_READ = 1024;
const MAX_READ = 64 * 1024;

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

/** The buffers a socket reads into; `bytes`: what they take (the memory alarm counts it). */
export interface ReadBuffers {
  readonly bytes: number;
}

/** Returns null (and changes nothing) where the socket cannot read into buffers of ours. */
export function readIntoOwnBuffers(socket: Socket, onChunk: (chunk: Buffer, view: DataView | null) => void, holds: (buffer: ArrayBufferLike) => boolean): ReadBuffers | null {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buf: Buffer) => void } })._handle;
  const f = socket instanceof TLSSocket ? null : onreadFields(socket);
  if (f === null || typeof handle?.useUserBuffer !== 'function') return null;
  let current: Buffer = Buffer.allocUnsafeSlow(FIRST_READ);
  // Views of the buffers, at the same offsets as their chunks: for word-wise copies out of them (copyBytes).
  let currentView = viewOfBytes(current);
  let spare: Buffer | null = null;
  let spareView = currentView;
  let filled = false;
  const s = socket as unknown as Record<symbol, unknown>;
  s[f.buffer] = current;
  s[f.callback] = (nread: number, into: Buffer) => {
    filled = nread === into.length;
    onChunk(into.subarray(0, nread), into === current ? currentView : null);
  };
  // Called after each chunk: the buffer for the next read.
  s[f.generator] = () => {
    const size = filled && current.length < MAX_READ ? current.length * 2 : current.length;
    if (!holds(current.buffer)) {
      if (size !== current.length) {
        current = Buffer.allocUnsafeSlow(size);
        currentView = viewOfBytes(current);
      }
      return current;
    }
    const reuse = spare !== null && spare.length === size && !holds(spare.buffer);
    const next = reuse ? spare! : Buffer.allocUnsafeSlow(size);
    const nextView = reuse ? spareView : viewOfBytes(next);
    spare = current;
    spareView = currentView;
    current = next;
    currentView = nextView;
    return current;
  };
  handle.useUserBuffer(current);
  return {
    get bytes() {
      return current.length + (spare === null ? 0 : spare.length);
    },
  };
}
