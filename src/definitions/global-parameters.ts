/**
 * RabbitMQ's global runtime parameters: node-wide name -> JSON value pairs
 * (rabbitmqctl set_global_parameter, /api/global-parameters, a definitions
 * file's `global_parameters`). Two mean something: `cluster_name`, which
 * connection.start, the overview and /api/cluster-name show (the node's name
 * while unset), and `internal_cluster_id`, made once per node as RabbitMQ
 * does, so an export lists what RabbitMQ's lists. The others are only kept.
 */
import { randomBytes } from 'node:crypto';
import { NODE_NAME } from '../version.js';

export type GlobalParameterDefinition = { name: string; value: unknown };

export class GlobalParameters {
  private readonly values = new Map<string, unknown>();

  /** `changed`: one was set or cleared (the data dir keeps them) */
  constructor(private readonly changed: () => void) {
    this.clear();
  }

  /** The cluster name: the `cluster_name` parameter, or the node's name. */
  get clusterName(): unknown {
    return this.values.get('cluster_name') ?? NODE_NAME;
  }

  get(name: string): unknown {
    return this.values.get(name);
  }

  /** Sets one; true when it is new. */
  set(name: string, value: unknown): boolean {
    const created = !this.values.has(name);
    this.values.set(name, value);
    this.changed();
    return created;
  }

  /** Clears one; false when there was none. */
  delete(name: string): boolean {
    if (!this.values.delete(name)) return false;
    this.changed();
    return true;
  }

  /** A new node's: only a fresh internal_cluster_id. */
  clear(): void {
    this.values.clear();
    this.values.set('internal_cluster_id', `rabbitmq-cluster-id-${randomBytes(16).toString('base64url')}`);
    this.changed();
  }

  /** In RabbitMQ's definitions format. */
  list(): GlobalParameterDefinition[] {
    return [...this.values].map(([name, value]) => ({ name, value }));
  }
}

/** Checks a definitions file's `global_parameters` entries; throws a line naming the first bad one. */
export function globalParameterEntries(entries: readonly unknown[] | undefined): GlobalParameterDefinition[] {
  return (entries ?? []).map((entry) => {
    const p = entry as Record<string, unknown>;
    if (typeof p.name !== 'string') throw new Error(`a global parameter's name must be a string, got ${JSON.stringify(p.name)}`);
    if (p.value === undefined) throw new Error(`global parameter '${p.name}' has no value`);
    return { name: p.name, value: p.value };
  });
}
