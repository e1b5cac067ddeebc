/**
 * amq.rabbitmq.log: the broker's log lines reach queues bound to each vhost's
 * internal topic exchange, routing key = level, with RabbitMQ's properties;
 * clients cannot publish to it; a flood of lines is delivered without
 * recursion; with nothing bound nothing is published (or kept for later).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { MODES, channel, closed, connect, sleep, uniq } from '../helpers.js';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { log } from '../../dist/src/log/logger.js';
import { login } from './login-client.js';

const LOG = 'amq.rabbitmq.log';

/** Consumes a queue into an array, so a test can wait for the lines it expects. */
async function lines(ch: Channel, queue: string): Promise<ConsumeMessage[]> {
  const got: ConsumeMessage[] = [];
  await ch.consume(queue, (msg) => msg !== null && got.push(msg), { noAck: true });
  return got;
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for log lines');
    await sleep(10);
  }
}

const text = (m: ConsumeMessage) => m.content.toString();

/** A login that the broker refuses: the user's name is in the warning it logs. */
async function refusedLogin(port: number, user: string): Promise<void> {
  const result = await login(port, user, 'wrong password', '/');
  expect(result.opened).toBe(false);
  result.client.destroy();
}

/** The connection name the broker gives an amqplib connection (client -> server). */
function nameOf(conn: ChannelModel, port: number): string {
  const socket = (conn as any).connection.stream;
  return `127.0.0.1:${socket.localPort} -> 127.0.0.1:${port}`;
}

