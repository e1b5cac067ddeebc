/**
 * The management HTTP API (RabbitMQ 3.10's paths and JSON), served from the
 * acceptor thread, which owns the state it shows. find-my-way matches the
 * paths (percent-encoded vhosts and names, %2F for "/"); each resource group
 * registers its routes from its own file. Every /api request needs HTTP basic
 * auth, checked like an AMQP login; /metrics needs none (as rabbitmq_prometheus),
 * nor /api/auth (as RabbitMQ's),
 * nor do the dashboard's page and assets at / (as RabbitMQ's UI), whose script
 * calls /api with the credentials its login form takes.
 */
import http from 'node:http';
import Router from 'find-my-way';
import { Api, type Handler, type Route } from './api.js';
import { HttpError, Reply, httpError, notFound, type ApiRequest } from './http.js';
import type { Listener, ManagementHost } from './host.js';
import { overviewRoutes } from './overview.js';
import { queueRoutes } from './queues.js';
import { exchangeRoutes } from './exchanges.js';
import { bindingRoutes } from './bindings.js';
import { connectionRoutes } from './connections.js';
import { definitionRoutes } from './definitions.js';
import { messageRoutes } from './messages.js';
import { warrenRoutes } from './warren.js';
import { loadMetrics, type Metrics } from './metrics.js';
import { Dashboard } from './dashboard.js';
import { log } from '../log/logger.js';
import { userRoutes } from './users.js';
import { policyRoutes } from './policies.js';
import { parameterRoutes } from './parameters.js';
import { featureFlagRoutes } from './feature-flags.js';
import { authorise, type Level } from './tags.js';
import { HttpListener } from './http-listener.js';
import { checkJsonDepth } from '../definitions/json-depth.js';

/** Names are up to 255 bytes, 765 characters percent-encoded. */
const MAX_PARAM_LENGTH = 1024;
const UNAUTHORISED = new HttpError(401, 'not_authorised', 'Login failed', { 'WWW-Authenticate': 'Basic realm="RabbitMQ Management"' });

export class ManagementServer {
  private readonly router = Router({ ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH });
  private readonly api: Api;
  private metrics: Promise<Metrics> | null = null;
  private readonly dashboard = new Dashboard();
  private readonly httpListener: HttpListener;
  /** the largest body read: a base64 publish of the largest message, plus room */
  private readonly maxBody: number;

  private constructor(host: ManagementHost, listener: Listener) {
    this.api = new Api(host, listener);
    this.maxBody = Math.ceil((host.options.maxMessageSize * 4) / 3) + 1024 * 1024;
    const route: Route = (method, path, handler, level = 'management') => this.router.on(method, path, handler as never, { level });
    for (const routes of [overviewRoutes, queueRoutes, exchangeRoutes, bindingRoutes, connectionRoutes, definitionRoutes, messageRoutes, userRoutes, policyRoutes, parameterRoutes, featureFlagRoutes, warrenRoutes]) {
      routes(this.api, route);
    }
    this.httpListener = new HttpListener(http.createServer((req, res) => void this.serve(req, res)));
  }

  /** Listens on `port` (0: any free one) at `bindHost`. */
  static async start(host: ManagementHost, listener: Listener, port: number, bindHost: string): Promise<ManagementServer> {
    const server = new ManagementServer(host, listener);
    const address = await server.httpListener.listen(port, bindHost);
    server.api.managementPort = address.port;
    server.api.managementHost = address.address;
    return server;
  }

  get port(): number {
    return this.api.managementPort;
  }

  /** Stops listening and drops open HTTP connections. */
  close(): Promise<void> {
    return this.httpListener.close();
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const reply = await this.handle(req);
      send(res, reply.status, reply.body, reply.headers);
    } catch (err) {
      const e = httpError(err);
      if (e.status === 500) log.error('management API request failed', err);
      send(res, e.status, { [e.errorKey]: e.error, reason: e.reason, ...e.extra }, e.headers);
    }
  }

  private async handle(req: http.IncomingMessage): Promise<Reply> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    const page = method === 'GET' ? this.dashboard.serve(path) : null;
    if (page !== null) return page;
    // The UI asks before its login whether to offer OAuth (RabbitMQ 3.10's UAA settings); warren has none.
    if (path === '/api/auth' && method === 'GET') return new Reply(200, { enable_uaa: false, uaa_client_id: '', uaa_location: '' });
    if ((path === '/metrics' || path === '/metrics/per-object') && method === 'GET') {
      const metrics = await (this.metrics ??= loadMetrics(this.api));
      return new Reply(200, await metrics.scrape(path === '/metrics/per-object'), { 'Content-Type': metrics.contentType });
    }
    const found = this.router.find(method as Router.HTTPMethod, path);
    if (found === null) {
      if (path.startsWith('/api/') && ['GET', 'PUT', 'POST', 'DELETE'].some((m) => m !== method && this.router.find(m as Router.HTTPMethod, path) !== null)) {
        throw new HttpError(405, 'Method Not Allowed', `${method} is not allowed here`);
      }
      throw notFound();
    }
    const { level } = found.store as { level: Level };
    let user: string | undefined;
    let grant: ReturnType<typeof authorise> | undefined;
    try {
      user = this.authenticate(req);
      grant = authorise(this.api.host.access, user, method, level, found.params.vhost);
    } finally {
      // As RabbitMQ's: a request refused for its user's tags is a failed attempt too.
      this.api.host.authAttempts.record('http', grant !== undefined);
    }
    const text = await readBody(req, this.maxBody);
    let body: unknown;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        throw new HttpError(400, 'bad_request', 'not_json');
      }
      try {
        checkJsonDepth(body);
      } catch (err: any) {
        throw new HttpError(400, 'bad_request', err.message);
      }
    }
    const request: ApiRequest = { method, params: found.params, query, headers: req.headers, user, tags: grant.tags, sees: grant.sees, body };
    const result = await (found.handler as unknown as Handler)(request);
    return result instanceof Reply ? result : new Reply(200, result);
  }

  /** The user of a valid Authorization: Basic header; 401 otherwise. */
  private authenticate(req: http.IncomingMessage): string {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Basic\s+(\S+)\s*$/i.exec(header);
    if (match === null) throw UNAUTHORISED;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw UNAUTHORISED;
    const user = decoded.slice(0, colon);
    if (this.api.host.authenticate(user, decoded.slice(colon + 1), req.socket.remoteAddress) === null) throw UNAUTHORISED;
    return user;
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const type = typeof body === 'string' ? {} : { 'Content-Type': 'application/json' };
  res.writeHead(status, { ...type, ...headers, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, 'bad_request', `request body over ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
