/**
 * The messages an inline shard (--workers 0) delivers by reference. The shard
 * and the acceptor share one heap there, so a DELIVER record marked
 * DELIVER_BY_REFERENCE carries no block: its block is the next message here,
 * in the order of the records. That takes two copies of the body off a
 * delivery, into the record and out of it (through the scratch buffer, the
 * ring being shared memory): under lavinmqperf at 1 KiB, 5% more consumed and
 * 2-4% less CPU a message (docs/BENCHMARKS.md).
 *
 * A reference stays good: a block is never written once made (the arena
 * carves new memory for every copy, its compaction too), and this keeps the
 * message alive until the acceptor takes it. What is handed over waits here
 * no longer than a record waits in the ring, and at most `limit` bytes of it:
 * past that the shard copies into the ring, which then bounds it as before.
 */
import type { StoredMessage } from './queue.js';

/** Taken entries kept at the front of the array before they are cut off (the acceptor usually takes everything first). */
const COMPACT_AFTER = 1024;

export class BlockHandoff {
  private readonly messages: StoredMessage[] = [];
  private head = 0;
  /** bytes of the blocks handed over and not yet taken */
  private bytes = 0;

  constructor(private readonly limit: number) {}

  /** Whether a block of `size` bytes may go by reference now. */
  fits(size: number): boolean {
    return this.bytes + size <= this.limit;
  }

  /** The shard: the DELIVER record it writes now has `message`'s block. */
  push(message: StoredMessage): void {
    this.messages.push(message);
    this.bytes += message.block.length;
  }

  /** The acceptor: the message of the DELIVER record by reference it reads now. */
  take(): StoredMessage {
    const messages = this.messages;
    if (this.head === messages.length) throw new Error('a DELIVER record by reference with no message handed over');
    const message = messages[this.head++];
    this.bytes -= message.block.length;
    if (this.head === messages.length) {
      messages.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= messages.length) {
      messages.splice(0, this.head);
      this.head = 0;
    }
    return message;
  }
}
