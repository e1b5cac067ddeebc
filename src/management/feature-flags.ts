/**
 * /api/feature-flags, for administrators as in RabbitMQ 3.10.8: the flags that
 * release lists, with its texts. A flag is a behaviour a cluster's nodes agree
 * on; warren is one node, so each is enabled where warren behaves so, and
 * `stream_queue` is unavailable (streams are refused at declare). Enabling an
 * enabled flag changes nothing (204), as in RabbitMQ; an unavailable or
 * unknown one is RabbitMQ's 400 "unsupported".
 */
import type { Api, Route } from './api.js';
import { badRequest, noContent } from './http.js';

const FLAGS: [name: string, desc: string, providedBy: string, docUrl: string, available: boolean][] = [
  ['classic_mirrored_queue_version', 'Support setting version for classic mirrored queues', 'rabbit', '', true],
  ['drop_unroutable_metric', 'Count unroutable publishes to be dropped in stats', 'rabbitmq_management_agent', '', true],
  ['empty_basic_get_metric', 'Count AMQP `basic.get` on empty queues in stats', 'rabbitmq_management_agent', '', true],
  ['implicit_default_bindings', 'Default bindings are now implicit, instead of being stored in the database', 'rabbit', '', true],
  ['maintenance_mode_status', 'Maintenance mode status', 'rabbit', '', true],
  ['quorum_queue', 'Support queues of type `quorum`', 'rabbit', 'https://www.rabbitmq.com/quorum-queues.html', true],
  ['stream_queue', 'Support queues of type `stream`', 'rabbit', 'https://www.rabbitmq.com/stream.html', false],
  ['user_limits', 'Configure connection and channel limits for a user', 'rabbit', '', true],
  ['virtual_host_metadata', 'Virtual host metadata (description, tags, etc)', 'rabbit', '', true],
];

export function featureFlagRoutes(_api: Api, route: Route): void {
  route(
    'GET',
    '/api/feature-flags',
    () => FLAGS.map(([name, desc, provided_by, doc_url, available]) => ({ name, desc, doc_url, state: available ? 'enabled' : 'unavailable', stability: 'stable', provided_by })),
    'administrator',
  );
  route(
    'PUT',
    '/api/feature-flags/:name/enable',
    (req) => {
      if (!FLAGS.some(([name, , , , available]) => name === req.params.name && available)) throw badRequest('unsupported');
      return noContent();
    },
    'administrator',
  );
}
