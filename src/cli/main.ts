#!/usr/bin/env node
/**
 * `warren` / `npm start`: run a broker with embedded defaults.
 * Every error a user can cause is one line on stderr: exit 2 for a usage
 * error, 1 when the broker cannot start or fails (a shard stopped).
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { ManagementListenError, startBroker, type BrokerOptions, type RunningBroker, type TlsOptions } from '../index.js';
import { VERSION } from '../version.js';
import { watermarkBytes } from '../acceptor/resource-alarm.js';
import { diskFreeLimitBytes } from '../acceptor/disk-free.js';
import { DataDirInUse } from '../definitions/data-dir-lock.js';
import { DEFINITIONS_USAGE, runDefinitionsCommand } from './definitions-command.js';
import { LOG_LEVELS, isLogLevel, log, setConsoleLevel } from '../log/logger.js';

const started = performance.now();

const USAGE = `Usage: warren [options]
${DEFINITIONS_USAGE.replace('Usage: ', '       ')}
       warren ctl [--url URL] COMMAND ...    rabbitmqctl's commands over the management API (warren ctl --help)
  --host ADDR        listen address (repeatable; default 127.0.0.1 and ::1)
  --port N           AMQP port (default 5672; 0 picks a free one)
  --workers N        shard worker threads (default cores - 1, or 0 = inline on 2 cores or fewer)
  --heartbeat S      heartbeat the server proposes, seconds, 0-65535 (default 60)
  --max-message-size BYTES  largest message body, up to 536870912 (default 134217728)
  --memory-high-watermark F|BYTES  block publishers above this memory: a fraction of RAM
                     (default 0.4) or bytes (2GB, 512MiB)
  --disk-free-limit BYTES  block publishers while the data dir's filesystem has less
                     free (default 50MB; 0 = never)
  --data-dir DIR     where durable definitions are kept (default $WARREN_DATA_DIR,
                     else ./warren-data); one broker per directory
  --in-memory        keep nothing on disk
  --definitions FILE load this RabbitMQ definitions file at start, after the data dir's own
                     (exchanges, queues, bindings, users, vhosts, permissions, vhost limits)
  --consumer-timeout MS  close a channel whose delivery stays unacked longer (406, as
                     RabbitMQ's consumer_timeout; default 1800000, 0 = never)
  --max-connections N  open client connections allowed (default no limit); more get 530 at connection.open
  --default-user NAME  --default-pass PASSWORD  --default-vhost VHOST  the user (an administrator
                     with full access) and vhost made at start, instead of guest/guest and '/'
                     (default $RABBITMQ_DEFAULT_USER, $RABBITMQ_DEFAULT_PASS, $RABBITMQ_DEFAULT_VHOST,
                     as RabbitMQ's Docker image takes them)
  --allow-remote-guest  let user 'guest' log in from other hosts (default: loopback only)
  --tls-port N       also listen for amqps (TLS) on this port, same hosts (needs --tls-cert, --tls-key)
  --tls-cert FILE    the server's certificate chain, PEM
  --tls-key FILE     the server's private key, PEM
  --tls-ca FILE      CA certificates for client certificates, PEM (clients may then use EXTERNAL)
  --tls-verify-peer  refuse TLS clients without a certificate that verifies against --tls-ca
  --management-port N  the management HTTP API's port (default $WARREN_MANAGEMENT_PORT, else
                     15672; 0 = off). When the default port is taken, warren goes on without
                     it and says so
  --log-level LEVEL  what the console shows: debug, info, warning or error (default: warnings
                     and errors, connection events only when asked for); amq.rabbitmq.log
                     gets info and up whatever this is
  --help             this text`;

/** RabbitMQ's ceiling for max_message_size (512 MiB). */
const MAX_MESSAGE_SIZE = 512 * 1024 * 1024;
/** Far above any core count; keeps a typo from allocating rings for thousands of shards. */
const MAX_WORKERS = 1024;

/** Prints one line and exits: the message a user acts on, never a stack trace. */
function exit(code: number, message: string): never {
  log.error(message);
  process.exit(code);
}

function parse(): ReturnType<typeof parseOptions> {
  try {
    return parseOptions();
  } catch (err: any) {
    // parseArgs' messages are one sentence each ("Unknown option '--foo'"); the second, if any, is noise.
    const sentence = String(err?.message).split(/\.\s|\n/)[0];
    exit(2, `${sentence.charAt(0).toLowerCase()}${sentence.slice(1)} (see --help)`);
  }
}

