/**
 * A vhost's description and tags, RabbitMQ's vhost metadata: set by the
 * management API's PUT /api/vhosts/{name} and by definitions, shown by GET,
 * kept across restarts in the data dir's definitions.
 *
 * As RabbitMQ 3.10 reads them: `description` and `tags` at the top of a PUT
 * body or a definitions entry, else those under `metadata`; tags as a list or
 * a comma-separated string (each trimmed; "" is none). A PUT replaces both,
 * what it leaves out is cleared. A definitions entry that has neither leaves
 * them as they are (RabbitMQ would clear them), so that its own exports, which
 * name a vhost with its initial metadata only by name, load back unchanged.
 */
import { commaList } from '../definitions/tag-list.js';

export interface VHostMetadata {
  description: string;
  tags: string[];
}

/** What a vhost has when it is created: the default vhost's description, as RabbitMQ's. */
export function initialMetadata(vhost: string): VHostMetadata {
  return { description: vhost === '/' ? 'Default virtual host' : '', tags: [] };
}

type Entry = { description?: unknown; tags?: unknown; metadata?: unknown };

const isObject = (value: unknown): value is Entry => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The description and tags an entry names, unchecked: its own, else those under an object `metadata`. */
function named(entry: Entry): { description: unknown; tags: unknown } {
  const inner: Entry = isObject(entry.metadata) ? entry.metadata : {};
  return { description: entry.description ?? inner.description, tags: entry.tags ?? inner.tags };
}

/** Whether a PUT body or definitions entry names a description or tags (see metadataFromJson). */
export function namesMetadata(entry: Entry): boolean {
  const { description, tags } = named(entry);
  return description !== undefined || tags !== undefined;
}

/** The metadata a PUT body or definitions entry gives; undefined when it has none. Throws a line naming what is wrong. */
export function metadataFromJson(entry: Entry, where: string): VHostMetadata | undefined {
  if (entry.metadata !== undefined && !isObject(entry.metadata)) {
    throw new Error(`metadata of ${where} must be an object, got ${JSON.stringify(entry.metadata)}`);
  }
  const { description, tags } = named(entry);
  if (description === undefined && tags === undefined) return undefined;
  if (description !== undefined && typeof description !== 'string') {
    throw new Error(`description of ${where} must be a string, got ${JSON.stringify(description)}`);
  }
  return { description: description ?? '', tags: tagList(tags, where) };
}

/** The fields an export writes: none while the vhost has its initial metadata (RabbitMQ 3.10 writes only the name). */
export function metadataToJson(vhost: string, metadata: VHostMetadata): { description?: string; tags?: string[] } {
  const initial = initialMetadata(vhost);
  if (metadata.description === initial.description && metadata.tags.length === 0) return {};
  return { description: metadata.description, tags: [...metadata.tags] };
}

function tagList(value: unknown, where: string): string[] {
  if (value === undefined || value === '') return [];
  const tags = commaList(value);
  if (tags !== null) return tags;
  throw new Error(`tags of ${where} must be a list of strings or a comma-separated string, got ${JSON.stringify(value)}`);
}
