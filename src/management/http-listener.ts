/**
 * Listens for an http.Server's connections on a net.Server of its own and
 * hands each one over ('connection', as Node documents for injected sockets).
 * Node's own listen() arms a 30-second interval for the whole life of the
 * server (connectionsCheckingInterval, which enforces headersTimeout), so a
 * broker serving the management API would wake every 30 s while nothing
 * happens. Here the one deadline that interval enforced, a request's headers
 * within HEADERS_TIMEOUT_MS, is a timer on the connection, armed when it
 * opens and after each response and cleared when a request's headers are in:
 * nothing is armed while no HTTP client is connected.
 */
import type http from 'node:http';
import net from 'node:net';
import { listen } from '../acceptor/listen.js';

/** Node's default headersTimeout. */
export const HEADERS_TIMEOUT_MS = 60_000;

interface Pending {
  /** requests whose headers are in and whose responses have not finished */
  open: number;
  deadline: NodeJS.Timeout | null;
}

export class HttpListener {
  private readonly listener: net.Server;
  private readonly pending = new Map<net.Socket, Pending>();

  constructor(server: http.Server, private readonly headersTimeoutMs = HEADERS_TIMEOUT_MS) {
    this.listener = net.createServer((socket) => {
      this.pending.set(socket, { open: 0, deadline: null });
      this.arm(socket);
      socket.once('close', () => {
        this.disarm(socket);
        this.pending.delete(socket);
      });
      server.emit('connection', socket);
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket;
      const state = this.pending.get(socket);
      if (state === undefined) return;
      state.open++;
      this.disarm(socket);
      res.once('close', () => {
        if (--state.open === 0) this.arm(socket);
      });
    });
  }

  /** Listens on `port` (0: any free one) at `host`. */
  async listen(port: number, host: string): Promise<net.AddressInfo> {
    await listen(this.listener, port, host, 'management API');
    return this.listener.address() as net.AddressInfo;
  }

  /** Stops listening and drops open connections. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const socket of this.pending.keys()) socket.destroy();
    return closed;
  }

  private arm(socket: net.Socket): void {
    const state = this.pending.get(socket);
    if (state === undefined || state.deadline !== null || socket.destroyed) return;
    state.deadline = setTimeout(() => socket.destroy(), this.headersTimeoutMs);
    state.deadline.unref();
  }

  private disarm(socket: net.Socket): void {
    const state = this.pending.get(socket);
    if (state?.deadline == null) return;
    clearTimeout(state.deadline);
    state.deadline = null;
  }
}