describe.each(MODES)('amq.rabbitmq.log: $name', ({ workers }) => {
  let running: RunningBroker;
  let admin: ChannelModel;
  let url: string;
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers });
    url = `amqp://guest:guest@127.0.0.1:${running.port}`;
    admin = await connect(url);
  });
  afterAll(async () => {
    await admin.close();
    await running.close();
  });

  // First, while nothing in the broker is bound to the log exchange.
  it('with nothing bound nothing is published, and nothing is kept for a later binding', async () => {
    for (let i = 0; i < 20; i++) await refusedLogin(running.port, `unbound-${i}`);
    const conn = await connect(url);
    await conn.close();
    await sleep(50);
    expect(running.broker.logExchange.taken).toBe(0);
    expect(running.broker.logExchange.published).toBe(0);

    const ch = await channel(admin);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, LOG, '#');
    const got = await lines(ch, queue);
    await refusedLogin(running.port, 'after-binding');
    await until(() => got.some((m) => text(m).includes("'after-binding'")));
    await sleep(50);
    expect(got.filter((m) => text(m).includes('unbound-'))).toEqual([]);
    await ch.close();
  });

  it("a refused login is a warning; a connection's open and close are info lines with its name; RabbitMQ's properties", async () => {
    const ch = await channel(admin);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, LOG, '#');
    const got = await lines(ch, queue);

    const before = Math.floor(Date.now() / 1000);
    await refusedLogin(running.port, 'mallory');
    const conn = await connect(url);
    const name = nameOf(conn, running.port);
    await conn.close();
    await until(() => got.some((m) => text(m).includes('closing AMQP connection') && text(m).includes(name)));

    const warning = got.find((m) => text(m).includes("user 'mallory'"))!;
    expect(warning.fields.routingKey).toBe('warning');
    expect(warning.fields.exchange).toBe(LOG);
    expect(text(warning)).toContain('ACCESS_REFUSED - PLAIN login refused');
    expect(warning.properties.contentType).toBe('text/plain');
    expect(warning.properties.timestamp).toBeGreaterThanOrEqual(before);
    expect(warning.properties.timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    expect(String(warning.properties.headers?.node)).toMatch(/^rabbit@/);

    const mine = got.filter((m) => text(m).includes(name));
    expect(mine.map((m) => m.fields.routingKey)).toEqual(['info', 'info', 'info']);
    expect(text(mine[0])).toMatch(/^accepting AMQP connection \d+ \(/);
    expect(text(mine[1])).toContain(`user 'guest' authenticated and granted access to vhost '/'`);
    expect(text(mine[2])).toContain(`closing AMQP connection`);
    expect(text(mine[2])).toContain(`vhost: '/', user: 'guest'`);
    await ch.close();
  });

  it("a queue bound with 'error' gets the error lines only, each once", async () => {
    const ch = await channel(admin);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, LOG, 'error');
    const got = await lines(ch, queue);
    const tag = uniq('err');
    for (let i = 0; i < 5; i++) {
      await refusedLogin(running.port, `${tag}-${i}`); // a warning and an info line each
      log.error(`${tag} error ${i}`);
    }
    await until(() => got.length >= 5);
    await sleep(50);
    expect(got.map((m) => m.fields.routingKey)).toEqual(Array(5).fill('error'));
    expect(got.map(text)).toEqual([0, 1, 2, 3, 4].map((i) => `${tag} error ${i}`));
    await ch.close();
  });

  it("a publish to it gets 403 ACCESS_REFUSED; declaring it passively (or as it is) works", async () => {
    const ch = await channel(admin);
    await ch.checkExchange(LOG);
    await ch.assertExchange(LOG, 'topic', { durable: true, internal: true, autoDelete: false });
    const why = closed(ch);
    ch.publish(LOG, 'info', Buffer.from('forged'));
    const err = await why;
    expect(err.code).toBe(403);
    expect(err.message).toContain(`cannot publish to internal exchange '${LOG}' in vhost '/'`);
  });

  it('a flood of 200 refused logins delivers each warning once and the broker goes on', async () => {
    const ch = await channel(admin);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, LOG, 'warning');
    const got = await lines(ch, queue);
    const tag = uniq('flood');
    const N = 200;
    for (let batch = 0; batch < N; batch += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => refusedLogin(running.port, `${tag}-${batch + i}`)));
    }
    await until(() => got.length >= N);
    await sleep(100);
    const seen = new Map<number, number>();
    for (const m of got) {
      const n = Number(/'[^']*-(\d+)'/.exec(text(m))?.[1]);
      seen.set(n, (seen.get(n) ?? 0) + 1);
    }
    expect(got.length).toBe(N);
    for (let n = 0; n < N; n++) expect(seen.get(n), `warning for login ${n}`).toBe(1);
    expect(running.broker.logExchange.dropped).toBe(0);
    expect(running.broker.logExchange.published).toBeGreaterThanOrEqual(N);
    // still serving
    const conn = await connect(url);
    await conn.close();
    await ch.close();
  });

  it('every vhost has its own amq.rabbitmq.log that gets the lines', async () => {
    running.broker.addVHost('logs-elsewhere');
    running.broker.setPermissions('guest', 'logs-elsewhere', { configure: '.*', write: '.*', read: '.*' });
    const conn = await connect(`${url}/logs-elsewhere`);
    const ch = await channel(conn);
    await ch.checkExchange(LOG);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, LOG, 'warning');
    const got = await lines(ch, queue);
    const user = uniq('elsewhere');
    await refusedLogin(running.port, user);
    await until(() => got.some((m) => text(m).includes(`user '${user}'`)));
    expect(got.map((m) => m.fields.routingKey)).toEqual(['warning']);
    await conn.close();
  });

  it('any user name (multi-byte UTF-8) comes through in the warning as sent', async () => {
    const ch = await channel(admin);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, LOG, 'warning');
    const got = await lines(ch, queue);
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0') && Buffer.byteLength(s) < 200), async (user) => {
        const count = got.length;
        await refusedLogin(running.port, user);
        await until(() => got.length > count);
        expect(text(got[count])).toContain(`user '${user}' - invalid credentials`);
      }),
      { numRuns: 30 },
    );
    await ch.close();
  });
});
