/**
 * Helpers for the cross-client suites: find the client programs, run a
 * scenario as a child process with a hard time limit, hand back its output.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'vitest';

export const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Every child process is killed after this long. */
export const CHILD_TIMEOUT_MS = 20_000;

/** true when `cmd args...` runs and exits 0 (used to probe for clients). */
export function works(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

/**
 * A python that can import `modules` (default pika). Debian's packages install
 * them for the system interpreter, which a pyenv or venv python3 on PATH may not see.
 */
export function findPython(modules = 'pika'): string | undefined {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  return candidates.find((py) => works(py, ['-c', `import ${modules}`]));
}

/** ruby, if it can `require` the given gem. */
export function rubyWith(gem: string): string | undefined {
  return works('ruby', ['-e', `require ${JSON.stringify(gem)}`]) ? 'ruby' : undefined;
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a child to completion (killed after CHILD_TIMEOUT_MS); never rejects on exit status. */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs ?? CHILD_TIMEOUT_MS} ms]`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? CHILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs a child and returns its stdout lines; fails (with its stderr) unless it exits 0. */
export async function runOk(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string[]> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** A child a test talks to line by line: it prints, the test acts on the broker and answers. */
export interface Conversation {
  /** the child's next stdout line (undefined once it closed it) */
  next(): Promise<string | undefined>;
  send(line: string): void;
  /** what it wrote to stderr so far, for failure messages */
  stderr(): string;
  /** its exit code, once it exits */
  exited: Promise<number | null>;
  /** kills it (always call, in a finally) */
  end(): void;
}

/**
 * Starts `cmd args...` for a conversation, in a process group of its own: it is
 * killed after `timeoutMs`, with whatever it started (a Celery worker, say),
 * which would otherwise go on consuming after the test.
 */
export function converse(cmd: string, args: string[], timeoutMs = CHILD_TIMEOUT_MS): Conversation {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const killer = setTimeout(kill, timeoutMs);
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    next: async () => (await lines.next()).value as string | undefined,
    send: (line) => child.stdin.write(`${line}\n`),
    stderr: () => stderr,
    exited,
    end: () => {
      clearTimeout(killer);
      kill();
    },
  };
}

/** Names unique to one test, so scenarios never share queues or exchanges. */
let seq = 0;
export const uniq = (what: string) => `${what}-${process.pid}-${++seq}`;

/**
 * A client's `recover` scenario (JavaClient.java, bunny_client.rb): 500 numbered
 * messages, the broker restarted by `restart`, 500 more; each must arrive, the
 * server-named queue declared again. Both clients printed these lines against
 * RabbitMQ 3.10.8 restarted by rabbitmqctl stop_app and start_app.
 */
export async function recoversAcrossRestart(child: Conversation, restart: () => Promise<void>, next = child.next): Promise<void> {
  try {
    expect([await next(), await next()], child.stderr()).toEqual(['before the restart 500 500', 'ready']);
    await restart();
    child.send('go');
    expect([await next(), await next(), await next()], child.stderr()).toEqual([
      'queue missing 0, copies missing 0',
      'server-named queue declared again under a new name true',
      'done',
    ]);
    expect(await child.exited).toBe(0);
  } finally {
    child.end();
  }
}
