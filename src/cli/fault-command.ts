/**
 * `warren ctl fault KIND [options]`: the test-rig faults (src/rig/faults.ts)
 * through their /api/warren/faults/* routes. This turns a fault's name and
 * flags into its request and its reply into a line; ctl-command.ts sends it.
 */

export const FAULT_USAGE = `  fault close-connections [--user U] [-p VHOST] [--name N] [--code C] [--text T]
  fault block-publishers | unblock-publishers [--user U] [-p VHOST] [--name N]
  fault refuse-connections [--for MS] [--mode reset|not-allowed]   fault accept-connections
  fault stall [--for MS] | unstall [--user U] [-p VHOST] [--name N]
  fault delay-deliveries --ms MS [--for MS] | undelay-deliveries [--user U] [-p VHOST] [--name N]
  fault cancel-consumers --queue Q [-p VHOST]   fault restart [--down-ms MS]
    (--name: the client's connection_name; no filter: every connection)`;

/** The flags a fault may take, as parseArgs gives them. */
export interface FaultFlags {
  user?: string;
  /** -p / --vhost, only when given */
  vhost?: string;
  name?: string;
  code?: string;
  text?: string;
  for?: string;
  ms?: string;
  mode?: string;
  queue?: string;
  'down-ms'?: string;
}

export interface FaultRequest {
  path: string;
  body: Record<string, unknown>;
  /** the line printed before the request */
  line: string;
  /** what a 404 means */
  missing: string;
  /** the line printed after it, from the reply (undefined: none) */
  done(reply: unknown): string | undefined;
}

/** A fault's name or flags are wrong: a usage error. */
export class FaultUsageError extends Error {}

type Flag = keyof FaultFlags;

interface Kind {
  route: string;
  /** flags besides the connection filter (user, vhost, name) when `filter` */
  filter: boolean;
  flags: Flag[];
  required?: Flag[];
  /** the reply's count field, e.g. 'closed' */
  count?: string;
  line: (flags: FaultFlags) => string;
}

const FILTER: Flag[] = ['user', 'vhost', 'name'];

const KINDS: Record<string, Kind> = {
  'close-connections': { route: 'close-connections', filter: true, flags: ['code', 'text'], count: 'closed', line: (f) => `Closing ${whom(f)} ...` },
  'block-publishers': { route: 'block-publishers', filter: true, flags: [], count: 'blocked', line: (f) => `Blocking ${whom(f)} ...` },
  'unblock-publishers': { route: 'unblock-publishers', filter: true, flags: [], count: 'unblocked', line: (f) => `Unblocking ${whom(f)} ...` },
  'refuse-connections': {
    route: 'refuse-connections',
    filter: false,
    flags: ['for', 'mode'],
    line: (f) => `Refusing new connections${f.for === undefined ? '' : ` for ${f.for} ms`} ...`,
  },
  'accept-connections': { route: 'accept-connections', filter: false, flags: [], line: () => 'Accepting new connections ...' },
  stall: { route: 'stall-connections', filter: true, flags: ['for'], count: 'stalled', line: (f) => `Stalling ${whom(f)} ...` },
  unstall: { route: 'unstall-connections', filter: true, flags: [], count: 'unstalled', line: (f) => `Unstalling ${whom(f)} ...` },
  'delay-deliveries': {
    route: 'delay-deliveries',
    filter: true,
    flags: ['ms', 'for'],
    required: ['ms'],
    count: 'delayed',
    line: (f) => `Delaying the output of ${whom(f)} by ${f.ms} ms ...`,
  },
  'undelay-deliveries': { route: 'undelay-deliveries', filter: true, flags: [], count: 'undelayed', line: (f) => `Undelaying ${whom(f)} ...` },
  'cancel-consumers': {
    route: 'cancel-consumers',
    filter: false,
    flags: ['queue', 'vhost'],
    required: ['queue'],
    count: 'cancelled',
    line: (f) => `Cancelling the consumers of queue '${f.queue}' in vhost '${f.vhost ?? '/'}' ...`,
  },
  restart: { route: 'restart', filter: false, flags: ['down-ms'], line: (f) => `Restarting (down for ${f['down-ms'] ?? 0} ms) ...` },
};

/** Flags that are numbers (ms, a reply code), and their JSON field names. */
const NUMERIC: Partial<Record<Flag, string>> = { code: 'code', for: 'for_ms', ms: 'ms', 'down-ms': 'down_ms' };
const FIELD: Partial<Record<Flag, string>> = { user: 'user', vhost: 'vhost', name: 'name', text: 'text', mode: 'mode', queue: 'queue' };

export function faultRequest(kind: string | undefined, args: string[], flags: FaultFlags): FaultRequest {
  if (kind === undefined) throw new FaultUsageError(`fault takes a kind: ${Object.keys(KINDS).join(', ')}`);
  const spec = KINDS[kind];
  if (spec === undefined) throw new FaultUsageError(`unknown fault '${kind}' (one of ${Object.keys(KINDS).join(', ')})`);
  if (args.length > 0) throw new FaultUsageError(`fault ${kind} takes no arguments, only flags`);
  const allowed = new Set<Flag>([...(spec.filter ? FILTER : []), ...spec.flags]);
  const body: Record<string, unknown> = {};
  for (const [flag, value] of Object.entries(flags) as [Flag, string | undefined][]) {
    if (value === undefined) continue;
    if (!allowed.has(flag)) throw new FaultUsageError(`fault ${kind} does not take ${flag === 'vhost' ? '-p/--vhost' : `--${flag}`}`);
    const numeric = NUMERIC[flag];
    if (numeric !== undefined) body[numeric] = number(flag, value);
    else body[FIELD[flag]!] = value;
  }
  for (const flag of spec.required ?? []) if (flags[flag] === undefined) throw new FaultUsageError(`fault ${kind} needs --${flag}`);
  return {
    path: `/api/warren/faults/${spec.route}`,
    body,
    line: spec.line(flags),
    missing: `queue '${flags.queue}' in vhost '${flags.vhost ?? '/'}' not found`,
    done(reply) {
      if (spec.count === undefined) return undefined;
      const n = (reply as Record<string, unknown> | undefined)?.[spec.count];
      return `${String(n)} ${spec.route === 'cancel-consumers' ? 'consumer' : 'connection'}${n === 1 ? '' : 's'} ${spec.count}`;
    },
  };
}

function number(flag: Flag, value: string): number {
  if (!/^\d+$/.test(value)) throw new FaultUsageError(`--${flag} must be a whole number, got '${value}'`);
  return Number(value);
}

function whom(f: FaultFlags): string {
  const parts = [f.user === undefined ? '' : `user '${f.user}'`, f.vhost === undefined ? '' : `vhost '${f.vhost}'`, f.name === undefined ? '' : `name '${f.name}'`].filter((p) => p !== '');
  return parts.length === 0 ? 'every connection' : `the connections of ${parts.join(', ')}`;
}
