/**
 * /api/feature-flags, for administrators as in RabbitMQ 3.10.8: the flags that
 * release lists, with its texts. A flag is a behaviour a cluster's nodes agree
 * on; warren is one node and behaves as each says, so all are enabled.
 * Enabling one changes nothing (204), as in RabbitMQ; an unknown one is
 * RabbitMQ's 400 "unsupported".
 */
import type { Api, Route } from './api.js';
import { badRequest, noContent } from './http.js';

const FLAGS: [name: string, desc: string, providedBy: string, docUrl: string][] = [
  ['classic_mirrored_queue_version', 'Support setting version for classic mirrored queues', 'rabbit', ''],
  ['drop_unroutable_metric', 'Count unroutable publishes to be dropped in stats', 'rabbitmq_management_agent', ''],
  ['empty_basic_get_metric', 'Count AMQP `basic.get` on empty queues in stats', 'rabbitmq_management_agent', ''],
  ['implicit_default_bindings', 'Default bindings are now implicit, instead of being stored in the database', 'rabbit', ''],
  ['maintenance_mode_status', 'Maintenance mode status', 'rabbit', ''],
  ['quorum_queue', 'Support queues of type `quorum`', 'rabbit', 'https://www.rabbitmq.com/quorum-queues.html'],
  ['stream_queue', 'Support queues of type `stream`', 'rabbit', 'https://www.rabbitmq.com/stream.html'],
  ['user_limits', 'Configure connection and channel limits for a user', 'rabbit', ''],
  ['virtual_host_metadata', 'Virtual host metadata (description, tags, etc)', 'rabbit', ''],
];

export function featureFlagRoutes(_api: Api, route: Route): void {
  route(
    'GET',
    '/api/feature-flags',
    () => FLAGS.map(([name, desc, provided_by, doc_url]) => ({ name, desc, doc_url, state: 'enabled', stability: 'stable', provided_by })),
    'administrator',
  );
  route(
    'PUT',
    '/api/feature-flags/:name/enable',
    (req) => {
      if (!FLAGS.some(([name]) => name === req.params.name)) throw badRequest('unsupported');
      return noContent();
    },
    'administrator',
  );
}
