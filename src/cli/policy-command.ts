/**
 * rabbitmqctl's policy commands for `warren ctl`: set_policy, clear_policy
 * (list_policies is a listing in ctl-command.ts), with rabbitmqctl's
 * arguments and lines, through /api/policies.
 */
import { Failure, usage, type ApiClient } from './api-client.js';

export const POLICY_USAGE = `  set_policy NAME PATTERN DEFINITION [--priority N] [--apply-to queues|exchanges|all]   clear_policy NAME   list_policies`;

export interface PolicyFlags {
  vhost: string;
  priority: string | undefined;
  applyTo: string | undefined;
}

/** Runs `command` if it is one of these; false when it is not. */
export async function policyCommand(api: ApiClient, command: string, args: string[], o: PolicyFlags, info: (line: string) => void): Promise<boolean> {
  const path = (name: string) => `/api/policies/${encodeURIComponent(o.vhost)}/${encodeURIComponent(name)}`;
  switch (command) {
    case 'set_policy': {
      if (args.length !== 3) throw usage('set_policy takes a name, a pattern and a definition (JSON)');
      const [name, pattern, text] = args;
      let definition: unknown;
      try {
        definition = JSON.parse(text);
      } catch {
        throw new Failure(1, `could not parse the definition as JSON: ${text}`);
      }
      const priority = o.priority === undefined ? 0 : Number(o.priority);
      if (!Number.isInteger(priority)) throw usage(`--priority must be an integer, got '${o.priority}'`);
      info(`Setting policy "${name}" for pattern "${pattern}" to "${text}" with priority "${priority}" for vhost "${o.vhost}" ...`);
      await api.put(path(name), { pattern, definition, priority, 'apply-to': o.applyTo ?? 'all' });
      return true;
    }
    case 'clear_policy':
      if (args.length !== 1) throw usage('clear_policy takes a policy name');
      info(`Clearing policy "${args[0]}" on vhost "${o.vhost}" ...`);
      await api.request('DELETE', path(args[0]), undefined, {}, `policy '${args[0]}' in vhost '${o.vhost}'`);
      return true;
    default:
      return false;
  }
}
