import { readFileSync } from 'node:fs';

/** The RabbitMQ release whose behaviour, management API and definitions format warren follows. */
export const RABBITMQ_VERSION = '3.10.7';

/** The package version, read once from package.json. */
export const VERSION: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version;