function parseOptions() {
  return parseArgs({
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string', multiple: true },
      port: { type: 'string' },
      workers: { type: 'string' },
      heartbeat: { type: 'string' },
      'max-message-size': { type: 'string' },
      'memory-high-watermark': { type: 'string' },
      'disk-free-limit': { type: 'string' },
      'data-dir': { type: 'string' },
      'in-memory': { type: 'boolean' },
      definitions: { type: 'string' },
      'consumer-timeout': { type: 'string' },
      'allow-remote-guest': { type: 'boolean' },
      'default-user': { type: 'string' },
      'default-pass': { type: 'string' },
      'default-vhost': { type: 'string' },
      'max-connections': { type: 'string' },
      'tls-port': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-verify-peer': { type: 'boolean' },
      'management-port': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean' },
    },
  }).values;
}

/** An integer option within [min, max], or undefined when absent. */
function integer(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) exit(2, `--${name} needs an integer from ${min} to ${max}, got '${value}' (see --help)`);
  return n;
}

/** A byte size checked here, so that a bad value is a usage error (2), not a failed start. */
function byteSize(name: string, value: string | undefined, check: (value: string) => number): string | undefined {
  if (value === undefined) return undefined;
  try {
    check(value);
  } catch (err: any) {
    exit(2, `--${name}: ${err.message} (see --help)`);
  }
  return value;
}

