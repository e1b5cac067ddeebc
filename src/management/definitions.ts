/**
 * /api/definitions: GET exports, POST imports, in RabbitMQ's format
 * (src/definitions/rabbit-format.ts, the same code as the data dir and
 * --definitions).
 */
import { checkDefinitions, checkEntries, exportDefinitions } from '../definitions/rabbit-format.js';
import type { Api, Route } from './api.js';
import { badRequest, noContent, type ApiRequest } from './http.js';

export function definitionRoutes(api: Api, route: Route): void {
  const exportAll = () => {
    const defs = exportDefinitions(api.host.vhosts.values(), api.host.access, false, api.host.globals);
    // RabbitMQ 3.10's export names its version twice.
    return { ...defs, rabbitmq_version: defs.rabbit_version };
  };
  // /api/all-configuration: RabbitMQ's deprecated name for the same
  for (const path of ['/api/definitions', '/api/all-configuration']) route('GET', path, exportAll, 'administrator');
  route('GET', '/api/definitions/:vhost', (req) => {
    // RabbitMQ's per-vhost export names no vhosts, and its entries carry none but its parameters' and policies'.
    const { parameters, policies, exchanges, queues, bindings } = exportDefinitions([api.service(req.params.vhost)], api.host.access);
    const strip = <T extends { vhost?: string }>(list: T[] | undefined) => (list ?? []).map(({ vhost: _, ...rest }) => rest);
    return {
      rabbit_version: exportDefinitions([], api.host.access).rabbit_version,
      parameters,
      policies,
      exchanges: strip(exchanges),
      queues: strip(queues),
      bindings: strip(bindings),
    };
  }, 'administrator');

  const importInto = async (req: ApiRequest, vhost: string | undefined) => {
    let defs;
    try {
      defs = checkDefinitions(req.body);
      // A per-vhost import: every entry goes to the vhost in the path.
      if (vhost !== undefined) {
        for (const key of ['parameters', 'policies', 'exchanges', 'queues', 'bindings'] as const) for (const d of defs[key] ?? []) (d as { vhost: string }).vhost = vhost;
        defs.vhosts = [];
        defs.users = defs.permissions = defs.topic_permissions = defs.global_parameters = [];
      }
      checkEntries(defs);
    } catch (err: any) {
      throw badRequest(err.message);
    }
    try {
      await api.host.load(defs);
    } catch (err: any) {
      throw badRequest(err.message);
    }
    return noContent();
  };
  for (const path of ['/api/definitions', '/api/all-configuration']) route('POST', path, (req) => importInto(req, undefined), 'administrator');
  route('POST', '/api/definitions/:vhost', (req) => importInto(req, api.service(req.params.vhost).name), 'administrator');
}
