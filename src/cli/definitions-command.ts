/**
 * `warren definitions export|import FILE [--data-dir DIR]`: a data dir's
 * definitions.json to and from RabbitMQ's definitions JSON, offline (there is
 * no management API). Same conventions as the broker runner: one line on
 * stderr, exit 2 for a usage error, 1 when it cannot be done.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Broker } from '../broker.js';
import { DataDirInUse, DataDirLock } from '../definitions/data-dir-lock.js';
import { loadDefinitions, readDefinitions, writeAtomically } from '../definitions/definitions-file.js';
import { AccessControl } from '../auth/access-control.js';
import { exportDefinitions, mergeDefinitions, type Definitions } from '../definitions/rabbit-format.js';
import { log } from '../log/logger.js';

export const DEFINITIONS_USAGE = `Usage: warren definitions export FILE [--data-dir DIR]   the data dir's definitions as RabbitMQ JSON (- = stdout)
       warren definitions import FILE [--data-dir DIR]   merge a RabbitMQ definitions file into a stopped broker's data dir`;

class Failure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Runs the subcommand; resolves with the exit code (an error's line is already on stderr). */
export async function runDefinitionsCommand(args: string[]): Promise<number> {
  try {
    const { action, file, dir } = parse(args);
    if (action === 'export') await exportTo(file, dir);
    else await importFrom(file, dir);
    return 0;
  } catch (err: any) {
    log.error(`${err?.message ?? err}`);
    return err instanceof Failure ? err.code : 1;
  }
}

function parse(args: string[]): { action: 'export' | 'import'; file: string; dir: string } {
  let parsed;
  try {
    parsed = parseArgs({ args, strict: true, allowPositionals: true, options: { 'data-dir': { type: 'string' }, help: { type: 'boolean' } } });
  } catch (err: any) {
    const sentence = String(err?.message).split(/\.\s|\n/)[0];
    throw new Failure(2, `${sentence.charAt(0).toLowerCase()}${sentence.slice(1)} (see warren definitions --help)`);
  }
  if (parsed.values.help) {
    console.log(DEFINITIONS_USAGE);
    process.exit(0);
  }
  const [action, file, ...rest] = parsed.positionals;
  if (action !== 'export' && action !== 'import') throw new Failure(2, `definitions needs 'export FILE' or 'import FILE' (see warren definitions --help)`);
  if (file === undefined) throw new Failure(2, `definitions ${action} needs a FILE (see warren definitions --help)`);
  if (rest.length > 0) throw new Failure(2, `unexpected argument '${rest[0]}' (see warren definitions --help)`);
  return { action, file, dir: parsed.values['data-dir'] ?? (process.env.WARREN_DATA_DIR || 'warren-data') };
}

/** The stored file is replaced atomically by the broker, so it can be read while one runs. */
async function exportTo(file: string, dir: string): Promise<void> {
  if (!existsSync(dir)) throw new Failure(1, `no data directory ${dir} (use --data-dir)`);
  const defs = readDefinitions(join(dir, 'definitions.json')) ?? exportDefinitions([], new AccessControl());
  const json = `${JSON.stringify(defs, null, 2)}\n`;
  if (file === '-') process.stdout.write(json);
  else await writeAtomically(file, json);
}

async function importFrom(file: string, dir: string): Promise<void> {
  const incoming = loadDefinitions(file);
  let lock: DataDirLock;
  try {
    lock = DataDirLock.acquire(dir);
  } catch (err) {
    if (err instanceof DataDirInUse) throw new Failure(1, `stop the broker first: ${err.message}`);
    throw err;
  }
  try {
    const path = join(dir, 'definitions.json');
    const merged = mergeDefinitions(readDefinitions(path) ?? {}, incoming);
    await replayInMemory(merged, file);
    await writeAtomically(path, `${JSON.stringify(merged)}\n`);
  } finally {
    lock.release();
  }
}

/**
 * Replays the merged definitions on a broker that never listens nor touches
 * the disk, so what the next start would refuse (a binding to a queue that is
 * not there, an unknown exchange type) is refused now, and nothing is written.
 */
async function replayInMemory(defs: Definitions, file: string): Promise<void> {
  const broker = new Broker({ workers: 0, maxMessageSize: 4096 });
  try {
    await broker.load(defs);
  } catch (err: any) {
    throw new Failure(1, `${file}: ${err.message}`);
  } finally {
    await broker.close();
  }
}
