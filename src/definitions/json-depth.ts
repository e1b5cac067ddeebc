/**
 * How deep a JSON document (an HTTP body, a definitions file) may nest. Field
 * tables reach the broker over AMQP at most MAX_TABLE_DEPTH deep; JSON brings
 * them inside a few levels of its own (a definitions file's queue, its
 * arguments). Deeper, the recursive walks that store, compare and export
 * arguments would run off the stack on every later request that touches them.
 */
import { MAX_TABLE_DEPTH } from '../protocol/field-table.js';

export const MAX_JSON_DEPTH = MAX_TABLE_DEPTH + 8;

/** Throws a one-line reason when `value` nests objects or arrays deeper than MAX_JSON_DEPTH. */
export function checkJsonDepth(value: unknown): void {
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= MAX_JSON_DEPTH) throw new Error(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
}
