/** Logs in by hand (raw frames), so user names, passwords and vhosts can be any bytes. */
import { FRAME_METHOD, PROTOCOL_HEADER, RawClient, emptyTable, fieldTable as table, longstr, method, shortstr, tuneOk, u8 } from '../wire/raw-client.js';

/** client-properties with capabilities.authentication_failure_close = true */
const failureCloseProperties = () =>
  table(shortstr('capabilities'), Buffer.from('F'), table(shortstr('authentication_failure_close'), Buffer.from('t'), u8(1)));

export type LoginResult = { opened: true; client: RawClient } | { opened: false; code: number | null; text: string; client: RawClient };

export interface LoginOptions {
  mechanism?: 'PLAIN' | 'AMQPLAIN';
  /** announce authentication_failure_close (default true) */
  failureClose?: boolean;
  host?: string;
}

/** The handshake up to open-ok, or the connection.close (or bare socket close) that refused it. */
export async function login(port: number, user: string, password: string, vhost: string, options: LoginOptions = {}): Promise<LoginResult> {
  const client = await RawClient.open(port, options.host);
  client.send(PROTOCOL_HEADER);
  await client.expectMethod(10, 10);
  const response =
    options.mechanism === 'AMQPLAIN'
      ? Buffer.concat([shortstr('LOGIN'), Buffer.from('S'), longstr(user), shortstr('PASSWORD'), Buffer.from('S'), longstr(password)])
      : Buffer.from(`\0${user}\0${password}`);
  const properties = options.failureClose === false ? emptyTable() : failureCloseProperties();
  client.send(method(0, 10, 11, properties, shortstr(options.mechanism ?? 'PLAIN'), longstr(response), shortstr('en_US')));
  const tune = await client.readFrame();
  if (tune === null) return { opened: false, code: null, text: '', client };
  if (tune.classId === 10 && tune.methodId === 50) return { opened: false, ...closeReason(tune.payload), client };
  client.send(tuneOk(4096), method(0, 10, 40, longShortstr(vhost), shortstr(''), u8(0)));
  const reply = await client.readFrame();
  if (reply === null) return { opened: false, code: null, text: '', client };
  if (reply.type === FRAME_METHOD && reply.classId === 10 && reply.methodId === 41) return { opened: true, client };
  return { opened: false, ...closeReason(reply.payload), client };
}

/** A shortstr of a UTF-8 text up to 255 bytes. */
function longShortstr(text: string): Buffer {
  const bytes = Buffer.from(text);
  return Buffer.concat([u8(bytes.length), bytes]);
}

function closeReason(payload: Buffer): { code: number; text: string } {
  return { code: payload.readUInt16BE(4), text: payload.subarray(7, 7 + payload[6]).toString() };
}
