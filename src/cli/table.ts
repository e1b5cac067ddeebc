/** rabbitmqctl's tables for `warren ctl`: rows from the management API, one tab-separated line each, or JSON. */

export type Row = Record<string, unknown>;

export interface TableFlags {
  /** --formatter json */
  json: boolean;
  /** a header line (not with --no-table-headers) */
  headers: boolean;
}

export const field = (name: string) => (row: Row) => row[name];
export const fields = (...names: string[]) => Object.fromEntries(names.map((n) => [n, field(n)]));

export function printTable(rows: Row[], items: string[], read: Record<string, (row: Row) => unknown>, o: TableFlags): void {
  const table = rows.map((row) => items.map((item) => read[item](row)));
  if (o.json) {
    console.log(JSON.stringify(table.map((values) => Object.fromEntries(items.map((item, i) => [item, values[i] ?? null])))));
    return;
  }
  if (o.headers) console.log(items.join('\t'));
  for (const values of table) console.log(values.map(cell).join('\t'));
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
