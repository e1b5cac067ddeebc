/**
 * The basic class's properties in their wire order (P_basic), each with the
 * name RabbitMQ gives it in JSON and trace tables and its flag bit: one table
 * for the management API's messages and the firehose's copies.
 */
import type { BasicProperties } from './methods.generated.js';

export const BASIC_PROPERTIES: readonly (readonly [keyof BasicProperties, string, number])[] = [
  ['contentType', 'content_type', 0x8000],
  ['contentEncoding', 'content_encoding', 0x4000],
  ['headers', 'headers', 0x2000],
  ['deliveryMode', 'delivery_mode', 0x1000],
  ['priority', 'priority', 0x0800],
  ['correlationId', 'correlation_id', 0x0400],
  ['replyTo', 'reply_to', 0x0200],
  ['expiration', 'expiration', 0x0100],
  ['messageId', 'message_id', 0x0080],
  ['timestamp', 'timestamp', 0x0040],
  ['type', 'type', 0x0020],
  ['userId', 'user_id', 0x0010],
  ['appId', 'app_id', 0x0008],
  ['clusterId', 'cluster_id', 0x0004],
];
