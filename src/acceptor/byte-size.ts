/** Sizes as RabbitMQ's config takes them: a number, optionally with a decimal or binary unit. */
const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/**
 * "2GB", "512MiB", "1.5 gib", "1000": the number times its unit (a bare
 * number is returned as written, fractions too). `what` names the option and
 * `forms` what it takes, in the error thrown for anything else.
 */
export function parseByteSize(value: string, what: string, forms = 'bytes, or bytes with a unit (2GB, 512MiB)'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = match ? UNITS[match[2].toUpperCase()] : undefined;
  if (match === null || unit === undefined) throw new Error(`${what} '${value}' is not ${forms}`);
  const n = Number(match[1]) * unit;
  if (match[2] !== '' && n > 0 && n < 1) throw new Error(`${what} '${value}' is less than a byte`);
  return n;
}

/** A whole number of bytes, or a string of bytes with an optional unit ("1GB", "512MiB"); throws a one-line reason. */
export function byteCount(value: unknown, what: string): number {
  const n = typeof value === 'string' ? parseByteSize(value, what) : value;
  const bare = typeof value === 'number' || (typeof value === 'string' && /^\s*[\d.]+\s*$/.test(value));
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (bare && !Number.isInteger(n))) {
    throw new Error(`${what} must be a whole number of bytes, 0 or more, got ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  return Math.floor(n);
}
