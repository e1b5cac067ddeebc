// What tools/chaos.mjs and tools/stream-chaos.mjs share (tools/stalled-stream-readers.mjs its broker):
// seeded choices, a client whose own errors end the run, and a warren of their own (dist/, a data dir
// of its own), killed and restarted at will.
import amqp from 'amqplib';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Choices that a seed fixes (the interleaving it does not). */
export function seeded(seed0) {
  let seed = Number(seed0) >>> 0;
  const rnd = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32; };
  return { rnd, pick: (a) => a[Math.floor(rnd() * a.length)] };
}

/**
 * An error the client did not expect ends the run (exit 2). amqplib throws IllegalOperationError
 * from an ack or publish on a channel a kill just closed: the client's view of a dead connection.
 */
export function exitOnClientErrors() {
  const clientSide = (err) => {
    if (err?.name === 'IllegalOperationError') return;
    console.error(err);
    process.exit(2);
  };
  process.on('uncaughtException', clientSide);
  process.on('unhandledRejection', clientSide);
}

export class ChaosBroker {
  /** all it printed */
  output = '';
  /** it exited when not killed */
  died = false;
  killing = false;
  child = null;

  constructor(workers, logFile, dirPrefix) {
    this.workers = workers;
    this.logFile = logFile;
    this.port = 20000 + Math.floor(Math.random() * 20000);
    this.dir = mkdtempSync(path.join(os.tmpdir(), dirPrefix));
    this.url = `amqp://guest:guest@127.0.0.1:${this.port}`;
    writeFileSync(logFile, '');
    // A run stopped from outside (timeout, Ctrl-C) takes its broker with it.
    for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => { this.child?.kill('SIGKILL'); process.exit(3); });
  }

  /** Starts it on its data dir; resolves once it takes a connection. */
  async start() {
    const main = new URL('../dist/src/cli/main.js', import.meta.url).pathname;
    const child = (this.child = spawn(process.execPath, [main, '--port', String(this.port), '--management-port', '0', '--data-dir', this.dir, '--workers', this.workers], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const keep = (d) => { this.output += d; appendFileSync(this.logFile, d); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('exit', (code, sig) => { if (this.killing) return; this.died = true; if (code !== 0) console.log('BROKER EXIT', code, sig); });
    for (;;) {
      try { await (await amqp.connect(this.url)).close(); return; } catch { await sleep(20); }
    }
  }

  /** A client connection whose 'error' events (a kill, a 406) are the actor's business, not a crash. */
  async connect() {
    const conn = await amqp.connect(this.url);
    conn.on('error', () => {});
    return conn;
  }

  /** A connection (as connect()) and a confirm channel on it whose errors are the actor's business too. */
  async confirmChannel() {
    const conn = await this.connect();
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    return [conn, ch];
  }

  /** SIGKILL; resolves once it exited. `killing` stays set until restart(). */
  async kill() {
    this.killing = true;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }

  async restart() {
    await this.start();
    this.killing = false;
  }

  stop() {
    this.child.kill('SIGTERM');
  }
}
