/**
 * RabbitMQ's per-vhost limits (the "vhost-limits" runtime parameter,
 * `rabbitmqctl set_vhost_limits`): absent or negative means no limit.
 */
export interface VHostLimits {
  /** connections open to the vhost; 0 refuses every one */
  readonly maxConnections?: number;
  /** queues in the vhost; 0 refuses every new one */
  readonly maxQueues?: number;
}

/** The JSON keys RabbitMQ uses, as in definitions and set_vhost_limits. */
export const LIMIT_KEYS = { 'max-connections': 'maxConnections', 'max-queues': 'maxQueues' } as const;

/** Limits from RabbitMQ's JSON ({"max-connections": 10, ...}); throws a one-line reason. */
export function limitsFromJson(value: unknown, where: string): VHostLimits {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: limits must be an object`);
  const limits: Record<string, number> = {};
  for (const [key, n] of Object.entries(value)) {
    if (!Object.hasOwn(LIMIT_KEYS, key)) throw new Error(`${where}: unknown limit '${key}'`);
    if (!Number.isInteger(n)) throw new Error(`${where}: limit '${key}' must be an integer, got ${JSON.stringify(n)}`);
    limits[LIMIT_KEYS[key as keyof typeof LIMIT_KEYS]] = n as number;
  }
  return limits;
}

/** Limits as RabbitMQ's JSON; only those set. */
export function limitsToJson(limits: VHostLimits): Record<string, number> {
  const json: Record<string, number> = {};
  for (const [key, field] of Object.entries(LIMIT_KEYS)) if (limits[field] !== undefined) json[key] = limits[field];
  return json;
}