/** Why listening failed, in words (the error of net.Server.listen). */
function listenError(err: any, port: number): string {
  const host = err.address ?? 'the address';
  const at = `port ${err.port ?? port} on ${host}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `${at} is in use (is RabbitMQ running? use --port)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${host}: no such address on this machine (use --host)`;
    case 'EACCES':
      return `no permission to listen on ${at} (ports below 1024 need privileges; use --port)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve host '${err.hostname ?? host}' (use --host)`;
    default:
      return `cannot listen on ${at}: ${err.message}`;
  }
}

/** An IPv6 address in brackets, as a URL wants it. */
const hostPart = (host: string) => (host.includes(':') ? `[${host}]` : host);

// A subcommand, else the broker.
if (process.argv[2] === 'definitions') process.exit(await runDefinitionsCommand(process.argv.slice(3)));
if (process.argv[2] === 'ctl') process.exit(await (await import('./ctl-command.js')).runCtlCommand(process.argv.slice(3)));
const values = parse();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const logLevel = values['log-level'];
if (logLevel !== undefined) {
  if (!isLogLevel(logLevel)) exit(2, `--log-level needs one of ${LOG_LEVELS.join(', ')}, got '${logLevel}' (see --help)`);
  setConsoleLevel(logLevel);
}
if (values['in-memory'] && values['data-dir'] !== undefined) exit(2, '--data-dir and --in-memory exclude each other (see --help)');
const port = integer('port', values.port, 0, 65535);
/** RabbitMQ's management port. */
const DEFAULT_MANAGEMENT_PORT = 15672;
// $WARREN_MANAGEMENT_PORT counts as given (the bench turns the API off with 0; older checkouts ignore it).
const managementOption = integer('management-port', values['management-port'] ?? (process.env.WARREN_MANAGEMENT_PORT || undefined), 0, 65535);
const managementPort = managementOption ?? DEFAULT_MANAGEMENT_PORT;
const options: BrokerOptions = {
  host: values.host,
  port,
  workers: integer('workers', values.workers, 0, MAX_WORKERS),
  heartbeat: integer('heartbeat', values.heartbeat, 0, 65535),
  maxMessageSize: integer('max-message-size', values['max-message-size'], 1, MAX_MESSAGE_SIZE),
  memoryHighWatermark: byteSize('memory-high-watermark', values['memory-high-watermark'], watermarkBytes),
  diskFreeLimit: byteSize('disk-free-limit', values['disk-free-limit'], diskFreeLimitBytes),
  dataDir: values['in-memory'] ? undefined : (values['data-dir'] ?? (process.env.WARREN_DATA_DIR || 'warren-data')),
  definitions: values.definitions,
  consumerTimeoutMs: integer('consumer-timeout', values['consumer-timeout'], 0, Number.MAX_SAFE_INTEGER),
  allowRemoteGuest: values['allow-remote-guest'],
  ...defaults(),
  maxConnections: integer('max-connections', values['max-connections'], 0, 2 ** 31 - 1),
  tls: tlsOptions(),
};

/**
 * --default-user, --default-pass, --default-vhost, or RabbitMQ's environment
 * variables for them (its Docker image's); each unset one is RabbitMQ's default
 * (guest, guest, '/').
 */
function defaults(): Pick<BrokerOptions, 'users' | 'defaultVHost'> {
  const env = (name: string) => process.env[name] || undefined;
  const user = values['default-user'] ?? env('RABBITMQ_DEFAULT_USER') ?? 'guest';
  const password = values['default-pass'] ?? env('RABBITMQ_DEFAULT_PASS') ?? 'guest';
  const vhost = values['default-vhost'] ?? env('RABBITMQ_DEFAULT_VHOST') ?? '/';
  for (const [option, value] of [['default-user', user], ['default-vhost', vhost]]) {
    if (value === '' || Buffer.byteLength(value) > 255) exit(2, `--${option} must be 1 to 255 bytes, got '${value}' (see --help)`);
  }
  return { users: { [user]: password }, defaultVHost: vhost };
}

/** --tls-*: all or nothing; the PEM files are read here, so a missing one is a usage error. */
function tlsOptions(): TlsOptions | undefined {
  const given = ['tls-port', 'tls-cert', 'tls-key', 'tls-ca', 'tls-verify-peer'].filter((k) => values[k as keyof typeof values] !== undefined);
  if (given.length === 0) return undefined;
  for (const needed of ['tls-port', 'tls-cert', 'tls-key']) if (values[needed as keyof typeof values] === undefined) exit(2, `--${given[0]} needs --${needed} (see --help)`);
  if (values['tls-verify-peer'] && values['tls-ca'] === undefined) exit(2, '--tls-verify-peer needs --tls-ca (see --help)');
  const pem = (option: string, file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err: any) {
      exit(2, `--${option}: cannot read ${file}: ${err.code ?? err.message}`);
    }
  };
  return {
    port: integer('tls-port', values['tls-port'], 0, 65535),
    cert: pem('tls-cert', values['tls-cert'])!,
    key: pem('tls-key', values['tls-key'])!,
    ca: pem('tls-ca', values['tls-ca']),
    verifyPeer: values['tls-verify-peer'] ?? false,
  };
}

let broker: RunningBroker;
try {
  broker = await startBroker(options);
} catch (err: any) {
  if (err?.syscall === 'listen' || err?.syscall === 'getaddrinfo') exit(1, listenError(err, port ?? 5672));
  if (err instanceof DataDirInUse) exit(1, err.message);
  exit(1, `cannot start: ${err?.message ?? err}`);
}

const hosts = [broker.broker.options.host].flat().join(', ');
const ms = (performance.now() - started).toFixed(1);
const amqps = broker.tlsPort === undefined ? '' : ` amqps port ${broker.tlsPort}`;
log.announce(`warren ${VERSION} listening on ${hosts} port ${broker.port} (${broker.broker.links.length} shard(s), workers=${broker.broker.options.workers})${amqps} ready in ${ms} ms`);

/**
 * After the ready line: the AMQP port never waits for the management API.
 * A port asked for with --management-port must work; when the default one is
 * taken (a RabbitMQ running, another warren), warren goes on without it.
 */
async function startManagement(running: RunningBroker, port: number): Promise<void> {
  try {
    const bound = await running.startManagement(port);
    log.announce(`warren: management API on http://${hostPart(hosts.split(', ')[0])}:${bound}/api/`);
  } catch (err: any) {
    const why = err instanceof ManagementListenError ? listenError(err.cause, port).replace(' (is RabbitMQ running? use --port)', '') : String(err?.message ?? err);
    if (managementOption !== undefined) {
      log.error(`management API: ${why.replace('use --port', 'use --management-port')}`);
      await running.close();
      process.exit(1);
    }
    log.warning(`${why}: going on without the management API (use --management-port)`);
  }
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await broker.close();
  process.exit(code);
}
// The broker has already logged its one line about the shard.
void broker.failed.then(() => stop(1));
// warren ctl shutdown: the broker closed itself
void broker.shutDown.then(() => {
  log.announce('warren: shut down on request');
  process.exit(0);
});
process.on('SIGINT', () => {
  log.announce('warren: SIGINT, stopping');
  void stop(0);
});
process.on('SIGTERM', () => {
  log.announce('warren: SIGTERM, stopping');
  void stop(0);
});

if (managementPort !== 0) await startManagement(broker, managementPort);
