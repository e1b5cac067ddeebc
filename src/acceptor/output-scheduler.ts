/**
 * Output batching. During a batch (a socket chunk, a run of shard records) the
 * connections with output and the shard links with records are only marked;
 * flushAll() at the batch's end writes each connection once and rings each
 * shard once. Work that finishes outside a batch (an awaited method) gets one
 * scheduled turn, which a batch's own flush cancels.
 */
import type { Connection } from './connection.js';
import type { Channel } from './channel.js';
import type { ShardLink } from './shard-link.js';
import { FlushList } from './flush-list.js';
import type { WaitFor } from '../rig/wait-for.js';

const flushLink = (link: ShardLink): void => link.flush();
const flushConnection = (conn: Connection): void => conn.guard(conn.flush, undefined);

export class OutputScheduler {
  private readonly dirtyConnections = new FlushList<Connection>();
  private readonly dirtyLinks = new FlushList<ShardLink>();
  /** channels with confirms to send, answered once per batch (Channel.confirmed) */
  private readonly confirming: Channel[] = [];
  /** the turn scheduled to flush work that finished outside a batch */
  private flushImmediate: NodeJS.Immediate | null = null;

  constructor(private readonly waitFor: WaitFor) {
    this.scheduledFlush = this.scheduledFlush.bind(this);
  }

  connectionDirty(conn: Connection): void {
    this.dirtyConnections.add(conn);
    this.scheduleFlush();
  }

  linkDirty(link: ShardLink): void {
    this.dirtyLinks.add(link);
    this.scheduleFlush();
  }

  /** The channel's confirms go out at the end of this batch. */
  confirmsFinished(channel: Channel): void {
    this.confirming.push(channel);
    this.scheduleFlush();
  }

  /** Writes a connection's output right away (before the socket is ended). */
  flushNow(conn: Connection): void {
    this.dirtyConnections.delete(conn);
    conn.flush();
  }

  /** A closed connection is not written. */
  forget(conn: Connection): void {
    this.dirtyConnections.delete(conn);
  }

  /**
   * Writes every dirty connection and rings every written shard. Called at the
   * end of each batch, and from the scheduled turn.
   */
  flushAll(): void {
    // Nothing left for the scheduled turn: an idle loop then sleeps in epoll at
    // once instead of polling through one more turn (per message at low load).
    if (this.flushImmediate !== null) {
      clearImmediate(this.flushImmediate);
      this.flushImmediate = null;
    }
    // Something was published, settled, delivered, declared or answered: a waiter may be satisfied.
    if (this.waitFor.active && !(this.dirtyLinks.empty && this.dirtyConnections.empty)) this.waitFor.poke();
    const confirming = this.confirming;
    for (let i = 0; i < confirming.length; i++) confirming[i].flushConfirms();
    confirming.length = 0;
    // Sockets before bells: a delivery made in this batch (under a lease) does not
    // wait for a shard's wake-up, which costs its waker tens of µs on some hosts.
    // The records are in the rings already; only the bells wait.
    this.dirtyConnections.drain(flushConnection);
    this.dirtyLinks.drain(flushLink);
  }

  private scheduleFlush(): void {
    if (this.flushImmediate !== null) return;
    this.flushImmediate = setImmediate(this.scheduledFlush);
  }

  private scheduledFlush(): void {
    this.flushImmediate = null;
    this.flushAll();
  }
}
