/**
 * The management API's listener (src/management/http-listener.ts): Node's
 * headersTimeout as a timer per connection, not a 30 s interval for the
 * server's whole life. Real sockets; a deadline short enough to watch.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpListener } from '../../dist/src/management/http-listener.js';
import { eventually, sleep } from '../helpers.js';

const DEADLINE_MS = 400;

let listener: HttpListener | undefined;
afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

/** A listener on a free port whose handler answers `/slow` after `slowMs`. */
async function serve(slowMs = 0): Promise<number> {
  const server = http.createServer((req, res) => {
    setTimeout(() => res.end(`answer to ${req.url}`), req.url === '/slow' ? slowMs : 0);
  });
  server.keepAliveTimeout = 0; // Node's own idle close would hide the deadline's
  listener = new HttpListener(server, DEADLINE_MS);
  return (await listener.listen(0, '127.0.0.1')).port;
}

/** A raw connection that records what it reads and when it closed. */
async function open(port: number): Promise<{ socket: net.Socket; text(): string; closedAt(): number | null }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  let closedAt: number | null = null;
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  socket.on('close', () => (closedAt = Date.now()));
  socket.on('error', () => {});
  return { socket, text: () => text, closedAt: () => closedAt };
}

const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

describe('HttpListener: a request\'s headers within the deadline', () => {
  it('closes a connection whose headers come a byte at a time past the deadline', async () => {
    const port = await serve();
    const client = await open(port);
    const start = Date.now();
    // Bytes keep coming (an idle timeout would never fire), the headers never end in time.
    for (const byte of request(`/trickled/${'x'.repeat(150)}`)) {
      if (client.closedAt() !== null) break;
      client.socket.write(byte);
      await sleep(25);
    }
    await eventually(() => expect(client.closedAt(), 'closed').not.toBeNull(), 3000);
    expect(client.closedAt()! - start).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
    expect(client.text()).toBe('');
  });

  it('closes a connection that sends nothing', async () => {
    const client = await open(await serve());
    const start = Date.now();
    await eventually(() => expect(client.closedAt()).not.toBeNull(), 3000);
    expect(client.closedAt()! - start).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
  });

  it('lets a handler take longer than the deadline, and keeps the connection for the next request', async () => {
    const port = await serve(DEADLINE_MS * 2);
    const client = await open(port);
    client.socket.write(request('/slow'));
    await sleep(DEADLINE_MS * 2 + 200);
    expect(client.text()).toContain('answer to /slow');
    expect(client.closedAt()).toBeNull();
    // the next request on the same connection, well inside a fresh deadline
    await sleep(DEADLINE_MS / 4);
    client.socket.write(request('/second'));
    await sleep(200);
    expect(client.text()).toContain('answer to /second');
    expect(client.closedAt()).toBeNull();
    // and idle after its response, the connection goes at the deadline
    await eventually(() => expect(client.closedAt()).not.toBeNull(), 3000);
  });

  it('answers many requests on one keep-alive connection spread over several deadlines', async () => {
    const port = await serve();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<net.Socket>();
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) {
      answers.push(
        await new Promise<string>((resolve, reject) => {
          const req = http.get({ port, host: '127.0.0.1', path: `/${i}`, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (c: string) => (body += c));
            res.on('end', () => resolve(body));
          });
          req.on('socket', (s) => sockets.add(s));
          req.on('error', reject);
        }),
      );
      await sleep(DEADLINE_MS / 4);
    }
    agent.destroy();
    expect(answers).toEqual([...Array(8).keys()].map((i) => `answer to /${i}`));
    expect(sockets.size, 'one connection throughout').toBe(1);
  });

  it('close() stops listening and drops open connections', async () => {
    const port = await serve();
    const client = await open(port);
    await listener!.close();
    listener = undefined;
    await sleep(50);
    expect(client.closedAt()).not.toBeNull();
    const refused = net.connect(port, '127.0.0.1');
    await expect(new Promise((resolve, reject) => refused.once('connect', resolve).once('error', reject))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
