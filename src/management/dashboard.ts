/**
 * The dashboard at / of the management port: one static page whose script
 * polls the JSON API with the credentials its login form keeps. The page and
 * its assets are public, as RabbitMQ's are; /api still asks for basic auth.
 * uPlot draws the charts, served from its npm package (no CDN: brokers run
 * offline). Files are read at their first request and kept, so a broker whose
 * dashboard nobody opens never reads them.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Reply } from './http.js';

/**
 * The page's own files, shipped as they are (tsc copies no .html): from
 * dist/src/management/ up to the package root, then src/management/dashboard/.
 */
const PAGE_DIR = fileURLToPath(new URL('../../../src/management/dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** uPlot's dist folder, where npm put the package. */
const uplotDir = () => path.join(path.dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

/** URL path -> the file it serves (resolved at its first request). */
const FILES = new Map<string, () => string>([
  ['/', () => path.join(PAGE_DIR, 'index.html')],
  ['/dashboard.js', () => path.join(PAGE_DIR, 'dashboard.js')],
  ['/dashboard.css', () => path.join(PAGE_DIR, 'dashboard.css')],
  ['/uplot/uPlot.iife.min.js', () => path.join(uplotDir(), 'uPlot.iife.min.js')],
  ['/uplot/uPlot.min.css', () => path.join(uplotDir(), 'uPlot.min.css')],
]);

export class Dashboard {
  private readonly loaded = new Map<string, Promise<Reply>>();

  /** The reply for GET `urlPath` when it is one of the dashboard's files, else null. */
  serve(urlPath: string): Promise<Reply> | null {
    const file = FILES.get(urlPath);
    if (file === undefined) return null;
    let reply = this.loaded.get(urlPath);
    if (reply === undefined) {
      reply = read(file());
      // A failed read (a package missing its files) is tried again next time, not kept.
      reply.catch(() => this.loaded.delete(urlPath));
      this.loaded.set(urlPath, reply);
    }
    return reply;
  }
}

async function read(file: string): Promise<Reply> {
  const text = await readFile(file, 'utf8');
  return new Reply(200, text, { 'Content-Type': TYPES[path.extname(file)], 'Cache-Control': 'no-cache' });
}
