// The contract between the load generator and a client library. Both drivers
// implement it, so every scenario runs on either and reports which one it used.

export type DriverName = 'amqplib' | 'pipelined';

export interface PublisherSpec {
  exchange: string;
  /** Published round-robin; a single key for most scenarios. */
  routingKeys: string[];
  size: number;
  persistent: boolean;
  confirm: boolean;
  /** Most unconfirmed messages allowed (confirm mode). */
  inFlight: number;
  /** Messages per second for this publisher; 0 = as fast as backpressure allows. */
  rate: number;
}

export interface ConsumerSpec {
  queues: string[];
  noAck: boolean;
  prefetch: number;
  /** basic.consume's arguments (a stream's x-stream-offset) */
  arguments?: Record<string, string>;
}

export interface Publisher {
  /** Writes one message stamped `stampUs`; false means: await writable() before more. */
  publish(keyIndex: number, stampUs: number): boolean;
  /** Resolves when more may be written (and lets the event loop run). */
  writable(): Promise<void>;
  /** Resolves once the broker has processed everything written before (a synchronous round trip). */
  sync(): Promise<void>;
  /** Messages confirmed so far (confirm mode). */
  confirmed(): number;
  /** Resolves when confirmed() >= n. */
  waitConfirmed(n: number): Promise<void>;
  close(): Promise<void>;
}

export interface Closeable {
  close(): Promise<void>;
}

export interface Driver {
  readonly name: DriverName;
  /** `onConfirm` (confirm mode) gets the send stamp (µs, monotonic clock) of each message as its confirm arrives. */
  openPublisher(url: string, spec: PublisherSpec, onConfirm?: (stampUs: number) => void): Promise<Publisher>;
  /** `onDelivery` gets the send timestamp (µs, monotonic clock) read from each body. */
  openConsumer(url: string, spec: ConsumerSpec, onDelivery: (stampUs: number) => void): Promise<Closeable>;
  openIdle(url: string): Promise<Closeable>;
}

/** A message body: the send timestamp in the first 8 bytes, then filler. */
export function makeBody(size: number): Buffer {
  const body = Buffer.alloc(Math.max(size, 8), 0x2e);
  body.writeDoubleLE(0, 0);
  return body;
}
