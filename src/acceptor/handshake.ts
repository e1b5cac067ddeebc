/**
 * The connection's opening phase, from protocol header to connection.open-ok:
 * start/start-ok (SASL PLAIN or AMQPLAIN), tune/tune-ok, open. Only then do
 * channels exist, with frame-max and heartbeat settled.
 */
import { FRAME_METHOD, FRAME_MIN_SIZE, FRAME_OVERHEAD } from '../protocol/constants.js';
import { AmqpError, ReplyCode, connectionError } from '../protocol/errors.js';
import { decodeTable } from '../protocol/field-table.js';
import type { FieldTable } from '../protocol/field-types.js';
import * as M from '../protocol/methods.generated.js';
import { VERSION } from '../version.js';
import { TLSSocket } from 'node:tls';
import type { User } from '../auth/access-control.js';
import type { Connection } from './connection.js';
import { UserAccess } from '../auth/user-access.js';
import { connectionLog } from '../log/logger.js';

export const SERVER_CHANNEL_MAX = 2047;
export const SERVER_FRAME_MAX = 131072;
export const SERVER_HEARTBEAT = 60;
/** RabbitMQ closes a connection that has not finished its handshake in 10 s. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

const SERVER_PROPERTIES: FieldTable = {
  product: 'warren',
  version: VERSION,
  platform: `Node.js ${process.version}`,
  copyright: 'the warren authors',
  information: 'An AMQP 0-9-1 broker for load tests and CI',
  // Only what is implemented (each has its tests), as RabbitMQ 3.10 announces them.
  capabilities: {
    publisher_confirms: true,
    exchange_exchange_bindings: true,
    'basic.nack': true,
    consumer_cancel_notify: true,
    'connection.blocked': true,
    authentication_failure_close: true,
    per_consumer_qos: true,
    direct_reply_to: true,
    consumer_priorities: true,
  },
};

type Step = 'start-ok' | 'tune-ok' | 'open';

/** The cluster name as the management API shows it; one set to another JSON value, as its JSON. */
function clusterName(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** connection.start's properties with the cluster name: one table while the name stays (a connection allocates none). */
let startProperties: { clusterName: string; table: FieldTable } | null = null;
function serverProperties(name: string): FieldTable {
  if (startProperties?.clusterName !== name) startProperties = { clusterName: name, table: { ...SERVER_PROPERTIES, cluster_name: name } };
  return startProperties.table;
}

export class Handshake {
  private step: Step = 'start-ok';
  private readonly timer: NodeJS.Timeout;
  /** who the SASL response claims to be, for the refused-login log line */
  private claimed = 'client certificate';

  constructor(private readonly conn: Connection) {
    this.timer = setTimeout(() => conn.socket.destroy(), HANDSHAKE_TIMEOUT_MS);
    this.timer.unref();
  }

  start(): void {
    M.writeConnectionStart(this.conn.out, 0, {
      versionMajor: this.conn.writers.versionMajor,
      versionMinor: this.conn.writers.versionMinor,
      serverProperties: serverProperties(clusterName(this.conn.broker.globals.clusterName)),
      // EXTERNAL (a client certificate's CN) only where there can be a certificate.
      mechanisms: Buffer.from(this.conn.socket instanceof TLSSocket ? 'PLAIN AMQPLAIN EXTERNAL' : 'PLAIN AMQPLAIN'),
      locales: Buffer.from('en_US'),
    });
    this.conn.dirty();
  }

  onFrame(type: number, channel: number, payload: Buffer): void {
    if (type !== FRAME_METHOD || channel !== 0) {
      throw connectionError(ReplyCode.UNEXPECTED_FRAME, `unexpected frame (type ${type}, channel ${channel}) during the handshake`);
    }
    const id = payload.readUInt32BE(0);
    const args = M.decodeMethod(id, payload, 4, payload.length);
    if (id === M.CONNECTION_CLOSE) {
      this.conn.writers.connectionCloseOk(this.conn.out);
      this.conn.broker.output.flushNow(this.conn);
      this.conn.closeOkSent();
      return;
    }
    const expected = { 'start-ok': M.CONNECTION_START_OK, 'tune-ok': M.CONNECTION_TUNE_OK, open: M.CONNECTION_OPEN }[this.step];
    if (id !== expected) {
      throw new AmqpError(ReplyCode.COMMAND_INVALID, `expected ${M.methodName(expected)}, got ${M.methodName(id)}`, id >>> 16, id & 0xffff, true);
    }
    if (this.step === 'start-ok') this.startOk(args);
    else if (this.step === 'tune-ok') this.tuneOk(args);
    else this.open(args);
  }

  private startOk(a: M.ConnectionStartOk): void {
    const caps = a.clientProperties.capabilities as FieldTable | undefined;
    this.conn.capabilities = {
      consumerCancelNotify: caps?.consumer_cancel_notify === true,
      // 0-8 has no connection.blocked: its id is 0-8's connection.close.
      connectionBlocked: caps?.['connection.blocked'] === true && !this.conn.amqp08,
      authenticationFailureClose: caps?.authentication_failure_close === true,
    };
    const user = this.authenticate(a.mechanism, a.response);
    this.conn.broker.authAttempts.record('amqp091', user !== null);
    if (user === null) {
      connectionLog.warning(`connection ${this.conn.id} (${this.conn.name}): ACCESS_REFUSED - ${a.mechanism} login refused: ${this.claimed} - invalid credentials`);
      const text = `ACCESS_REFUSED - Login was refused using authentication mechanism ${a.mechanism}. For details see the broker logfile.`;
      if (this.conn.capabilities.authenticationFailureClose) {
        throw new AmqpError(ReplyCode.ACCESS_REFUSED, text.slice('ACCESS_REFUSED - '.length), 0, 0, true);
      }
      // Clients that did not ask for the close frame get the socket closed, as RabbitMQ does.
      this.conn.socket.destroy();
      return;
    }
    this.conn.user = user.name;
    this.conn.clientProperties = a.clientProperties;
    this.step = 'tune-ok';
    M.writeConnectionTune(this.conn.out, 0, {
      channelMax: SERVER_CHANNEL_MAX,
      frameMax: SERVER_FRAME_MAX,
      heartbeat: this.conn.broker.options.heartbeat,
    });
    this.conn.dirty();
  }

  /** The user the SASL response proves, or null; an unknown mechanism is a 503. */
  private authenticate(mechanism: string, response: Buffer): User | null {
    const broker = this.conn.broker;
    if (mechanism === 'EXTERNAL') return this.conn.socket instanceof TLSSocket ? broker.authenticateCertificate(this.conn.socket) : null;
    const credentials = parseCredentials(mechanism, response);
    if (credentials === null) throw connectionError(ReplyCode.COMMAND_INVALID, `unknown authentication mechanism '${mechanism}'`);
    this.claimed = `user '${credentials[0]}'`;
    return broker.authenticate(credentials[0], credentials[1], this.conn.socket.remoteAddress);
  }

  private tuneOk(a: M.ConnectionTuneOk): void {
    if (a.frameMax !== 0 && a.frameMax < FRAME_MIN_SIZE) {
      throw connectionError(ReplyCode.NOT_ALLOWED, `frame_max=${a.frameMax} < ${FRAME_MIN_SIZE} min_size`);
    }
    if (a.frameMax > SERVER_FRAME_MAX) {
      throw connectionError(ReplyCode.NOT_ALLOWED, `frame_max=${a.frameMax} > ${SERVER_FRAME_MAX} max size`);
    }
    if (a.channelMax > SERVER_CHANNEL_MAX) {
      throw connectionError(ReplyCode.NOT_ALLOWED, `channel_max=${a.channelMax} > ${SERVER_CHANNEL_MAX} max`);
    }
    this.conn.frameMax = a.frameMax === 0 ? SERVER_FRAME_MAX : a.frameMax;
    this.conn.channelMax = a.channelMax === 0 ? SERVER_CHANNEL_MAX : a.channelMax;
    this.conn.startHeartbeats(a.heartbeat);
    // Like RabbitMQ, allow 8 bytes over: several clients count frame-max without the overhead.
    this.conn.reader.maxFrameSize = this.conn.frameMax + FRAME_OVERHEAD;
    this.step = 'open';
  }

  private open(a: M.ConnectionOpen): void {
    const service = this.conn.broker.openVHost(this.conn, a.virtualHost);
    clearTimeout(this.timer);
    this.conn.vhost = service.topology;
    this.conn.service = service;
    this.conn.permissions = new UserAccess(this.conn.broker.access, this.conn.user, service.topology);
    M.writeConnectionOpenOk(this.conn.out, 0, {});
    this.conn.dirty();
    this.conn.opened();
    if (this.conn.broker.observers.connection) this.conn.broker.observers.onConnection(this.conn);
    connectionLog.info(`connection ${this.conn.id} (${this.conn.name}): user '${this.conn.user}' authenticated and granted access to vhost '${service.name}'`);
  }
}

/** [user, password] from a SASL response, or null for an unknown mechanism. */
function parseCredentials(mechanism: string, response: Buffer): [string, string] | null {
  if (mechanism === 'PLAIN') {
    // authzid NUL authcid NUL passwd
    const parts = response.toString('utf8').split('\0');
    if (parts.length !== 3) return ['', ''];
    return [parts[1], parts[2]];
  }
  if (mechanism === 'AMQPLAIN') {
    // A field table without its length prefix.
    const table = decodeTable(response, 0, response.length);
    return [String(table.LOGIN ?? ''), String(table.PASSWORD ?? '')];
  }
  return null;
}
