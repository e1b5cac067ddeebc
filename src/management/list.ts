/**
 * What every list endpoint accepts, as RabbitMQ's management API does:
 * `name` (substring, or a regex with use_regex=true), `sort` / `sort_reverse`,
 * `page` / `page_size` (then the answer is a page object), and `columns`
 * (comma-separated, dotted paths into nested objects).
 */
import { HttpError, badRequest, type ApiRequest } from './http.js';
import { userRegex } from '../auth/user-regex.js';

type Item = Record<string, unknown>;

/** RabbitMQ refuses larger pages. */
const MAX_PAGE_SIZE = 500;
const DEFAULT_PAGE_SIZE = 100;

export function listReply(req: ApiRequest, items: Item[]): unknown {
  // A user without administrator or monitoring tags sees only its vhosts' objects.
  items = items.filter((item) => typeof item.vhost !== 'string' || req.sees(item.vhost));
  const q = req.query;
  const total = items.length;
  const sort = q.get('sort');
  if (sort !== null && sort !== '') {
    const reverse = q.get('sort_reverse') === 'true' ? -1 : 1;
    items = [...items].sort((a, b) => reverse * compare(pick(a, sort), pick(b, sort)));
  } else if (items.length > 0 && typeof items[0].name === 'string') {
    // RabbitMQ's default order: by vhost, then name.
    items = [...items].sort((a, b) => compare(a.vhost, b.vhost) || compare(a.name, b.name));
  }
  const page = q.get('page');
  if (page === null) return selectColumns(req, items);
  // As RabbitMQ: the name filter applies to a page only.
  const filter = q.get('name');
  if (filter !== null && filter !== '') items = items.filter(nameFilter(filter, q.get('use_regex') === 'true'));
  const sizeParam = q.get('page_size');
  if (!isInteger(page) || (sizeParam !== null && !isInteger(sizeParam))) throw badRequest('Pagination parameters are invalid');
  const pageNumber = Number(page);
  const pageSize = sizeParam === null ? DEFAULT_PAGE_SIZE : Number(sizeParam);
  if (!(pageNumber >= 1 && pageSize >= 1 && pageSize <= MAX_PAGE_SIZE)) {
    throw new HttpError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${page}, page size ${sizeParam ?? 'undefined'}`);
  }
  const pageCount = Math.ceil(items.length / pageSize);
  // RabbitMQ answers one page past the last full one with no items, and refuses further ones.
  if ((pageNumber - 1) * pageSize > items.length) {
    throw new HttpError(400, 'page_out_of_range', `Page out of range, page: ${pageNumber} page size: ${pageSize}, len: ${items.length}`);
  }
  const slice = items.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
  return {
    filtered_count: items.length,
    item_count: slice.length,
    items: selectColumns(req, slice),
    page: pageNumber,
    page_count: pageCount,
    page_size: pageSize,
    total_count: total,
  };
}

/** `columns=a,b.c` for one object (GET of a single queue or exchange takes it too). */
export function selectColumns<T extends Item | Item[]>(req: ApiRequest, value: T): T {
  const columns = req.query.get('columns');
  if (columns === null || columns === '') return value;
  const paths = columns.split(',').map((c) => c.trim()).filter((c) => c !== '');
  const one = (item: Item): Item => {
    const out: Item = {};
    for (const path of paths) {
      const v = pick(item, path);
      if (v !== undefined) put(out, path, v);
    }
    return out;
  };
  return (Array.isArray(value) ? value.map(one) : one(value)) as T;
}

/**
 * RabbitMQ's name filter: a substring, case-insensitive, or (use_regex) a
 * regular expression, case-sensitive here where RabbitMQ's is caseless: V8's
 * linear-time fallback (user-regex.ts) does not take the i flag.
 */
function nameFilter(filter: string, regex: boolean): (item: Item) => boolean {
  if (!regex) {
    const lower = filter.toLowerCase();
    return (item) => String(item.name).toLowerCase().includes(lower);
  }
  let re: RegExp;
  try {
    re = userRegex(filter);
  } catch (err: any) {
    throw badRequest(`invalid regex '${filter}': ${err.message}`);
  }
  return (item) => re.test(String(item.name));
}

const isInteger = (value: string): boolean => /^-?\d+$/.test(value);

function pick(item: Item, path: string): unknown {
  let v: unknown = item;
  for (const key of path.split('.')) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, key)) return undefined;
    v = (v as Item)[key];
  }
  return v;
}

function put(out: Item, path: string, value: unknown): void {
  const keys = path.split('.');
  let at = out;
  for (const key of keys.slice(0, -1)) {
    if (typeof at[key] !== 'object' || at[key] === null) at[key] = {};
    at = at[key] as Item;
  }
  at[keys[keys.length - 1]] = value;
}

/** Numbers by value, the rest as strings in code-unit order (RabbitMQ compares binaries byte by byte, not by locale). */
function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a ?? '');
  const y = String(b ?? '');
  return x < y ? -1 : x > y ? 1 : 0;
}
