/** /api/warren/reset and /api/warren/faults/*: administrators only, each seen by a real amqplib client. */
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { MODES, channel, nextEvent, reason } from '../helpers.js';
import { basic, managedBroker } from '../management/support.js';

describe.each(MODES)('/api/warren ($name)', ({ workers }) => {
  const m = managedBroker(workers);
  const named = async (name: string) => {
    const conn = await amqp.connect(m.broker.url, { clientProperties: { connection_name: name } });
    conn.on('error', () => {});
    return conn;
  };

  it('refuses users without the administrator tag (401, as in RabbitMQ), and changes nothing', async () => {
    m.broker.broker.putUser('plain', { password: 'p' }, ['management']);
    m.broker.broker.setPermissions('plain', '/', { configure: '.*', write: '.*', read: '.*' });
    const conn = await named('kept');
    const ch = await channel(conn);
    await ch.assertQueue('survivor');
    for (const path of ['/api/warren/reset', '/api/warren/faults/close-connections', '/api/warren/faults/refuse-connections']) {
      const reply = await m.api('POST', path, {}, { auth: basic('plain', 'p') });
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ error: 'not_authorised', reason: 'Not administrator user' });
    }
    expect((await ch.checkQueue('survivor')).queue).toBe('survivor');
    await conn.close();
  });

  it('POST /api/warren/reset deletes the queues and closes clients with 320', async () => {
    const conn = await named('reset-me');
    const ch = await channel(conn);
    await ch.assertQueue('doomed');
    ch.sendToQueue('doomed', Buffer.from('m-0'));
    await m.broker.waitFor.queue('doomed', { messages: 1 });
    const closed = nextEvent(conn, 'close');
    expect((await m.api('POST', '/api/warren/reset', {})).status).toBe(204);
    expect(reason(await closed).code).toBe(320);
    expect((await m.api('GET', '/api/queues/%2F/doomed')).status).toBe(404);
    expect((await m.api('POST', '/api/warren/reset', { vhost: 'nope' })).status).toBe(404);
  });

  it('close-connections, block/unblock-publishers and refuse/accept-connections, with a filter', async () => {
    const victim = await named('victim');
    const bystander = await named('bystander');
    const closed = nextEvent(victim, 'close');
    const reply = await m.api('POST', '/api/warren/faults/close-connections', { name: 'victim', code: 320, text: 'from http' });
    expect(reply.body).toEqual({ closed: 1 });
    expect(reason(await closed)).toEqual({ code: 320, text: 'CONNECTION_FORCED - from http' });

    const blocked = nextEvent<string>(bystander, 'blocked');
    expect((await m.api('POST', '/api/warren/faults/block-publishers', { name: 'bystander' })).body).toEqual({ blocked: 1 });
    expect(await blocked).toBe('blocked by a test fault');
    const unblocked = nextEvent(bystander, 'unblocked');
    expect((await m.api('POST', '/api/warren/faults/unblock-publishers', {})).body).toEqual({ unblocked: 1 });
    await unblocked;

    expect((await m.api('POST', '/api/warren/faults/refuse-connections', { mode: 'not-allowed' })).status).toBe(204);
    await expect(amqp.connect(m.broker.url)).rejects.toThrow('Expected ConnectionOpenOk; got <ConnectionClose channel:0>');
    expect((await m.api('POST', '/api/warren/faults/accept-connections')).status).toBe(204);
    const again = await named('again');
    await again.close();
    await bystander.close();
  });

  it('cancel-consumers: the consumer hears basic.cancel, the queue and its messages stay; 404 for no queue', async () => {
    const conn = await named('consumer');
    const ch = await channel(conn);
    await ch.assertQueue('cancel-me');
    const cancelled = new Promise<unknown>((resolve) => void ch.consume('cancel-me', (msg) => msg === null && resolve(msg)));
    await m.broker.waitFor.queue('cancel-me', { consumers: 1 });
    expect((await m.api('POST', '/api/warren/faults/cancel-consumers', { vhost: '/', queue: 'cancel-me' })).body).toEqual({ cancelled: 1 });
    expect(await cancelled).toBeNull();
    for (let i = 0; i < 3; i++) ch.sendToQueue('cancel-me', Buffer.from(`m-${i}`));
    await m.broker.waitFor.queue('cancel-me', { ready: 3, consumers: 0 });
    expect((await m.api('POST', '/api/warren/faults/cancel-consumers', { queue: 'cancel-me' })).body).toEqual({ cancelled: 0 });
    expect(await m.api('POST', '/api/warren/faults/cancel-consumers', { queue: 'nope' })).toMatchObject({ status: 404, body: { reason: "no queue 'nope' in vhost '/'" } });
    expect(await m.api('POST', '/api/warren/faults/cancel-consumers', {})).toMatchObject({ status: 400, body: { reason: 'queue is required' } });
    await conn.close();
  });

  it('delay-deliveries with for_ms: a declare answered late, then on time; undelay-deliveries', async () => {
    const conn = await named('delayed');
    const ch = await channel(conn);
    expect((await m.api('POST', '/api/warren/faults/delay-deliveries', { name: 'delayed', ms: 300, for_ms: 1000 })).body).toEqual({ delayed: 1 });
    let started = Date.now();
    await ch.assertQueue('late');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await m.api('POST', '/api/warren/faults/undelay-deliveries', { name: 'delayed' })).body).toEqual({ undelayed: 1 });
    started = Date.now();
    await ch.assertQueue('on-time');
    expect(Date.now() - started).toBeLessThan(250);
    expect(await m.api('POST', '/api/warren/faults/delay-deliveries', {})).toMatchObject({ status: 400, body: { reason: 'ms is required' } });
    await conn.close();
  });

  it('bad input is a 400 that says why', async () => {
    expect(await m.api('POST', '/api/warren/faults/refuse-connections', { mode: 'sometimes' })).toMatchObject({ status: 400, body: { reason: "mode must be 'reset' or 'not-allowed', got 'sometimes'" } });
    expect(await m.api('POST', '/api/warren/faults/close-connections', { code: 'x' })).toMatchObject({ status: 400, body: { reason: 'code must be a non-negative number, got "x"' } });
    expect(await m.api('POST', '/api/warren/faults/close-connections', { code: 42 })).toMatchObject({ status: 400 });
    expect(await m.api('POST', '/api/warren/faults/stall-connections', { name: 7 })).toMatchObject({ status: 400, body: { reason: 'name must be a string, got 7' } });
    expect(await m.api('POST', '/api/warren/reset', [1])).toMatchObject({ status: 400 });
  });
});

describe('POST /api/warren/shutdown', () => {
  it('closes an in-process broker (clients hear 320, the ports close) and resolves its shutDown; only for administrators', async () => {
    const { startBroker } = await import('../../dist/src/index.js');
    const running = await startBroker({ port: 0, host: '127.0.0.1', workers: 0, managementPort: 0 });
    const api = (method: string, path: string, auth = basic('guest', 'guest')) =>
      fetch(`http://127.0.0.1:${running.managementPort}${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
    try {
      running.broker.putUser('plain', { password: 'p' }, ['management']);
      expect((await api('POST', '/api/warren/shutdown', basic('plain', 'p'))).status).toBe(401);
      const conn = await amqp.connect(running.url);
      const closed = nextEvent<any>(conn, 'close', 10_000);
      conn.on('error', () => {});
      expect((await api('POST', '/api/warren/shutdown')).status).toBe(204);
      await running.shutDown;
      expect((await closed).message).toMatch(/320/);
      await expect(amqp.connect(running.url)).rejects.toThrow(/ECONNREFUSED/);
      await expect(api('GET', '/api/overview')).rejects.toThrow();
    } finally {
      await running.close();
    }
  });
});
