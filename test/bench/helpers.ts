// Shared by the bench tests: the null server runs from dist/ as a child
// process (a real, separate broker process), so make sure dist/ exists.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../bench/brokers.js';

export function ensureBuilt(): void {
  if (existsSync(path.join(REPO_ROOT, 'dist', 'bench', 'null-server.js'))) return;
  try {
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: REPO_ROOT, stdio: 'ignore' });
  } catch {
    // tsc emits despite type errors elsewhere in the tree; only the file matters.
  }
  if (!existsSync(path.join(REPO_ROOT, 'dist', 'bench', 'null-server.js'))) throw new Error('dist/bench/null-server.js missing: run `npm run build`');
}

export const quiet = { log: () => undefined, status: null };
