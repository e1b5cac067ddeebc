/** warren's public API: start a broker inside your process (tests use port 0). */
import { Broker, type BrokerOptions, type ResetOptions } from './broker.js';

export type { BrokerOptions, ResetOptions, TlsOptions } from './broker.js';
export { Broker } from './broker.js';
export type { WaitFor, QueueExpectation, WaitOptions } from './rig/wait-for.js';
import type { WaitFor } from './rig/wait-for.js';
import type { Faults } from './rig/faults.js';
export type { Faults, ConnectionFilter, CloseOptions, RefuseOptions, StallOptions, DelayOptions, RestartOptions } from './rig/faults.js';
export type {
  ObservedEvents,
  ObservedEvent,
  PublishEvent,
  DeliverEvent,
  AckEvent,
  ReturnEvent,
  ConnectionEvent,
  CloseEvent,
  EventOrigin,
} from './rig/observers.js';
import type { ObservedEvent, ObservedEvents } from './rig/observers.js';
export type { VHostService } from './vhost/vhost-service.js';
export type { TopologyCommand, QueueDeclared, MessagesRemoved } from './vhost/commands.js';

export interface RunningBroker {
  /** amqp://guest:guest@127.0.0.1:PORT (the first user, the first host) */
  readonly url: string;
  readonly port: number;
  /** the amqps port when BrokerOptions.tls is given */
  readonly tlsPort: number | undefined;
  /** the management HTTP API's port once it listens (BrokerOptions.managementPort, or startManagement()) */
  readonly managementPort: number | undefined;
  readonly broker: Broker;
  /** Resolves if the broker fails (a shard stopped; see Broker's 'fatal'); never otherwise. */
  readonly failed: Promise<Error>;
  /**
   * Serves the management HTTP API on `port` (0: a free one) at the first host;
   * resolves with the bound port. Throws ManagementListenError if it cannot listen
   * (the broker keeps running). The CLI calls it after its ready line, so loading
   * the API never delays the AMQP port.
   */
  startManagement(port: number): Promise<number>;
  /** for test rigs: `await waitFor.queue(name, { messages: 5 })`, `waitFor.connections(2)` (see WaitFor) */
  readonly waitFor: WaitFor;
  /** for test rigs: close, block, refuse or stall connections on demand (see Faults) */
  readonly faults: Faults;
  /**
   * for test rigs: observe 'publish', 'deliver', 'ack', 'return', 'connection' and
   * 'close' (see src/rig/observers.ts for each payload); free while nobody listens
   */
  on<K extends ObservedEvent>(event: K, listener: (event: ObservedEvents[K]) => void): RunningBroker;
  off<K extends ObservedEvent>(event: K, listener: (event: ObservedEvents[K]) => void): RunningBroker;
  /** Deletes every queue, message, non-default exchange, binding and policy (see Broker.reset); closes clients with 320 unless kept. */
  reset(options?: ResetOptions): Promise<void>;
  /** Stops the management API, sends clients connection.close 320, waits briefly for their close-ok, ends the shards. */
  close(): Promise<void>;
  /** Resolves once a client asked it to shut down (warren ctl shutdown or stop, POST /api/warren/shutdown) and it closed. */
  readonly shutDown: Promise<void>;
}

/** The management API could not listen (its port is in use, say). */
export class ManagementListenError extends Error {
  constructor(
    readonly port: number,
    override readonly cause: NodeJS.ErrnoException,
  ) {
    super(`management API: cannot listen on port ${port}: ${cause.message}`);
  }
}

export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const broker = new Broker(options);
  const failed = new Promise<Error>((resolve) => broker.once('fatal', resolve));
  const host = broker.options.host;
  const first = Array.isArray(host) ? host[0] : host;
  let port: number;
  try {
    await broker.openDataDir();
    port = await broker.listen();
  } catch (err) {
    await broker.close();
    throw err;
  }
  const [user, password] = Object.entries(broker.options.users)[0] ?? ['guest', 'guest'];
  const hostPart = first.includes(':') ? `[${first}]` : first;
  let management: { port: number; close(): Promise<void> } | undefined;
  let closing: Promise<void> | undefined;
  let shutDownDone!: () => void;
  const shutDown = new Promise<void>((resolve) => (shutDownDone = resolve));
  const running: RunningBroker = {
    url: `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${hostPart}:${port}`,
    port,
    tlsPort: broker.tlsPort,
    get managementPort() {
      return management?.port;
    },
    broker,
    failed,
    async startManagement(managementPort: number) {
      if (management !== undefined) throw new Error(`the management API already listens on port ${management.port}`);
      // Loaded only when asked for: a broker without it loads none of it.
      const { ManagementServer } = await import('./management/server.js');
      try {
        const tls = broker.tlsPort === undefined ? undefined : { port: broker.tlsPort, cert: broker.options.tls!.cert };
        management = await ManagementServer.start(broker, { host: first, port, tls }, managementPort, first);
      } catch (err: any) {
        throw err?.syscall === 'listen' ? new ManagementListenError(managementPort, err) : err;
      }
      return management.port;
    },
    waitFor: broker.waitFor,
    faults: broker.faults,
    on(event, listener) {
      broker.on(event, listener);
      return running;
    },
    off(event, listener) {
      broker.off(event, listener);
      return running;
    },
    reset: (resetOptions?: ResetOptions) => broker.reset(resetOptions),
    close: () =>
      (closing ??= (async () => {
        await management?.close();
        await broker.close();
      })()),
    shutDown,
  };
  broker.onShutdownRequest = () => void running.close().then(shutDownDone);
  if (options.managementPort !== undefined) {
    try {
      await running.startManagement(options.managementPort);
    } catch (err) {
      await broker.close();
      throw err;
    }
  }
  return running;
}
