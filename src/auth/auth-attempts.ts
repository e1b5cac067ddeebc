/**
 * RabbitMQ's count of login attempts by protocol (/api/auth/attempts/{node}),
 * since the start or the last reset: an AMQP connection's SASL login, and
 * every management API request (its basic auth and its user's tags).
 */

export type AuthProtocol = 'amqp091' | 'http';

export class AuthAttempts {
  private readonly counts = new Map<AuthProtocol, { attempts: number; failed: number }>();

  record(protocol: AuthProtocol, succeeded: boolean): void {
    let count = this.counts.get(protocol);
    if (count === undefined) this.counts.set(protocol, (count = { attempts: 0, failed: 0 }));
    count.attempts++;
    if (!succeeded) count.failed++;
  }

  /** RabbitMQ's JSON: a protocol is listed once it had an attempt. */
  toJson(): { protocol: AuthProtocol; auth_attempts: number; auth_attempts_failed: number; auth_attempts_succeeded: number }[] {
    return [...this.counts].map(([protocol, { attempts, failed }]) => ({ protocol, auth_attempts: attempts, auth_attempts_failed: failed, auth_attempts_succeeded: attempts - failed }));
  }

  clear(): void {
    this.counts.clear();
  }
}
