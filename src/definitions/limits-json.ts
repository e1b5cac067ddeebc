/**
 * RabbitMQ's limits as JSON ({"max-connections": 10, ...}), as definitions and
 * the management API carry them, for user limits and vhost limits alike.
 */
export interface LimitsJson<L> {
  /** throws a one-line reason naming `where` */
  fromJson(value: unknown, where: string): L;
  /** only the limits that are set */
  toJson(limits: L): Record<string, number>;
}

/** A converter for one kind of limits: `keys` maps each JSON key to its field. */
export function limitsJson<L>(keys: Readonly<Record<string, string>>): LimitsJson<L> {
  return {
    fromJson(value, where) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: limits must be an object`);
      const limits: Record<string, number> = {};
      for (const [key, n] of Object.entries(value)) {
        if (!Object.hasOwn(keys, key)) throw new Error(`${where}: unknown limit '${key}'`);
        if (!Number.isInteger(n)) throw new Error(`${where}: limit '${key}' must be an integer, got ${JSON.stringify(n)}`);
        limits[keys[key]] = n as number;
      }
      return limits as L;
    },
    toJson(limits) {
      const json: Record<string, number> = {};
      const set = limits as Record<string, number | undefined>;
      for (const [key, field] of Object.entries(keys)) if (set[field] !== undefined) json[key] = set[field];
      return json;
    },
  };
}
