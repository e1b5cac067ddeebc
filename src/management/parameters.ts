/**
 * RabbitMQ's runtime parameters, for policymakers and administrators as in
 * RabbitMQ 3.10:
 * - /api/parameters: per-vhost parameters by component. The one component
 *   warren has is `vhost-limits` (a vhost's limits, named `limits`, the same
 *   limits as /api/vhost-limits); others (shovels, federation upstreams) are
 *   plugins' and refused as RabbitMQ refuses a component it lacks.
 * - /api/global-parameters: node-wide name -> JSON value (global-parameters.ts).
 * - /api/cluster-name: the `cluster_name` global parameter, read by any
 *   management user.
 */
import type { Api, Route } from './api.js';
import { HttpError, badRequest, created, noContent, notFound, objectBody, param, type ApiRequest } from './http.js';
import { listReply } from './list.js';
import { limitsFromParameter, parameterValue } from '../vhost/vhost-limits.js';
import type { VHostService } from '../vhost/vhost-service.js';

const LIMITS = 'vhost-limits';

export function parameterRoutes(api: Api, route: Route): void {
  const vhostLimits = (service: VHostService) =>
    service.limits === null ? [] : [{ value: parameterValue(service.limits), vhost: service.name, component: LIMITS, name: 'limits' }];
  // listReply leaves out the vhosts the user may not see
  const list = (component: string | undefined, vhost: string | undefined) => (component !== undefined && component !== LIMITS ? [] : api.services(vhost).flatMap(vhostLimits));
  route('GET', '/api/parameters', (req) => listReply(req, list(undefined, undefined)), 'policymaker');
  route('GET', '/api/parameters/:component', (req) => listReply(req, list(req.params.component, undefined)), 'policymaker');
  route('GET', '/api/parameters/:component/:vhost', (req) => listReply(req, list(req.params.component, req.params.vhost)), 'policymaker');
  route(
    'GET',
    '/api/parameters/:component/:vhost/:name',
    (req) => {
      const found = list(req.params.component, req.params.vhost).find((p) => p.name === req.params.name);
      if (found === undefined) throw notFound();
      return found;
    },
    'policymaker',
  );
  route(
    'PUT',
    '/api/parameters/:component/:vhost/:name',
    (req) => {
      const service = api.host.vhosts.get(param(req, 'vhost'));
      if (service === undefined) throw new HttpError(404, 'not_found', 'vhost_not_found');
      const value = requiredValue(req);
      if (req.params.component !== LIMITS) throw validationFailed(`component ${param(req, 'component')} not found`);
      if (req.params.name !== 'limits') throw validationFailed(`a vhost-limits parameter is named 'limits', not '${param(req, 'name')}'`);
      let limits;
      try {
        limits = limitsFromParameter(value, 'limits');
      } catch (err: any) {
        throw validationFailed(err.message);
      }
      const isNew = service.limits === null;
      api.host.setVHostLimits(service.name, limits);
      return isNew ? created() : noContent();
    },
    'policymaker',
  );
  route(
    'DELETE',
    '/api/parameters/:component/:vhost/:name',
    (req) => {
      const service = api.service(req.params.vhost);
      if (req.params.component !== LIMITS || req.params.name !== 'limits' || service.limits === null) throw notFound();
      api.host.setVHostLimits(service.name, null);
      return noContent();
    },
    'policymaker',
  );

  const globals = api.host.globals;
  route('GET', '/api/global-parameters', (req) => listReply(req, globals.list()), 'policymaker');
  route(
    'GET',
    '/api/global-parameters/:name',
    (req) => {
      const value = globals.get(param(req, 'name'));
      if (value === undefined) throw notFound();
      return { value, name: param(req, 'name') };
    },
    'policymaker',
  );
  route('PUT', '/api/global-parameters/:name', (req) => (globals.set(param(req, 'name'), requiredValue(req)) ? created() : noContent()), 'policymaker');
  route(
    'DELETE',
    '/api/global-parameters/:name',
    (req) => {
      if (!globals.delete(param(req, 'name'))) throw notFound();
      return noContent();
    },
    'policymaker',
  );

  route('GET', '/api/cluster-name', () => ({ name: globals.clusterName }));
  route(
    'PUT',
    '/api/cluster-name',
    (req) => {
      const name = objectBody(req).name;
      if (name === undefined) throw badRequest('[{key_missing,name}]');
      // RabbitMQ 3.10.8 fails with a 500 on a name that is not a string
      if (typeof name !== 'string') throw badRequest(`the cluster name must be a string, got ${JSON.stringify(name)}`);
      globals.set('cluster_name', name);
      return noContent();
    },
    'administrator',
  );
}

/** The body's `value`, which RabbitMQ requires (with_decode's key_missing). */
function requiredValue(req: ApiRequest): unknown {
  const value = objectBody(req).value;
  if (value === undefined) throw badRequest('[{key_missing,value}]');
  return value;
}

const validationFailed = (reason: string) => badRequest(`Validation failed\n\n${reason}\n`);
