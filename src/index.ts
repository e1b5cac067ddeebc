/** warren's public API: start a broker inside your process (tests use port 0). */
import { Broker, type BrokerOptions } from './broker.js';

export type { BrokerOptions, TlsOptions } from './broker.js';
export { Broker } from './broker.js';
export type { VHostService } from './vhost/vhost-service.js';
export type { TopologyCommand, QueueDeclared, MessagesRemoved } from './vhost/commands.js';

export interface RunningBroker {
  /** amqp://guest:guest@127.0.0.1:PORT (the first user, the first host) */
  readonly url: string;
  readonly port: number;
  /** the amqps port when BrokerOptions.tls is given */
  readonly tlsPort: number | undefined;
  readonly broker: Broker;
  /** Resolves if the broker fails (a shard stopped; see Broker's 'fatal'); never otherwise. */
  readonly failed: Promise<Error>;
  /** Sends clients connection.close 320, waits briefly for their close-ok, ends the shards. */
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const broker = new Broker(options);
  const failed = new Promise<Error>((resolve) => broker.once('fatal', resolve));
  let port: number;
  try {
    await broker.openDataDir();
    port = await broker.listen();
  } catch (err) {
    await broker.close();
    throw err;
  }
  const host = broker.options.host;
  const first = Array.isArray(host) ? host[0] : host;
  const [user, password] = Object.entries(broker.options.users)[0] ?? ['guest', 'guest'];
  const hostPart = first.includes(':') ? `[${first}]` : first;
  return {
    url: `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${hostPart}:${port}`,
    port,
    tlsPort: broker.tlsPort,
    broker,
    failed,
    close: () => broker.close(),
  };
}
