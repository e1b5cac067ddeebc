/**
 * Objects created and gone since the broker started, for the management API's
 * churn_rates (/api/overview) and /api/nodes: an integer increment where each
 * happens, none on the publish or deliver path.
 */
export class Churn {
  /** TCP connections accepted */
  connectionCreated = 0;
  connectionClosed = 0;
  channelCreated = 0;
  channelClosed = 0;
  /** queue.declare (and HTTP PUT) answered, passive or not */
  queueDeclared = 0;
  queueCreated = 0;
  queueDeleted = 0;
}
