/**
 * rabbitmqctl's policy commands for `warren ctl`: set_policy, clear_policy,
 * set_operator_policy, clear_operator_policy (their list_ commands are
 * listings in ctl-command.ts), with rabbitmqctl's arguments and lines, through
 * /api/policies and /api/operator-policies.
 */
import { jsonArgument, usage, type ApiClient } from './api-client.js';

export const POLICY_USAGE = `  set_policy NAME PATTERN DEFINITION [--priority N] [--apply-to queues|exchanges|all]   clear_policy NAME   list_policies
  set_operator_policy NAME PATTERN DEFINITION [--priority N] [--apply-to ...]   clear_operator_policy NAME   list_operator_policies`;

/** Each command's API path, and what rabbitmqctl's lines call what it sets. */
const KINDS = {
  policy: { path: '/api/policies', setting: 'policy', clearing: 'policy' },
  operator_policy: { path: '/api/operator-policies', setting: 'operator policy override', clearing: 'operator policy' },
};

export interface PolicyFlags {
  vhost: string;
  priority: string | undefined;
  applyTo: string | undefined;
}

/** Runs `command` if it is one of these; false when it is not. */
export async function policyCommand(api: ApiClient, command: string, args: string[], o: PolicyFlags, info: (line: string) => void): Promise<boolean> {
  const [verb, ...rest] = command.split('_');
  const kind = KINDS[rest.join('_') as keyof typeof KINDS];
  if (kind === undefined || (verb !== 'set' && verb !== 'clear')) return false;
  const path = (name: string) => `${kind.path}/${encodeURIComponent(o.vhost)}/${encodeURIComponent(name)}`;
  if (verb === 'set') {
    if (args.length !== 3) throw usage(`${command} takes a name, a pattern and a definition (JSON)`);
    const [name, pattern, text] = args;
    const definition = jsonArgument(text, 'the definition');
    const priority = o.priority === undefined ? 0 : Number(o.priority);
    if (!Number.isInteger(priority)) throw usage(`--priority must be an integer, got '${o.priority}'`);
    info(`Setting ${kind.setting} "${name}" for pattern "${pattern}" to "${text}" with priority "${priority}" for vhost "${o.vhost}" ...`);
    await api.request('PUT', path(name), { pattern, definition, priority, 'apply-to': o.applyTo ?? 'all' }, {}, `Virtual host '${o.vhost}' does not exist`);
  } else {
    if (args.length !== 1) throw usage(`${command} takes a policy name`);
    info(`Clearing ${kind.clearing} "${args[0]}" on vhost "${o.vhost}" ...`);
    await api.request('DELETE', path(args[0]), undefined, {}, 'Parameter does not exist');
  }
  return true;
}
