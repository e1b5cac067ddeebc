/**
 * Faults on demand, for testing a client's reconnect, retry and back-pressure
 * code: close connections with a chosen code, block publishers
 * (connection.blocked), refuse new connections, stall or delay connections,
 * cancel a queue's consumers, simulate a restart. Each acts
 * on the open connections a filter matches and is undone by a call or a duration.
 */
import type { Broker } from '../broker.js';
import type { Connection } from '../acceptor/connection.js';
import { AmqpError, ReplyCode } from '../protocol/errors.js';

/** Which connections a fault hits; an absent field matches any, `{}` matches all. */
export interface ConnectionFilter {
  user?: string;
  vhost?: string;
  /** the client-provided connection_name (client property) */
  name?: string;
}

export interface CloseOptions {
  /** default 320 CONNECTION_FORCED */
  code?: number;
  /** the reply text after RabbitMQ's "NAME - " prefix */
  text?: string;
}

export interface RefuseOptions {
  /** 'reset': the socket is destroyed as it is accepted; 'not-allowed': 530 at connection.open. Default 'reset'. */
  mode?: 'reset' | 'not-allowed';
  /** accept again after this long; default until acceptConnections() */
  forMs?: number;
}

export interface DelayOptions {
  /** how late each write goes out */
  ms: number;
  /** on time again after this long; default until undelayDeliveries() */
  forMs?: number;
}

export interface StallOptions {
  /** read and write again after this long; default until unstallConnections() */
  forMs?: number;
}

export interface RestartOptions {
  /** how long new connections are refused (reset) after everything was closed; default 0 */
  downMs?: number;
}

const BLOCKED_REASON = 'blocked by a test fault';
/** What RabbitMQ's clients hear when it stops (stop_app, a restart). */
export const SHUTDOWN_FORCED = new AmqpError(ReplyCode.CONNECTION_FORCED, "broker forced connection closure with reason 'shutdown'", 0, 0, true);

export class Faults {
  /** set while new connections are refused, and how */
  refusing: 'reset' | 'not-allowed' | null = null;
  private refuseTimer: NodeJS.Timeout | null = null;
  /**
   * Connections stalled and not unstalled yet. Those the broker dropped in the
   * stall are in no other list, and their sockets wait here for its end.
   */
  private readonly stalled = new Set<Connection>();

  constructor(private readonly broker: Broker) {}

  /** The open connections `filter` matches. */
  matching(filter: ConnectionFilter = {}): Connection[] {
    const found: Connection[] = [];
    for (const conn of this.broker.connections) if (conn.state === 'open' && matches(conn, filter)) found.push(conn);
    return found;
  }

  /** Sends connection.close (320 CONNECTION_FORCED unless told) to each match; returns how many. */
  closeConnections(filter: ConnectionFilter = {}, options: CloseOptions = {}): number {
    const error = new AmqpError(options.code ?? ReplyCode.CONNECTION_FORCED, options.text ?? 'closed by a test fault', 0, 0, true);
    const hit = this.matching(filter);
    for (const conn of hit) conn.fail(error);
    this.broker.output.flushAll();
    return hit.length;
  }

  /** connection.blocked to each match, and its publishes held (see ResourceAlarm.blockOnDemand); returns how many. */
  blockPublishers(filter: ConnectionFilter = {}): number {
    const hit = this.matching(filter);
    for (const conn of hit) this.broker.alarms.blockOnDemand(conn, BLOCKED_REASON);
    this.broker.output.flushAll();
    return hit.length;
  }

  /** connection.unblocked to each match that was blocked on demand, and it is read again. */
  unblockPublishers(filter: ConnectionFilter = {}): number {
    const hit = this.matching(filter);
    for (const conn of hit) this.broker.alarms.unblockOnDemand(conn);
    this.broker.output.flushAll();
    return hit.length;
  }

  /** New connections are refused (reset at accept, or 530 at connection.open) until acceptConnections() or `forMs`. */
  refuseConnections(options: RefuseOptions = {}): void {
    this.refusing = options.mode ?? 'reset';
    if (this.refuseTimer !== null) clearTimeout(this.refuseTimer);
    this.refuseTimer = options.forMs === undefined ? null : setTimeout(() => this.acceptConnections(), options.forMs);
    this.refuseTimer?.unref();
  }

  acceptConnections(): void {
    this.refusing = null;
    if (this.refuseTimer !== null) clearTimeout(this.refuseTimer);
    this.refuseTimer = null;
  }

