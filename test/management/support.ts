/** A real broker with its management API on a free port, and a fetch wrapper for the API. */
import { afterAll, beforeAll } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';

export interface ApiReply {
  status: number;
  headers: Headers;
  /** the parsed JSON body, or the text when it is not JSON, or undefined when empty */
  body: any;
}

export interface ManagedBroker {
  readonly broker: RunningBroker;
  readonly base: string;
  api(method: string, path: string, body?: unknown, options?: { auth?: string | null; headers?: Record<string, string>; raw?: string }): Promise<ApiReply>;
}

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Starts a broker with managementPort 0 for the suite (beforeAll) and closes it after. */
export function managedBroker(workers: number): ManagedBroker {
  const managed = {} as { broker: RunningBroker; base: string };
  beforeAll(async () => {
    managed.broker = await startBroker({ port: 0, host: '127.0.0.1', workers, managementPort: 0 });
    managed.base = `http://127.0.0.1:${managed.broker.managementPort}`;
  });
  afterAll(() => managed.broker?.close());
  return {
    get broker() {
      return managed.broker;
    },
    get base() {
      return managed.base;
    },
    async api(method, path, body, options = {}) {
      const auth = options.auth === undefined ? basic('guest', 'guest') : options.auth;
      const headers: Record<string, string> = { ...options.headers };
      if (auth !== null) headers.authorization = auth;
      if (body !== undefined || options.raw !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(managed.base + path, { method, headers, body: options.raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
      const text = await res.text();
      let parsed: any = text === '' ? undefined : text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
  };
}

/** A vhost or name as it goes into an API path. */
export const enc = encodeURIComponent;
