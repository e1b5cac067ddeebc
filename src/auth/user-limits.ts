/**
 * RabbitMQ's per-user limits (`rabbitmqctl set_user_limits`, `limits` of a
 * user in definitions): absent or negative means no limit.
 */
export interface UserLimits {
  /** connections the user may have open */
  readonly maxConnections?: number;
  /** channels the user may have open, over all its connections */
  readonly maxChannels?: number;
}

const KEYS = { 'max-connections': 'maxConnections', 'max-channels': 'maxChannels' } as const;

/** Limits from RabbitMQ's JSON ({"max-connections": 10, ...}); throws a one-line reason. */
export function userLimitsFromJson(value: unknown, where: string): UserLimits {
  // RabbitMQ writes a user without limits as {} (or [] in older exports).
  if (Array.isArray(value) && value.length === 0) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: limits must be an object`);
  const limits: Record<string, number> = {};
  for (const [key, n] of Object.entries(value)) {
    if (!Object.hasOwn(KEYS, key)) throw new Error(`${where}: unknown limit '${key}'`);
    if (!Number.isInteger(n)) throw new Error(`${where}: limit '${key}' must be an integer, got ${JSON.stringify(n)}`);
    limits[KEYS[key as keyof typeof KEYS]] = n as number;
  }
  return limits;
}

export function userLimitsToJson(limits: UserLimits): Record<string, number> {
  const json: Record<string, number> = {};
  for (const [key, field] of Object.entries(KEYS)) if (limits[field] !== undefined) json[key] = limits[field];
  return json;
}

/** Whether `count` has reached a limit (RabbitMQ: a negative limit is none). */
export function reached(limit: number | undefined, count: number): boolean {
  return limit !== undefined && limit >= 0 && count >= limit;
}
