/**
 * /api/policies and /api/operator-policies (vhost/policy.ts): listed to any
 * management user for the vhosts it sees; read, set and cleared one by one by
 * a policymaker with permissions in the vhost or an administrator (operator
 * policies: an administrator only), as in RabbitMQ 3.10. A refused policy is
 * RabbitMQ's 400 "Validation failed" with its reason.

 */
import type { Api, Route } from './api.js';
import { HttpError, badRequest, created, noContent, notFound, objectBody } from './http.js';
import { listReply } from './list.js';
import type { Level } from './tags.js';
import { PolicyError, parsePolicy, policyJson, type PolicyKind } from '../vhost/policy.js';

export function policyRoutes(api: Api, route: Route): void {
  policyResource(api, route, '/api/policies', 'policy', 'policymaker');
  policyResource(api, route, '/api/operator-policies', 'operator', 'administrator');
}

function policyResource(api: Api, route: Route, base: string, kind: PolicyKind, level: Level): void {
  const list = (vhost: string | undefined) => api.services(vhost).flatMap((s) => [...s.policies(kind)].map((p) => policyJson(s.name, p)));
  route('GET', base, (req) => listReply(req, list(undefined)));
  route('GET', `${base}/:vhost`, (req) => listReply(req, list(req.params.vhost)));
  route(
    'GET',
    `${base}/:vhost/:name`,
    (req) => {
      const service = api.service(req.params.vhost);
      const policy = [...service.policies(kind)].find((p) => p.name === req.params.name);
      if (policy === undefined) throw notFound();
      return policyJson(service.name, policy);
    },
    level,
  );
  route(
    'PUT',
    `${base}/:vhost/:name`,
    (req) => {
      const service = api.host.vhosts.get(req.params.vhost!);
      if (service === undefined) throw new HttpError(404, 'not_found', 'vhost_not_found');
      const body = objectBody(req);
      const missing = ['pattern', 'definition'].filter((key) => body[key] === undefined);
      if (missing.length > 0) throw badRequest(`[${missing.map((key) => `{key_missing,${key}}`).join(',')}]`);
      let policy;
      try {
        policy = parsePolicy(req.params.name!, body, kind);
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        const reason = `Validation failed\n\n${err.message}\n`;
        // RabbitMQ 3.10.8 escapes a policy's reason for HTML (its Erlang terms read &lt;&lt;"x"&gt;&gt;), not an operator policy's.
        throw badRequest(kind === 'policy' ? htmlEscaped(reason) : reason);
      }
      return service.setPolicy(policy, kind) ? created() : noContent();
    },
    level,
  );
  route(
    'DELETE',
    `${base}/:vhost/:name`,
    (req) => {
      if (!api.service(req.params.vhost).clearPolicy(req.params.name!, kind)) throw notFound();
      return noContent();
    },
    level,
  );
}

/** RabbitMQ escapes a reason for HTML, so the Erlang terms in a policy's error read &lt;&lt;"x"&gt;&gt;. */
function htmlEscaped(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
