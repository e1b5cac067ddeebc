/**
 * /api/policies, /api/operator-policies and /api/parameters: warren has no
 * policies and no runtime parameters, so their lists are empty (as on a fresh
 * RabbitMQ, which `rabbitmqadmin list policies` expects) and a PUT is refused
 * with a 400 that says so, rather than a 404 that looks like a wrong path.
 */
import type { Api, Route } from './api.js';
import { badRequest, notFound } from './http.js';
import { listReply } from './list.js';

export function policyRoutes(api: Api, route: Route): void {
  for (const kind of ['policies', 'operator-policies']) {
    route('GET', `/api/${kind}`, (req) => listReply(req, []));
    route('GET', `/api/${kind}/:vhost`, (req) => {
      api.service(req.params.vhost); // 404 for a vhost that does not exist
      return listReply(req, []);
    });
    route('GET', `/api/${kind}/:vhost/:name`, (req) => {
      api.service(req.params.vhost);
      throw notFound();
    });
    route('PUT', `/api/${kind}/:vhost/:name`, (req) => {
      api.service(req.params.vhost);
      throw badRequest('warren has no policies: give the queue its x-arguments (x-max-length, x-message-ttl, ...) when declaring it');
    });
  }
  route('GET', '/api/parameters', (req) => listReply(req, []));
  route('GET', '/api/parameters/:component', (req) => listReply(req, []));
  route('GET', '/api/parameters/:component/:vhost', (req) => {
    api.service(req.params.vhost);
    return listReply(req, []);
  });
  route('PUT', '/api/parameters/:component/:vhost/:name', (req) => {
    api.service(req.params.vhost);
    throw badRequest(`warren has no runtime parameters (component '${req.params.component}')`);
  });
}
