/** A broker in a process of its own (test/fixtures/memory-broker.mjs), whose memory a test can ask for. */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { within } from '../helpers.js';

export interface Memory {
  heapUsed: number;
  rss: number;
  peakRss: number;
  /** the main thread's ArrayBuffers (after a full GC when the process runs with --expose-gc) */
  arrayBuffers: number;
}

export interface MemoryBroker {
  port: number;
  memory(): Promise<Memory>;
  /** Ends the process (killed if it has not exited 10 s later). */
  stop(): Promise<void>;
}

/** Starts the fixture with these node flags, on `dataDir` with `workers`, optionally with rings of `ringBytes`. */
export async function startMemoryBroker(nodeFlags: string[], dataDir: string, workers: number, ringBytes?: number): Promise<MemoryBroker> {
  const fixture = new URL('../fixtures/memory-broker.mjs', import.meta.url).pathname;
  const args = [...nodeFlags, fixture, dataDir, String(workers), ...(ringBytes === undefined ? [] : [String(ringBytes)])];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = readline.createInterface({ input: child.stdout! });
  const nextLine = () => within(new Promise<string>((resolve) => lines.once('line', resolve)), 10_000, 'a line from the broker process');
  const stop = async (): Promise<void> => {
    child.stdin!.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  try {
    const port = Number(/^port (\d+)$/.exec(await nextLine())![1]);
    const memory = async (): Promise<Memory> => {
      const line = nextLine();
      child.stdin!.write('mem\n');
      return JSON.parse(await line) as Memory;
    };
    return { port, memory, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
