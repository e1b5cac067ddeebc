/** rabbitmqctl's tables for `warren ctl`: rows from the management API, one tab-separated line each, or JSON. */

export type Row = Record<string, unknown>;

export interface TableFlags {
  /** --formatter json */
  json: boolean;
  /** --formatter csv: every value quoted, a header line always, as rabbitmqctl's */
  csv: boolean;
  /** a header line (not with --no-table-headers) */
  headers: boolean;
}

export const field = (name: string) => (row: Row) => row[name];
export const fields = (...names: string[]) => Object.fromEntries(names.map((n) => [n, field(n)]));

/**
 * The rows' items, as rabbitmqctl prints them. No rows, no header: nothing
 * at all, or (`blankWhenEmpty`: its permission, policy and parameter lists) one
 * empty line.
 */
export function printTable(rows: Row[], items: string[], read: Record<string, (row: Row) => unknown>, o: TableFlags, blankWhenEmpty = false): void {
  const table = rows.map((row) => items.map((item) => read[item](row)));
  if (o.json) {
    console.log(JSON.stringify(table.map((values) => Object.fromEntries(items.map((item, i) => [item, values[i] ?? null])))));
    return;
  }
  const cells = (values: unknown[]) => values.map((value, i) => (TABLE_ITEMS.has(items[i]) ? erlangTerm(value, items[i] === 'arguments') : cell(value)));
  if (table.length === 0) {
    if (blankWhenEmpty && !o.csv) console.log();
    return;
  }
  if (o.csv) {
    const quoted = (text: string) => `"${text.replaceAll('"', '""')}"`;
    for (const line of [items, ...table.map(cells)]) console.log(line.map(quoted).join(','));
    return;
  }
  if (o.headers) console.log(items.join('\t'));
  for (const values of table) console.log(cells(values).join('\t'));
}

/** Items that are AMQP tables, which rabbitmqctl prints as Erlang terms (a policy's definition it prints as JSON). */
const TABLE_ITEMS = new Set(['arguments', 'client_properties']);

/**
 * An AMQP table as rabbitmqctl prints one: [{"key",value},...], an array as
 * [a,b], strings quoted, void as undefined; `sorted`: keys in order, at every
 * depth, as RabbitMQ keeps a declare's arguments (a client's properties it keeps as sent).
 */
function erlangTerm(value: unknown, sorted = false): string {
  if (Array.isArray(value)) return `[${value.map((v) => erlangTerm(v, sorted)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (sorted) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `[${entries.map(([k, v]) => `{${JSON.stringify(k)},${erlangTerm(v, sorted)}}`).join(',')}]`;
  }
  if (typeof value === 'string') return JSON.stringify(value);
  return value === null || value === undefined ? 'undefined' : String(value);
}

/** A table cell as rabbitmqctl prints it: lists of names as [a, b], empty tables as [], others as JSON. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return `[${value.join(', ')}]`;
  if (typeof value === 'object') {
    if (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0) return '[]';
    return JSON.stringify(value);
  }
  return String(value);
}
