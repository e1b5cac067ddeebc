/**
 * What the management API needs from the broker: a narrow view of the state
 * the acceptor thread owns. The Broker implements it; nothing here changes
 * topology except through a VHostService's apply().
 */
import type { Connection } from '../acceptor/connection.js';
import type { InternalConfirms } from '../acceptor/internal-confirms.js';
import type { ShardLink } from '../acceptor/shard-link.js';
import type { VHostService } from '../vhost/vhost-service.js';
import type { AccessControl, Credentials, PermissionSpec, TopicPermissionSpec } from '../auth/access-control.js';
import type { AuthAttempts } from '../auth/auth-attempts.js';
import type { UserLimits } from '../auth/user-limits.js';
import type { VHostLimits } from '../vhost/vhost-limits.js';
import type { VHostMetadata } from '../vhost/vhost-metadata.js';
import type { Definitions } from '../definitions/rabbit-format.js';
import type { GlobalParameters } from '../definitions/global-parameters.js';
import type { ResetOptions } from '../broker.js';
import type { Faults } from '../rig/faults.js';
import type { Churn } from '../vhost/churn.js';
import type { OutputScheduler } from '../acceptor/output-scheduler.js';
import type { ResourceAlarm } from '../acceptor/resource-alarm.js';

export interface ManagementHost {
  readonly vhosts: ReadonlyMap<string, VHostService>;
  readonly connections: ReadonlySet<Connection>;
  readonly churn: Readonly<Churn>;
  readonly links: readonly ShardLink[];
  /** the memory and free disk space alarms (refresh: look at them now) */
  readonly alarms: Pick<ResourceAlarm, 'memoryOn' | 'diskOn' | 'memoryLimit' | 'disk' | 'used' | 'resources' | 'refresh' | 'setMemoryLimit' | 'setDiskFreeLimit'>;
  readonly options: { readonly host: string | string[]; readonly maxMessageSize: number };
  /** the vhost's service, created on first use (definitions import may add vhosts) */
  vhost(name: string): VHostService;
  /** the same check AMQP logins go through */
  /** the user, or null when the login is refused (guest from loopback only, as AMQP) */
  authenticate(user: string, password: string, remoteAddress: string | undefined): { readonly name: string } | null;
  readonly access: AccessControl;
  /** global runtime parameters, the cluster name among them */
  readonly globals: GlobalParameters;
  /** applies definitions: users, vhosts and permissions, then topology */
  load(defs: Definitions): Promise<void>;
  // Users, vhosts and permissions change only through the Broker's methods (they persist and close what they must).
  putUser(name: string, credentials: Credentials, tags: readonly string[]): void;
  deleteUser(name: string): void;
  setUserLimits(name: string, limits: UserLimits): void;
  addVHost(name: string): VHostService;
  deleteVHost(name: string): Promise<void>;
  setVHostLimits(name: string, limits: VHostLimits | null): void;
  setVHostMetadata(name: string, metadata: VHostMetadata): void;
  setVHostTracing(name: string, on: boolean): void;
  setPermissions(user: string, vhost: string, spec: PermissionSpec): void;
  clearPermissions(user: string, vhost: string): void;
  setTopicPermissions(user: string, vhost: string, spec: TopicPermissionSpec): void;
  clearTopicPermissions(user: string, vhost: string, exchange?: string): void;
  /** a ring was written outside a socket handler: ring its shard this turn */
  readonly output: Pick<OutputScheduler, 'linkDirty'>;
  /** the answers to publishes made through the API */
  readonly internalConfirms: InternalConfirms;
  /** the test rig's reset and faults (/api/warren/...) */
  reset(options: ResetOptions): Promise<void>;
  readonly faults: Faults;
  readonly authAttempts: AuthAttempts;
  /** rabbitmqctl stop_app, start_app and reset (of a stopped broker) */
  readonly appStopped: boolean;
  /** rabbitmqctl shutdown: closes the broker once the request is answered */
  requestShutdown(): void;
  stopApp(): Promise<void>;
  startApp(): void;
  resetNode(): Promise<void>;
}

/** Where the AMQP listeners are, for /api/overview's listeners and the health checks. */
export interface Listener {
  readonly host: string;
  readonly port: number;
  /** the amqps listener, with its certificate chain (PEM) */
  readonly tls?: { readonly port: number; readonly cert: string | Buffer };
}
