/** Frame-level constants of AMQP 0-9-1 (spec section 4.2.3). */

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;

/** Every frame ends with this octet; anything else means the stream is out of sync. */
export const FRAME_END = 0xce;

/** The smallest frame-max a peer may negotiate, and the limit before connection.tune-ok. */
export const FRAME_MIN_SIZE = 4096;

/** Bytes a frame adds around its payload: type (1) + channel (2) + size (4) + frame-end (1). */
export const FRAME_OVERHEAD = 8;
