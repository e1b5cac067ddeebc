import { Ring } from './ring.js';
import { RingWriter } from './ring-writer.js';
import type { Doorbell } from './doorbell.js';
import { Shard } from './shard.js';

/** Records handled per turn before yielding, so a flood cannot starve deliveries. */
const BATCH = 4096;
/**
 * Publisher flow control: past HIGH ready messages (or bytes) waiting for
 * consumers, or MEMORY bytes in all queues, the acceptor stops reading
 * publishers into this shard, and resumes them below half of each.
 */
const HIGH_MESSAGES = 10_000;
const HIGH_BYTES = 64 * 1024 * 1024;
const MEMORY_BYTES = 1024 * 1024 * 1024;

/**
 * Drives a Shard from its input ring: handle a batch of records, deliver, wake
 * the acceptor. The same runner serves a worker thread (shard-worker.ts, which
 * blocks between batches) and --workers 0 (a Pump in the acceptor's loop).
 */
export class ShardRunner {
  private readonly input: Ring;
  private readonly output: RingWriter;
  private readonly shard: Shard;

  constructor(
    input: Ring,
    output: Ring,
    private readonly acceptorBell: Doorbell,
  ) {
    this.input = input;
    this.output = new RingWriter(output, acceptorBell);
    this.shard = new Shard(this.output);
  }

  /** One batch; returns true if it made progress (call again before sleeping). */
  work(): boolean {
    let progress = this.output.drainOverflow();
    let handled = 0;
    const input = this.input;
    while (handled < BATCH) {
      const at = input.peek();
      if (at < 0) break;
      this.shard.handle(input.data, at, at + input.recordSize);
      input.consume();
      handled++;
    }
    if (handled > 0) {
      progress = true;
      this.shard.flushConfirms();
      if (input.producerBlocked) this.acceptorBell.ring();
    }
    if (this.shard.deliver()) progress = true;
    this.updateFullness();
    this.output.flush();
    return progress;
  }

  private updateFullness(): void {
    const { messages, bytes, totalBytes } = this.shard.backlog;
    const full = this.input.consumerFull;
    if (!full && (messages > HIGH_MESSAGES || bytes > HIGH_BYTES || totalBytes > MEMORY_BYTES)) {
      this.input.setConsumerFull(true);
    } else if (full && messages < HIGH_MESSAGES / 2 && bytes < HIGH_BYTES / 2 && totalBytes < MEMORY_BYTES / 2) {
      this.input.setConsumerFull(false);
      this.acceptorBell.ring();
    }
  }
}
