/**
 * RabbitMQ's per-vhost limits (the "vhost-limits" runtime parameter,
 * `rabbitmqctl set_vhost_limits`): absent or negative means no limit.
 */
import { limitsJson } from '../definitions/limits-json.js';

export interface VHostLimits {
  /** connections open to the vhost; 0 refuses every one */
  readonly maxConnections?: number;
  /** queues in the vhost; 0 refuses every new one */
  readonly maxQueues?: number;
}

/** The JSON keys RabbitMQ uses, as in definitions and set_vhost_limits. */
const LIMIT_KEYS = { 'max-connections': 'maxConnections', 'max-queues': 'maxQueues' } as const;

const json = limitsJson<VHostLimits>(LIMIT_KEYS);

/** Limits from RabbitMQ's JSON ({"max-connections": 10, ...}); throws a one-line reason. */
export const limitsFromJson = (value: unknown, where: string): VHostLimits => json.fromJson(value, where);

/** Limits as RabbitMQ's JSON; only those set. */
export const limitsToJson = (limits: VHostLimits): Record<string, number> => json.toJson(limits);

/**
 * The vhost-limits parameter's value: RabbitMQ writes one of no limits (left
 * when the last limit is deleted) as [], and reads [] back.
 */
export const parameterValue = (limits: VHostLimits): Record<string, number> | [] => {
  const value = limitsToJson(limits);
  return Object.keys(value).length === 0 ? [] : value;
};

/** A vhost-limits parameter's value ([] is no limits); throws a one-line reason. */
export const limitsFromParameter = (value: unknown, where: string): VHostLimits => (Array.isArray(value) && value.length === 0 ? {} : limitsFromJson(value, where));