  /**
   * A simulated broker restart. New connections are refused (reset) at once;
   * every connection is closed with 320 and RabbitMQ's shutdown text (unacked
   * messages go back to their queues); then what a restart loses goes, in every
   * vhost: non-durable and exclusive queues, non-durable exchanges and their
   * bindings, and the transient messages of durable queues. Durable queues,
   * exchanges and bindings between them, their persistent messages (delivery-mode
   * 2; in memory without a data dir), users, vhosts and permissions stay.
   * Connections are accepted again `downMs` after the call, or once that is
   * done if later; the promise resolves then.
   */
  async restart(options: RestartOptions = {}): Promise<void> {
    const upAt = Date.now() + (options.downMs ?? 0);
    this.refuseConnections({ mode: 'reset' });
    await this.broker.disconnectAll(SHUTDOWN_FORCED);
    await Promise.all([...this.broker.vhosts.values()].map((service) => service.dropTransient()));
    // A timer may fire a millisecond before Date.now() reaches its end (libuv's loop clock lags it): wait again then.
    while (Date.now() < upAt) await new Promise((resolve) => setTimeout(resolve, upAt - Date.now()));
    this.acceptConnections();
  }

  /**
   * Each match's deliveries (and everything else written to it, in order: replies,
   * heartbeats) go out `ms` late until undelayDeliveries() or `forMs`; returns how many.
   */
  delayDeliveries(filter: ConnectionFilter, options: DelayOptions): number {
    const hit = this.matching(filter);
    for (const conn of hit) conn.delayOutput(options.ms);
    if (options.forMs !== undefined) setTimeout(() => hit.forEach((conn) => conn.delayOutput(0)), options.forMs).unref();
    return hit.length;
  }

  undelayDeliveries(filter: ConnectionFilter = {}): number {
    const hit = this.matching(filter);
    for (const conn of hit) conn.delayOutput(0);
    return hit.length;
  }

  /**
   * basic.cancel (consumer_cancel_notify) to every consumer of the queue (in vhost '/'
   * unless given); their unacked deliveries stay unacked, the queue and its messages stay.
   * Returns how many consumers were cancelled; throws if there is no such queue.
   */
  cancelConsumers(queue: string): number;
  cancelConsumers(vhost: string, queue: string): number;
  cancelConsumers(a: string, b?: string): number {
    const [vhost, name] = b === undefined ? ['/', a] : [a, b];
    const record = this.broker.vhosts.get(vhost)?.topology.queues.get(name);
    if (record === undefined) throw new Error(`faults.cancelConsumers: no queue '${name}' in vhost '${vhost}'`);
    const cancelled = this.broker.consumers.cancelAll(record);
    this.broker.output.flushAll();
    return cancelled;
  }

  /**
   * Stops reading and writing each match until unstallConnections() or `forMs`, as a
   * partition would: its client's heartbeat times out, and the broker's drops it (Connection.beat).
   */
  stallConnections(filter: ConnectionFilter = {}, options: StallOptions = {}): number {
    const hit = this.matching(filter);
    for (const conn of hit) {
      conn.stall();
      this.stalled.add(conn);
    }
    if (options.forMs !== undefined) setTimeout(() => hit.forEach((conn) => this.unstall(conn)), options.forMs).unref();
    return hit.length;
  }

  /** Ends the stall of each match: one the broker dropped meanwhile (its heartbeat timed out) now has its socket closed. */
  unstallConnections(filter: ConnectionFilter = {}): number {
    const hit = this.matching(filter);
    for (const conn of this.stalled) if (conn.state !== 'open' && matches(conn, filter)) hit.push(conn);
    for (const conn of hit) this.unstall(conn);
    this.broker.output.flushAll();
    return hit.length;
  }

  /** Closes the sockets of the connections the broker dropped during a stall (a reset, a shutdown). */
  endDroppedStalls(): void {
    for (const conn of this.stalled) if (conn.state !== 'open') this.unstall(conn);
  }

  private unstall(conn: Connection): void {
    this.stalled.delete(conn);
    conn.guard(conn.unstall, undefined);
  }
}

function matches(conn: Connection, filter: ConnectionFilter): boolean {
  return (
    (filter.user === undefined || conn.user === filter.user) &&
    (filter.vhost === undefined || conn.vhost.name === filter.vhost) &&
    (filter.name === undefined || conn.clientProperties.connection_name === filter.name)
  );
}
