/**
 * Tags as RabbitMQ's definitions and management API carry them, for users and
 * vhosts alike: a comma-separated string or a list of strings.
 */

/** The tags `value` names: a string split at its commas, each trimmed, or a list of strings as given; null when it is neither. */
export function commaList(value: unknown): string[] | null {
  if (typeof value === 'string') return value.split(',').map((t) => t.trim());
  if (Array.isArray(value) && value.every((t) => typeof t === 'string')) return [...value];
  return null;
}
