import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import * as R from '../../src/shard/records.js';

const shortstr = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);

/** A message block whose body is `message <n>` padded to at least `size` bytes. */
export function numberedBlock(n: number, size = 0): Buffer {
  const body = Buffer.from(`message ${n} `.padEnd(size, '.'));
  const block = Buffer.alloc(R.blockSize(shortstr('ex').length + shortstr('rk').length, 0, body.length));
  R.writeBlock(block, 0, shortstr('ex'), shortstr('rk'), Buffer.alloc(0), [body], body.length);
  return block;
}

/** The number in a block made by numberedBlock. */
export function numberOf(block: Buffer): number {
  const view = new R.BlockView().read(block, 0);
  const match = /^message (\d+) /.exec(block.toString('latin1', view.bodyAt, view.end));
  if (match === null) throw new Error('not a numbered block');
  return Number(match[1]);
}

export function tempDir(): string {
  return fs.mkdtempSync(join(os.tmpdir(), 'warren-store-'));
}

/** Sum of the sizes of the files in a directory. */
export function bytesOnDisk(dir: string): number {
  return fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0);
}

/** Makes a fresh queue directory per call; all of them are removed after the file's tests. */
export function scratchQueueDirs(): () => string {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  return () => {
    const d = tempDir();
    dirs.push(d);
    return join(d, 'q');
  };
}
