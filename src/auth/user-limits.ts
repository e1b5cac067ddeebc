/**
 * RabbitMQ's per-user limits (`rabbitmqctl set_user_limits`, `limits` of a
 * user in definitions): absent or negative means no limit.
 */
import { limitsJson } from '../definitions/limits-json.js';

export interface UserLimits {
  /** connections the user may have open */
  readonly maxConnections?: number;
  /** channels the user may have open, over all its connections */
  readonly maxChannels?: number;
}

const KEYS = { 'max-connections': 'maxConnections', 'max-channels': 'maxChannels' } as const;

const json = limitsJson<UserLimits>(KEYS);

/** Limits from RabbitMQ's JSON ({"max-connections": 10, ...}); throws a one-line reason. */
export function userLimitsFromJson(value: unknown, where: string): UserLimits {
  // RabbitMQ writes a user without limits as {} (or [] in older exports).
  if (Array.isArray(value) && value.length === 0) return {};
  return json.fromJson(value, where);
}

export const userLimitsToJson = (limits: UserLimits): Record<string, number> => json.toJson(limits);

/** Whether `count` has reached a limit (RabbitMQ: a negative limit is none). */
export function reached(limit: number | undefined, count: number): boolean {
  return limit !== undefined && limit >= 0 && count >= limit;
}
