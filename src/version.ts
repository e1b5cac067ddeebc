import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** The RabbitMQ release whose behaviour, management API and definitions format warren follows. */
export const RABBITMQ_VERSION = '3.10.8';

/** The package version, read once from package.json. */
export const VERSION: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version;

/** The node name RabbitMQ would have on this host, as its management API, log lines and traces name it. */
export const NODE_NAME = `rabbit@${hostname()}`;
