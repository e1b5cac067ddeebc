// Builds another git revision of this repository in a temporary worktree, for
// the regression gate. node_modules is shared by symlink: the gate compares
// code, not dependency installs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { warrenEntry } from './brokers.js';

export interface BuiltRevision {
  dir: string;
  commit: string;
  remove(): void;
}

export function buildRevision(repoRoot: string, ref: string, log: (s: string) => void): BuiltRevision {
  const git = (args: string[], cwd = repoRoot) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const commit = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'warren-bench-ref-')), 'tree');
  git(['worktree', 'add', '--detach', dir, commit]);
  const remove = () => {
    try { git(['worktree', 'remove', '--force', dir]); } catch { /* fall through to rm */ }
    rmSync(path.dirname(dir), { recursive: true, force: true });
  };
  try {
    if (!existsSync(path.join(dir, 'node_modules'))) symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    log(`building ${ref} (${commit.slice(0, 12)}) in ${dir}…`);
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      // tsc still emits on type errors; only a missing broker entry point is fatal.
      if (!existsSync(warrenEntry(dir))) throw new Error(`building ${ref} failed: ${String((e as { stdout?: Buffer }).stdout ?? e).slice(0, 2000)}`);
    }
    if (!existsSync(warrenEntry(dir))) throw new Error(`${ref} has no warren CLI (dist/src/cli/main.js) after building`);
    return { dir, commit, remove };
  } catch (e) {
    remove();
    throw e;
  }
}
