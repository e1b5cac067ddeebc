/**
 * RabbitMQ's consumer_timeout: a channel whose oldest unacked delivery is
 * older than the timeout is closed with 406 (its deliveries go back to their
 * queues). One timer for the whole broker, running only while some channel
 * holds unacked deliveries, so a quiet broker never wakes; deliveries carry no
 * timer of their own, only `now`, this coarse clock read when they are sent.
 */
import type { Channel } from './channel.js';

/** RabbitMQ's default: 30 minutes. */
export const DEFAULT_CONSUMER_TIMEOUT_MS = 30 * 60_000;
/** The longest wait between two checks: a close comes at most this much later than due. */
const MAX_PERIOD_MS = 60_000;

export class ConsumerTimeout {
  /**
   * The clock deliveries are stamped with: Date.now() at the last check, or
   * when the timer started. It lags the real time by at most one period.
   */
  now = 0;
  private readonly watched = new Set<Channel>();
  private timer: NodeJS.Timeout | null = null;
  /** between checks: a quarter of the timeout, so a close comes between 1 and 1.5 timeouts after the delivery */
  private readonly period: number;

  /** `timeoutMs` 0 turns the timeout off. */
  constructor(readonly timeoutMs: number) {
    this.period = Math.min(MAX_PERIOD_MS, Math.max(1, Math.floor(timeoutMs / 4)));
  }

  /** A channel got its first unacked delivery: check it until it has none. */
  watch(channel: Channel): void {
    if (this.timeoutMs === 0) return;
    this.watched.add(channel);
    if (this.timer !== null) return;
    this.now = Date.now();
    this.timer = setInterval(() => this.check(), this.period);
    this.timer.unref();
  }

  /** A channel went away: it holds nothing, and what closed it must not wait a period to be freed. */
  unwatch(channel: Channel): void {
    if (this.watched.delete(channel) && this.watched.size === 0) this.stop();
  }

  private check(): void {
    this.now = Date.now();
    for (const channel of this.watched) {
      const oldest = channel.state === 'open' ? channel.oldestUnackedAt() : undefined;
      if (oldest === undefined) {
        this.watched.delete(channel);
      } else if (this.now - oldest >= this.timeoutMs + this.period) {
        // The stamp may be up to a period older than the delivery: never close early.
        this.watched.delete(channel);
        channel.conn.guard(() => channel.ackTimedOut(this.timeoutMs), undefined);
      }
    }
    if (this.watched.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.watched.clear();
  }
}
