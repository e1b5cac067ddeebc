/**
 * Listening that a failed accept cannot end. Once a net.Server listens, the
 * errors it still emits are failed accepts: each concerns one connection that
 * was never taken, and an 'error' nobody listens for would throw and stop the
 * broker. (Out of file descriptors, libuv accepts and closes the connections
 * it cannot keep and reports nothing; ENOBUFS, ENOMEM or EPERM do reach here.)
 * They are logged, at most one line every LOG_EVERY_MS, with the count since.
 */
import type net from 'node:net';
import { log } from '../log/logger.js';

const LOG_EVERY_MS = 5000;

/** Listens on `port` at `host`; rejects if that fails (the port in use, say). */
export function listen(server: net.Server, port: number, host: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      let failed = 0;
      let loggedAt = -Infinity;
      server.on('error', (err: NodeJS.ErrnoException) => {
        failed++;
        const now = Date.now();
        if (now - loggedAt < LOG_EVERY_MS) return;
        log.warning(`${what}: ${failed} connection(s) not accepted: ${err.code ?? err.message}`);
        loggedAt = now;
        failed = 0;
      });
      resolve();
    });
  });
}
