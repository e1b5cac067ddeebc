/**
 * rabbitmqctl's runtime parameter commands for `warren ctl`: set_parameter,
 * clear_parameter, list_parameters (per vhost: warren's one component is
 * vhost-limits), set_global_parameter, clear_global_parameter,
 * list_global_parameters and set_cluster_name, with rabbitmqctl's arguments
 * and lines, through /api/parameters, /api/global-parameters and
 * /api/cluster-name. Values are JSON, as rabbitmqctl takes them.
 */
import { EX_DATAERR, jsonArgument, usage, type ApiClient } from './api-client.js';
import { field, printTable, type Row, type TableFlags } from './table.js';

export const PARAMETER_USAGE = `  set_parameter COMPONENT NAME JSON   clear_parameter COMPONENT NAME   list_parameters   (-p VHOST)
  set_global_parameter NAME JSON   clear_global_parameter NAME   list_global_parameters   set_cluster_name NAME`;

export interface ParameterFlags extends TableFlags {
  vhost: string;
}

/** A value column as rabbitmqctl prints it: JSON, strings quoted. */
const jsonValue = (row: Row) => JSON.stringify(row.value);

/** Runs `command` if it is one of these; false when it is not. */
export async function parameterCommand(api: ApiClient, command: string, args: string[], o: ParameterFlags, info: (line: string) => void): Promise<boolean> {
  const arity = (n: number, what: string) => {
    if (args.length !== n) throw usage(`${command} takes ${what}`);
  };
  const vhostPath = `/api/parameters/${encodeURIComponent(args[0] ?? '')}/${encodeURIComponent(o.vhost)}`;
  const parameter = (name: string) => `${vhostPath}/${encodeURIComponent(name)}`;
  const global = (name: string) => `/api/global-parameters/${encodeURIComponent(name)}`;
  switch (command) {
    case 'set_parameter': {
      arity(3, 'a component, a name and a value (JSON)');
      const [component, name, text] = args;
      const value = jsonArgument(text, 'the value');
      info(`Setting runtime parameter "${name}" for component "${component}" to "${text}" in vhost "${o.vhost}" ...`);
      await api.request('PUT', parameter(name), { value }, {}, `Virtual host '${o.vhost}' does not exist`);
      return true;
    }
    case 'clear_parameter': {
      arity(2, 'a component and a name');
      const [component, name] = args;
      info(`Clearing runtime parameter "${name}" for component "${component}" on vhost "${o.vhost}" ...`);
      await api.request('DELETE', parameter(name), undefined, {}, 'Parameter does not exist');
      return true;
    }
    case 'list_parameters': {
      arity(0, 'no arguments (the vhost is -p VHOST)');
      info(`Listing runtime parameters for vhost "${o.vhost}" ...`);
      // every component's: /api/parameters lists them all, with their vhosts
      const rows = ((await api.request('GET', '/api/parameters')) as Row[]).filter((p) => p.vhost === o.vhost);
      // as rabbitmqctl: a vhost that is not there is refused (65); only a list without rows asks
      if (rows.length === 0) await api.request('GET', `/api/vhosts/${encodeURIComponent(o.vhost)}`, undefined, {}, `Virtual host '${o.vhost}' does not exist`, EX_DATAERR);
      printTable(rows, ['component', 'name', 'value'], { component: field('component'), name: field('name'), value: jsonValue }, o, true);
      return true;
    }
    case 'set_global_parameter': {
      arity(2, 'a name and a value (JSON)');
      const [name, text] = args;
      const value = jsonArgument(text, 'the value');
      info(`Setting global runtime parameter "${name}" to "${text}" ...`);
      await api.request('PUT', global(name), { value });
      return true;
    }
    case 'clear_global_parameter': {
      arity(1, 'a name');
      info(`Clearing global runtime parameter "${args[0]}" ...`);
      await api.request('DELETE', global(args[0]), undefined, {}, 'Parameter does not exist');
      return true;
    }
    case 'list_global_parameters': {
      arity(0, 'no arguments');
      info('Listing global runtime parameters ...');
      const rows = (await api.request('GET', '/api/global-parameters')) as Row[];
      printTable(rows, ['name', 'value'], { name: field('name'), value: jsonValue }, o);
      return true;
    }
    case 'set_cluster_name': {
      arity(1, 'a name');
      info(`Setting cluster name to ${args[0]} ...`);
      await api.request('PUT', '/api/cluster-name', { name: args[0] });
      return true;
    }
    default:
      return false;
  }
}
