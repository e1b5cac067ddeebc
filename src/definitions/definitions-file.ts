/**
 * DIR/definitions.json: read once at start, rewritten after changes. A write
 * is atomic (temp file, fsync, rename, fsync of the directory), so a crash
 * leaves the old file or the new one, never a mix. Changes are coalesced: one
 * write per event-loop turn at most, and while one write runs, later changes
 * wait for it and go out together in the next. A write that fails (a full
 * disk) is tried again every RETRY_MS until one succeeds: until then a crash
 * would forget what was declared since, and with it the messages its queues
 * confirmed once the disk had room again.
 */
import { readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { checkDefinitions, checkEntries, type Definitions } from './rabbit-format.js';
import { checkJsonDepth } from './json-depth.js';
import { log } from '../log/logger.js';

/** The parsed file, or null if there is none; throws a one-line reason if it cannot be used. */
export function readDefinitions(path: string): Definitions | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err: any) {
    if (err.code === 'ENOENT') return null;
    throw new Error(`cannot read ${path}: ${err.message}`);
  }
  try {
    const value: unknown = JSON.parse(text);
    checkJsonDepth(value);
    return checkDefinitions(value);
  } catch (err: any) {
    throw new Error(`${path} is not a definitions file: ${err.message}`);
  }
}

/**
 * A definitions file a user names (--definitions, import): it must exist, and
 * every entry must read as the start-up replay reads it. Throws one line.
 */
export function loadDefinitions(path: string): Definitions {
  const defs = readDefinitions(path);
  if (defs === null) throw new Error(`cannot read ${path}: no such file`);
  try {
    checkEntries(defs);
  } catch (err: any) {
    throw new Error(`${path}: ${err.message}`);
  }
  return defs;
}

/** Definitions given as an object (BrokerOptions.definitions): checked as a file is. */
export function checkedDefinitions(value: unknown): Definitions {
  const defs = checkDefinitions(value);
  checkEntries(defs);
  return defs;
}

/** How soon a failed write is tried again. */
export const RETRY_MS = 1000;

export class DefinitionsFile {
  private dirty = false;
  private scheduled = false;
  private writing: Promise<void> | null = null;
  private closed = false;
  /** set while the last write failed: the next try, unless a change comes first */
  private retry: NodeJS.Timeout | null = null;
  private lastWritten = '';

  constructor(
    readonly path: string,
    /** what to write: the current durable definitions */
    private readonly snapshot: () => Definitions,
  ) {
    this.run = this.run.bind(this);
  }

  /** Something stored changed: write it out soon. */
  changed(): void {
    if (this.closed) return;
    this.dirty = true;
    this.schedule();
  }

  /** Writes the current definitions now, whatever changed (a new data dir's first file). */
  async writeNow(): Promise<void> {
    while (this.writing !== null) await this.writing;
    await this.write();
  }

  /** Writes what is pending, then ignores later changes (shutdown: the state at its start is what is kept). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    while (this.writing !== null) await this.writing;
    if (this.dirty) await this.write();
  }

  private schedule(): void {
    if (this.scheduled || this.writing !== null) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  private run(): void {
    this.scheduled = false;
    if (!this.dirty || this.writing !== null) return;
    this.writing = this.write().finally(() => {
      this.writing = null;
      if (this.dirty && !this.closed && this.retry === null) this.schedule();
    });
  }

  private async write(): Promise<void> {
    this.dirty = false;
    const json = `${JSON.stringify(this.snapshot())}\n`;
    if (json === this.lastWritten) return;
    try {
      await writeAtomically(this.path, json);
      this.lastWritten = json;
      if (this.retry !== null) {
        clearTimeout(this.retry);
        this.retry = null;
        log.info(`${this.path} is written again`);
      }
    } catch (err: any) {
      // The broker goes on serving; one line for a run of failures, not one a try.
      if (this.retry === null) log.error(`cannot write ${this.path}: ${err.message}; trying again every ${RETRY_MS / 1000} s`);
      else clearTimeout(this.retry);
      this.dirty = true;
      // (after close() nothing is tried again: the data dir may be another broker's by then)
      this.retry = this.closed ? null : setTimeout(() => this.schedule(), RETRY_MS).unref();
    }
  }
}

/** Replaces `path` with `data`: a crash leaves the old file or the new one. */
export async function writeAtomically(path: string, data: string): Promise<void> {
  const temp = `${path}.tmp`;
  const file = await open(temp, 'w');
  try {
    await file.writeFile(data);
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(temp, { force: true }); // what it got of the data holds disk space for nothing
    throw err;
  }
  await file.close();
  await rename(temp, path);
  // The rename itself is durable only once the directory is (where a directory can be synced: not on Windows).
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } catch (err: any) {
    if (err.code !== 'EISDIR' && err.code !== 'EPERM' && err.code !== 'EINVAL') throw err;
  } finally {
    await dir.close();
  }
}
