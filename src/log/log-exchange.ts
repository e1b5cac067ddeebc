/**
 * amq.rabbitmq.log: each vhost's internal topic exchange that receives the
 * broker's log lines, routing key = level, body = the line, properties as
 * RabbitMQ's rabbit_logger_exchange_h sets them (content_type text/plain,
 * timestamp in seconds, a `node` header).
 *
 * Off the hot path: a line is only queued when some vhost's log exchange has a
 * binding (a broker with none pays one check per line), and lines are published
 * later, in capped batches, through the broker's internal publish (as the
 * management API's). A
 * line logged while a batch is being published is not published (no recursion),
 * and lines beyond the backlog cap are counted as dropped, not kept.
 */
import { NODE_NAME } from '../version.js';
import type { BasicProperties } from '../protocol/methods.generated.js';
import type { VHost } from '../routing/topology.js';
import { publish, type RingHost } from '../acceptor/internal-publish.js';
import type { LogLevel, LogSink, Logger } from './logger.js';

export const LOG_EXCHANGE = 'amq.rabbitmq.log';

/** lines published per drain; more wait for the next turn of the event loop */
const BATCH = 256;
/** lines waiting at most; a flood past this is dropped, not buffered */
const MAX_PENDING = 10_000;

export class LogExchange {
  /** lines taken for publishing (some exchange had a binding) since start */
  taken = 0;
  /** lines published (to at least one vhost's exchange) since start */
  published = 0;
  /** lines dropped because the backlog was full */
  dropped = 0;
  private readonly levels: LogLevel[] = [];
  private readonly lines: string[] = [];
  private readonly times: number[] = [];
  private scheduled = false;
  private publishing = false;
  private readonly sink: LogSink = (level, text) => this.take(level, text);

  constructor(
    private readonly logger: Logger,
    private readonly host: RingHost,
    private readonly topologies: () => Iterable<VHost>,
  ) {
    logger.addSink(this.sink);
  }

  close(): void {
    this.logger.removeSink(this.sink);
    this.levels.length = this.lines.length = this.times.length = 0;
  }

  private take(level: LogLevel, text: string): void {
    if (this.publishing || !this.anyBound()) return;
    if (this.lines.length >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.taken++;
    this.levels.push(level);
    this.lines.push(text);
    this.times.push(Math.floor(Date.now() / 1000));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private anyBound(): boolean {
    for (const topology of this.topologies()) {
      if ((topology.exchanges.get(LOG_EXCHANGE)?.matcher.bindingCount ?? 0) > 0) return true;
    }
    return false;
  }

  private drain(): void {
    this.scheduled = false;
    const count = Math.min(BATCH, this.lines.length);
    const levels = this.levels.splice(0, count);
    const lines = this.lines.splice(0, count);
    const times = this.times.splice(0, count);
    this.publishing = true;
    try {
      for (let i = 0; i < count; i++) this.publishLine(levels[i], lines[i], times[i]);
    } finally {
      this.publishing = false;
    }
    if (this.lines.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private publishLine(level: LogLevel, text: string, timestamp: number): void {
    const properties: BasicProperties = { contentType: 'text/plain', timestamp, headers: { node: NODE_NAME } };
    const body = Buffer.from(text);
    let routed = false;
    for (const topology of this.topologies()) {
      const exchange = topology.exchanges.get(LOG_EXCHANGE);
      if (exchange === undefined || exchange.matcher.bindingCount === 0) continue;
      routed = publish(this.host, topology, exchange, level, properties, body).routed || routed;
    }
    if (routed) this.published++;
  }
}
