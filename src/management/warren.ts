/**
 * warren's own test-rig endpoints, for administrators only: POST
 * /api/warren/reset, /api/warren/stop-app and start-app (rabbitmqctl's
 * stop_app, start_app), /api/warren/shutdown (rabbitmqctl shutdown, stop),
 * PUT /api/warren/memory-high-watermark and
 * disk-free-limit (rabbitmqctl's set_vm_memory_high_watermark,
 * set_disk_free_limit) and /api/warren/faults/* (see src/rig/faults.ts). Bodies
 * are JSON objects with snake_case fields: a filter (`user`, `vhost`, `name`
 * = the client's connection_name) and the fault's options.
 */
import type { ConnectionFilter } from '../rig/faults.js';
import type { Api, Route } from './api.js';
import { memoryThreshold } from '../acceptor/resource-alarm.js';
import { diskThreshold } from '../acceptor/disk-free.js';
import { HttpError, badRequest, noContent, objectBody, boolField, type ApiRequest } from './http.js';

export function warrenRoutes(api: Api, route: Route): void {
  const host = api.host;
  // Every route here is for administrators (tags.ts refuses others before the handler).
  const admin: Route = (method, path, handler) => route(method, path, handler, 'administrator');

  admin('POST', '/api/warren/reset', async (req) => {
    const body = objectBody(req);
    const vhost = optionalString(body, 'vhost');
    // Stopped (stop-app), rabbitmqctl's reset: the whole node as new.
    if (host.appStopped) {
      if (vhost !== undefined) throw badRequest('a stopped broker is reset whole: no vhost');
      await host.resetNode();
      return noContent();
    }
    if (vhost !== undefined && !host.vhosts.has(vhost)) throw new HttpError(404, 'not_found', `no vhost '${vhost}'`);
    await host.reset({ vhost, keepConnections: boolField(body, 'keep_connections', false) });
    return noContent();
  });
  admin('POST', '/api/warren/stop-app', async (req) => {
    objectBody(req);
    await host.stopApp();
    return noContent();
  });
  admin('POST', '/api/warren/start-app', (req) => {
    objectBody(req);
    host.startApp();
    return noContent();
  });
  admin('POST', '/api/warren/shutdown', (req) => {
    objectBody(req);
    host.requestShutdown();
    return noContent();
  });
  // rabbitmqctl set_vm_memory_high_watermark and set_disk_free_limit, which RabbitMQ's HTTP API lacks
  const threshold = (set: (body: Record<string, unknown>) => void) => (req: ApiRequest) => {
    try {
      set(objectBody(req));
    } catch (err: any) {
      throw badRequest(err.message);
    }
    return noContent();
  };
  admin('PUT', '/api/warren/memory-high-watermark', threshold((body) => host.alarms.setMemoryLimit(memoryThreshold(body))));
  admin('PUT', '/api/warren/disk-free-limit', threshold((body) => host.alarms.setDiskFreeLimit(diskThreshold(body))));

  const faults = host.faults;
  admin('POST', '/api/warren/faults/close-connections', (req) => {
    const body = objectBody(req);
    const code = optionalNumber(body, 'code');
    if (code !== undefined && (!Number.isInteger(code) || code < 200 || code > 599)) throw badRequest(`code must be an AMQP reply code, got ${code}`);
    return { closed: faults.closeConnections(filterOf(body), { code, text: optionalString(body, 'text') }) };
  });
  admin('POST', '/api/warren/faults/block-publishers', (req) => ({ blocked: faults.blockPublishers(filterOf(objectBody(req))) }));
  admin('POST', '/api/warren/faults/unblock-publishers', (req) => ({ unblocked: faults.unblockPublishers(filterOf(objectBody(req))) }));
  admin('POST', '/api/warren/faults/refuse-connections', (req) => {
    const body = objectBody(req);
    const mode = optionalString(body, 'mode') ?? 'reset';
    if (mode !== 'reset' && mode !== 'not-allowed') throw badRequest(`mode must be 'reset' or 'not-allowed', got '${mode}'`);
    faults.refuseConnections({ mode, forMs: optionalNumber(body, 'for_ms') });
    return noContent();
  });
  admin('POST', '/api/warren/faults/accept-connections', (req) => {
    objectBody(req);
    faults.acceptConnections();
    return noContent();
  });
  admin('POST', '/api/warren/faults/stall-connections', (req) => {
    const body = objectBody(req);
    return { stalled: faults.stallConnections(filterOf(body), { forMs: optionalNumber(body, 'for_ms') }) };
  });
  admin('POST', '/api/warren/faults/delay-deliveries', (req) => {
    const body = objectBody(req);
    const ms = optionalNumber(body, 'ms');
    if (ms === undefined) throw badRequest('ms is required');
    return { delayed: faults.delayDeliveries(filterOf(body), { ms, forMs: optionalNumber(body, 'for_ms') }) };
  });
  admin('POST', '/api/warren/faults/undelay-deliveries', (req) => ({ undelayed: faults.undelayDeliveries(filterOf(objectBody(req))) }));
  admin('POST', '/api/warren/faults/cancel-consumers', (req) => {
    const body = objectBody(req);
    const vhost = optionalString(body, 'vhost') ?? '/';
    const queue = optionalString(body, 'queue');
    if (queue === undefined) throw badRequest('queue is required');
    if (host.vhosts.get(vhost)?.topology.queues.get(queue) === undefined) throw new HttpError(404, 'not_found', `no queue '${queue}' in vhost '${vhost}'`);
    return { cancelled: faults.cancelConsumers(vhost, queue) };
  });
  admin('POST', '/api/warren/faults/restart', async (req) => {
    await faults.restart({ downMs: optionalNumber(objectBody(req), 'down_ms') });
    return noContent();
  });
  admin('POST', '/api/warren/faults/unstall-connections', (req) => ({ unstalled: faults.unstallConnections(filterOf(objectBody(req))) }));
}

function filterOf(body: Record<string, unknown>): ConnectionFilter {
  return { user: optionalString(body, 'user'), vhost: optionalString(body, 'vhost'), name: optionalString(body, 'name') };
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`${key} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function optionalNumber(body: Record<string, unknown>, key: string): number | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw badRequest(`${key} must be a non-negative number, got ${JSON.stringify(value)}`);
  return value;
}
