/** warren's public API: start a broker inside your process (tests use port 0). */
import { Broker, type BrokerOptions } from './broker.js';

export type { BrokerOptions } from './broker.js';
export { Broker } from './broker.js';
export type { VHostService } from './vhost/vhost-service.js';
export type { TopologyCommand, QueueDeclared, MessagesRemoved } from './vhost/commands.js';

export interface RunningBroker {
  /** amqp://guest:guest@127.0.0.1:PORT (the first user, the first host) */
  readonly url: string;
  readonly port: number;
  /** the management HTTP API's port, when BrokerOptions.managementPort asked for it */
  readonly managementPort: number | undefined;
  readonly broker: Broker;
  /** Resolves if the broker fails (a shard stopped; see Broker's 'fatal'); never otherwise. */
  readonly failed: Promise<Error>;
  /** Stops the management API, sends clients connection.close 320, waits briefly for their close-ok, ends the shards. */
  close(): Promise<void>;
}

/** The management API could not listen (its port is in use, say); the broker was closed. */
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
  let management: { port: number; close(): Promise<void> } | undefined;
  try {
    await broker.openDataDir();
    port = await broker.listen();
    management = await startManagement(broker, options.managementPort, first, port);
  } catch (err) {
    await broker.close();
    throw err;
  }
  const [user, password] = Object.entries(broker.options.users)[0] ?? ['guest', 'guest'];
  const hostPart = first.includes(':') ? `[${first}]` : first;
  return {
    url: `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${hostPart}:${port}`,
    port,
    managementPort: management?.port,
    broker,
    failed,
    close: async () => {
      await management?.close();
      await broker.close();
    },
  };
}

/** Loaded only when asked for, so a broker without it starts no slower. */
async function startManagement(broker: Broker, managementPort: number | undefined, host: string, amqpPort: number) {
  if (managementPort === undefined) return undefined;
  const { ManagementServer } = await import('./management/server.js');
  try {
    return await ManagementServer.start(broker, { host, port: amqpPort }, managementPort, host);
  } catch (err: any) {
    throw err?.syscall === 'listen' ? new ManagementListenError(managementPort, err) : err;
  }
}
