/**
 * More clients than file descriptors: a broker whose process may hold only
 * FD_LIMIT open files cannot accept the connections past it (EMFILE; libuv
 * closes them as they come). It goes on serving the clients it has, every
 * message once, and takes new ones on both ports once descriptors are free.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, eventually, sleep, spawnedWarrens, subscribe, uniq } from '../helpers.js';

/** Open files the broker's process may hold: its own (about 30, 40 with workers) and a few clients. */
const FD_LIMIT = 80;
/** Connections opened at once on each port: well past the limit. */
const FLOOD = 150;

/** Opens `n` TCP connections to `port` at once; resolves once each connected or failed. */
async function flood(port: number, n: number): Promise<{ sockets: net.Socket[]; closedByServer(): number }> {
  const sockets: net.Socket[] = [];
  let closed = 0;
  await Promise.all(
    [...Array(n)].map(
      () =>
        new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => resolve());
          s.on('error', () => resolve());
          s.on('close', () => closed++);
          sockets.push(s);
        }),
    ),
  );
  return { sockets, closedByServer: () => closed };
}

describe.runIf(process.platform === 'linux').each(MODES)('more clients than file descriptors: $name', ({ workers }) => {
  const spawnWarren = spawnedWarrens();

  it('closes the connections it cannot take and goes on serving the others', async () => {
    const started = await spawnWarren(workers, [], FD_LIMIT);
    const exited = new Promise<number | null>((resolve) => started.child.once('exit', (code) => resolve(code)));
    const amqpPort = Number(new URL(started.url).port);

    // A client that was there before the flood, consuming.
    const conn = await connect(started.url);
    const ch = await channel(conn);
    const queue = uniq('fd-limit');
    await ch.assertQueue(queue);
    const inbox = await subscribe(ch, queue);

    const floods = [await flood(amqpPort, FLOOD), await flood(started.managementPort, FLOOD)];
    const sockets = floods.flatMap((f) => f.sockets);
    await sleep(500);
    expect(await Promise.race([exited, sleep(0).then(() => 'running')]), 'the broker is still running').toBe('running');
    // the limit was reached on both ports: connections past it were closed at once
    for (const f of floods) expect(f.closedByServer()).toBeGreaterThan(0);

    // The client from before is served throughout, every message once.
    const COUNT = 200;
    for (let i = 0; i < COUNT; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    expect((await inbox.waitFor(COUNT, 5000)).map((m) => Number(m.content.toString()))).toEqual([...Array(COUNT).keys()]);

    // Descriptors free again: new clients get in.
    for (const s of sockets) s.destroy();
    const late = await eventually(() => connect(started.url), 5000);
    const lateCh = await channel(late);
    await lateCh.checkQueue(queue);
    await late.close();
    const overview = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${started.managementPort}/api/queues/%2F/${queue}`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as { name: string; consumers: number };
    }, 5000);
    expect(overview).toMatchObject({ name: queue, consumers: 1 });
    await conn.close();
  });
});
