/**
 * `warren ctl`'s way to the management API: one request at a time, with the
 * user and password of --url, and its refusals turned into one line
 * (Failure) with the exit code the command ends with: rabbitmqctl's.
 */

/**
 * rabbitmqctl's exit codes (sysexits.h), which scripts written for it test:
 * a command used wrongly, a bad value or a missing vhost, a missing user, the
 * node refusing or unreachable, a user that already exists.
 */
export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_NOUSER = 67;
export const EX_UNAVAILABLE = 69;
export const EX_SOFTWARE = 70;

export class Failure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The API refused the user and password. */
export class LoginRefused extends Failure {}

/** The API took the login but refused the user for its tags ("Not administrator user"). */
export class TagRefused extends Failure {}

/** The API answered 404: what the path names is not there. */
export class NotFound extends Failure {}

/** The API refused the request otherwise (a 4xx or 5xx answer with its reason). */
export class Refused extends Failure {}

/** For a request's catch: the broker's refusal ends the command with `code` (rabbitmqctl's for that command); other failures stay as they are. */
export const refusedWith =
  (code: number) =>
  (err: unknown): never => {
    throw err instanceof Refused ? new Failure(code, err.message) : err;
  };

/** A health check answered 503, with its body. */
export class CheckFailed extends Failure {
  constructor(readonly body: unknown) {
    super(EX_UNAVAILABLE, `health check failed: ${JSON.stringify(body)}`);
  }
}

/** A usage error. */
export const usage = (message: string) => new Failure(EX_USAGE, `${message} (see warren ctl --help)`);

/** A command's JSON argument (a definition, limits, a parameter's value), parsed; `what` names it in the refusal. */
export function jsonArgument(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Failure(EX_UNAVAILABLE, `could not parse ${what} as JSON: ${text}`);
  }
}

export class ApiClient {
  private readonly base: string;
  private readonly auth: string;
  /** the user the API is called as */
  readonly user: string;

  constructor(url: string) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw usage(`--url: not a URL: '${url}'`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usage(`--url must be http:// or https://, got '${url}'`);
    const user = parsed.username === '' ? 'guest' : decodeURIComponent(parsed.username);
    const password = parsed.username === '' ? 'guest' : decodeURIComponent(parsed.password);
    this.user = user;
    this.auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    parsed.username = '';
    parsed.password = '';
    this.base = parsed.toString().replace(/\/+$/, '');
  }

  /** The same API, called as another user. */
  as(user: string, password: string): ApiClient {
    const url = new URL(this.base);
    url.username = encodeURIComponent(user);
    url.password = encodeURIComponent(password);
    return new ApiClient(url.toString());
  }

  /** Whether the API takes this client's user and password (a refusal for the user's tags comes after its login passed). */
  async loginAccepted(): Promise<boolean> {
    try {
      await this.request('GET', '/api/whoami');
      return true;
    } catch (err) {
      if (err instanceof TagRefused) return true;
      if (err instanceof LoginRefused) return false;
      throw err;
    }
  }

  /** Whether the API answers at all (any status): false once nothing listens there. */
  async answers(): Promise<boolean> {
    try {
      await fetch(`${this.base}/api/overview`, { headers: { authorization: this.auth } }).then((res) => res.arrayBuffer());
      return true;
    } catch {
      return false;
    }
  }

  /** Whether a GET of `path` finds something. */
  async exists(path: string): Promise<boolean> {
    return this.found(this.request('GET', path));
  }

  /** A DELETE; false when there was nothing to delete. */
  async deleteIfExists(path: string, headers: Record<string, string> = {}): Promise<boolean> {
    return this.found(this.request('DELETE', path, undefined, headers));
  }

  private async found(request: Promise<unknown>): Promise<boolean> {
    try {
      await request;
      return true;
    } catch (err) {
      if (err instanceof NotFound) return false;
      throw err;
    }
  }

  /** A PUT; resolves with its status (201 created, 204 updated). */
  async put(path: string, body: unknown = {}): Promise<number> {
    return (await this.send('PUT', path, body)).status;
  }

  /** A health check: ok (200), or its 503's body; other refusals throw as request() does. */
  async check(path: string): Promise<{ ok: boolean; body: unknown }> {
    try {
      return { ok: true, body: await this.request('GET', path) };
    } catch (err) {
      if (err instanceof CheckFailed) return { ok: false, body: err.body };
      throw err;
    }
  }

  /** `missing` says what a 404 means ("queue 'q' in vhost '/' not found", or rabbitmqctl's words), `missingCode` the exit code rabbitmqctl gives for it. */
  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, missing = 'not found', missingCode = EX_UNAVAILABLE): Promise<unknown> {
    return (await this.send(method, path, body, headers, missing, missingCode)).json;
  }

  private async send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    missing = 'not found',
    missingCode = EX_UNAVAILABLE,
  ): Promise<{ status: number; json: unknown }> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: { authorization: this.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err: any) {
      throw new Failure(EX_UNAVAILABLE, `cannot reach the management API at ${this.base}: ${err?.cause?.code ?? err?.cause?.message ?? err?.message}`);
    }
    const text = await res.text();
    let json: any;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    if (res.ok) return { status: res.status, json };
    // 401 is also a tag refusal ("Not administrator user"): say which.
    if (res.status === 401 && json?.reason !== undefined && json.reason !== 'Login failed') throw new TagRefused(EX_UNAVAILABLE, `${this.base}: refused: ${json.reason}`);
    if (res.status === 401) throw new LoginRefused(EX_UNAVAILABLE, `${this.base}: login refused (check the user and password in --url)`);
    if (res.status === 404) throw new NotFound(missingCode, missing);
    if (res.status === 503 && json?.status === 'failed') throw new CheckFailed(json);
    throw new Refused(EX_UNAVAILABLE, `${res.status} ${json?.error ?? res.statusText}: ${json?.reason ?? text}`);
  }
}
