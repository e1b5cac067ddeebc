/** AMQP reply codes used by the broker (spec constants plus RabbitMQ's usage). */
export const ReplyCode = {
  SUCCESS: 200,
  CONTENT_TOO_LARGE: 311,
  NO_ROUTE: 312,
  NO_CONSUMERS: 313,
  CONNECTION_FORCED: 320,
  INVALID_PATH: 402,
  ACCESS_REFUSED: 403,
  NOT_FOUND: 404,
  RESOURCE_LOCKED: 405,
  PRECONDITION_FAILED: 406,
  FRAME_ERROR: 501,
  SYNTAX_ERROR: 502,
  COMMAND_INVALID: 503,
  CHANNEL_ERROR: 504,
  UNEXPECTED_FRAME: 505,
  RESOURCE_ERROR: 506,
  NOT_ALLOWED: 530,
  NOT_IMPLEMENTED: 540,
  INTERNAL_ERROR: 541,
} as const;

const REPLY_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ReplyCode).map(([name, code]) => [code, name]),
);

/**
 * An error the peer must hear about. Handlers throw it; one catch in the
 * connection turns it into channel.close (soft) or connection.close (hard).
 * The text follows RabbitMQ's shape: "NOT_FOUND - no queue 'q' in vhost '/'".
 */
export class AmqpError extends Error {
  constructor(
    readonly code: number,
    readonly detail: string,
    readonly classId = 0,
    readonly methodId = 0,
    /** true when the whole connection must close, false for the channel only */
    readonly hard = code >= 500 || code === ReplyCode.CONNECTION_FORCED || code === ReplyCode.INVALID_PATH,
  ) {
    // No detail: the bare name, as RabbitMQ closes a connection whose channel crashed ("INTERNAL_ERROR").
    super(detail === '' ? `${REPLY_NAMES[code] ?? code}` : `${REPLY_NAMES[code] ?? code} - ${detail}`);
  }

  /** The same error attributed to the method that caused it. */
  withMethod(classId: number, methodId: number): AmqpError {
    if (this.classId !== 0) return this;
    return new AmqpError(this.code, this.detail, classId, methodId, this.hard);
  }
}

export const channelError = (code: number, detail: string) => new AmqpError(code, detail, 0, 0, false);
export const connectionError = (code: number, detail: string) => new AmqpError(code, detail, 0, 0, true);

/** Where RabbitMQ's channel crashes on a value it has no case for, its connection closes with a bare 541 "INTERNAL_ERROR": so does warren's. */
export const internalError = () => new AmqpError(ReplyCode.INTERNAL_ERROR, '', 0, 0, true);
