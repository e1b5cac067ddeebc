/**
 * The shape of a JSON value as a set of key paths, each with the JSON types
 * seen there: `a.b` for object keys, `a[]` for the elements of an array (all
 * elements merged, so a list's shape is the union of its items' keys). Used
 * to check that warren answers with every key RabbitMQ does, of the same type.
 */
export type Shape = Map<string, Set<string>>;

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** `renameKey` maps keys that are data (a node name as a key) to a placeholder. */
export function shapeOf(value: unknown, renameKey: (key: string) => string = (k) => k, path = '', out: Shape = new Map()): Shape {
  let types = out.get(path);
  if (types === undefined) out.set(path, (types = new Set()));
  types.add(typeOf(value));
  if (Array.isArray(value)) {
    for (const item of value) shapeOf(item, renameKey, `${path}[]`, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) shapeOf(v, renameKey, path === '' ? renameKey(k) : `${path}.${renameKey(k)}`, out);
  }
  return out;
}

export interface ShapeDifference {
  path: string;
  /** RabbitMQ's types there */
  expected: string[];
  /** warren's, empty when warren lacks the path */
  actual: string[];
}

/**
 * Paths of `expected` (RabbitMQ's) missing from `actual` (warren's) or of
 * another type. A null in RabbitMQ's answer says nothing about the type, so it
 * matches anything; under a missing path only the topmost is reported.
 */
export function missingFrom(expected: Shape, actual: Shape): ShapeDifference[] {
  const out: ShapeDifference[] = [];
  const missing: string[] = [];
  for (const [path, types] of expected) {
    if (missing.some((m) => path.startsWith(m) && (path[m.length] === '.' || path[m.length] === '['))) continue;
    const got = actual.get(path);
    if (got === undefined) {
      missing.push(path);
      out.push({ path, expected: [...types], actual: [] });
      continue;
    }
    const wrong = [...types].filter((t) => t !== 'null' && !got.has(t));
    if (wrong.length > 0) out.push({ path, expected: [...types], actual: [...got] });
  }
  return out;
}
