/**
 * /api/policies (vhost/policy.ts): listed to any management user for the
 * vhosts it sees; read, set and cleared one by one by a policymaker with
 * permissions in the vhost, or an administrator, as in RabbitMQ. A refused
 * policy is RabbitMQ's 400 "Validation failed" with its reason.
 *
 * /api/operator-policies and /api/parameters: warren has neither, so their
 * lists are empty (as on a fresh RabbitMQ, which `rabbitmqadmin list ...`
 * expects) and a PUT is refused with a 400 that says so.
 */
import type { Api, Route } from './api.js';
import { HttpError, badRequest, created, noContent, notFound, objectBody } from './http.js';
import { listReply } from './list.js';
import { PolicyError, parsePolicy, policyJson } from '../vhost/policy.js';

export function policyRoutes(api: Api, route: Route): void {
  const list = (vhost: string | undefined) => api.services(vhost).flatMap((s) => [...s.policies].map((p) => policyJson(s.name, p)));
  route('GET', '/api/policies', (req) => listReply(req, list(undefined)));
  route('GET', '/api/policies/:vhost', (req) => listReply(req, list(req.params.vhost)));
  route(
    'GET',
    '/api/policies/:vhost/:name',
    (req) => {
      const service = api.service(req.params.vhost);
      const policy = [...service.policies].find((p) => p.name === req.params.name);
      if (policy === undefined) throw notFound();
      return policyJson(service.name, policy);
    },
    'policymaker',
  );
  route(
    'PUT',
    '/api/policies/:vhost/:name',
    (req) => {
      const service = api.host.vhosts.get(req.params.vhost!);
      if (service === undefined) throw new HttpError(404, 'not_found', 'vhost_not_found');
      const body = objectBody(req);
      const missing = ['pattern', 'definition'].filter((key) => body[key] === undefined);
      if (missing.length > 0) throw badRequest(`[${missing.map((key) => `{key_missing,${key}}`).join(',')}]`);
      let policy;
      try {
        policy = parsePolicy(req.params.name!, body);
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        throw badRequest(htmlEscaped(`Validation failed\n\n${err.message}\n`));
      }
      return service.setPolicy(policy) ? created() : noContent();
    },
    'policymaker',
  );
  route(
    'DELETE',
    '/api/policies/:vhost/:name',
    (req) => {
      if (!api.service(req.params.vhost).clearPolicy(req.params.name!)) throw notFound();
      return noContent();
    },
    'policymaker',
  );
  route('GET', '/api/operator-policies', (req) => listReply(req, []));
  route('GET', '/api/operator-policies/:vhost', (req) => {
    api.service(req.params.vhost); // 404 for a vhost that does not exist
    return listReply(req, []);
  });
  route('GET', '/api/operator-policies/:vhost/:name', (req) => {
    api.service(req.params.vhost);
    throw notFound();
  });
  route('PUT', '/api/operator-policies/:vhost/:name', (req) => {
    api.service(req.params.vhost);
    throw badRequest('warren has no operator policies: set a policy (/api/policies), or give the queue its x-arguments');
  });
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

/** RabbitMQ escapes a reason for HTML, so the Erlang terms in a policy's error read &lt;&lt;"x"&gt;&gt;. */
function htmlEscaped(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
