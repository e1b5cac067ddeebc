/**
 * The management API's requests, replies and errors, in RabbitMQ's shapes:
 * an error is {"error": ..., "reason": ...} with RabbitMQ's status code.
 */
import type { IncomingMessage } from 'node:http';
import { AmqpError, ReplyCode } from '../protocol/errors.js';

export interface ApiRequest {
  readonly method: string;
  readonly params: Readonly<Record<string, string | undefined>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  /** the authenticated user */
  readonly user: string;
  /** the user's tags */
  readonly tags: readonly string[];
  /** whether the user may see a vhost's objects (lists show only those) */
  sees(vhost: string): boolean;
  /** the body parsed as JSON; undefined when empty (400 when it is not JSON) */
  readonly body: unknown;
}

/** A reply other than 200 with a JSON body (handlers return the body itself for that). */
export class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

export const created = (headers: Record<string, string> = {}) => new Reply(201, undefined, headers);
export const noContent = () => new Reply(204);

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
    readonly headers: Record<string, string> = {},
    /** the body's key for `error`: health checks answer {"status": "failed", "reason": ...} */
    readonly errorKey: 'error' | 'status' = 'error',
    /** more of the body, after the error and reason (a failed health check's alarms) */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(`${status} ${error}: ${reason}`);
  }
}

export const notFound = () => new HttpError(404, 'Object Not Found', 'Not Found');
export const badRequest = (reason: string) => new HttpError(400, 'bad_request', reason);

/** An AMQP refusal from VHostService.apply() as RabbitMQ's management API answers it. */
export function httpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (!(err instanceof AmqpError)) {
    return new HttpError(500, 'internal_server_error', err instanceof Error ? err.message : String(err));
  }
  switch (err.code) {
    case ReplyCode.NOT_FOUND:
      return new HttpError(404, 'not_found', err.detail);
    case ReplyCode.ACCESS_REFUSED:
      // RabbitMQ answers amq.* names, the default exchange and the like as a refused permission.
      return new HttpError(401, 'not_authorised', 'Access refused.');
    case ReplyCode.INTERNAL_ERROR:
      // RabbitMQ's crash on a value it cannot parse (no detail: internalError) is a 400 there too;
      // otherwise a shard stopped, or the broker is closing
      return err.detail === '' ? badRequest(err.message) : new HttpError(503, 'service_unavailable', err.detail);
    default:
      // 406 (inequivalent, in use, not empty), 405 (locked), 503, 530: the client asked for something invalid
      return badRequest(err.detail);
  }
}

/** The vhost named in a path: 404 unless it exists. */
export function param(req: ApiRequest, name: string): string {
  const value = req.params[name];
  if (value === undefined) throw notFound();
  return value;
}

/** A JSON object body (a missing body, or null as some clients send, counts as {}, as in RabbitMQ); 400 for anything else. */
export function objectBody(req: ApiRequest): Record<string, unknown> {
  if (req.body === undefined || req.body === null) return {};
  if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw badRequest('body must be a JSON object');
  return req.body as Record<string, unknown>;
}

/** An optional boolean field of a body; 400 if present and not a boolean. */
export function boolField(body: Record<string, unknown>, key: string, absent: boolean): boolean {
  const value = body[key];
  if (value === undefined) return absent;
  if (typeof value === 'boolean') return value;
  // Some clients send them as strings, which RabbitMQ accepts.
  if (value === 'true' || value === 'false') return value === 'true';
  throw badRequest(`${key} must be true or false, got ${JSON.stringify(value)}`);
}

/** An optional string field of a body; 400 if present and not a string. */
export function stringField(body: Record<string, unknown>, key: string, absent: string): string {
  const value = body[key];
  if (value === undefined) return absent;
  if (typeof value !== 'string') throw badRequest(`${key} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

/** A query flag as RabbitMQ reads them (if-empty=true, use_regex=true). */
export const queryFlag = (req: ApiRequest, name: string): boolean => req.query.get(name) === 'true';
