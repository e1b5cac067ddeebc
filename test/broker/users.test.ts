/**
 * Users: PLAIN and AMQPLAIN logins against salted hashes, RabbitMQ's refusal
 * (403 with authentication_failure_close, a bare close without), guest from
 * loopback only, users from definitions with RabbitMQ's hashes, and any user
 * name, password and vhost name (fast-check) over raw frames.
 */
import os from 'node:os';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, connect, reason } from '../helpers.js';
import { fitBytes, shortstrText } from '../property/arbitraries.js';
import { login } from './login-client.js';

const REFUSED = (mechanism: string) => `ACCESS_REFUSED - Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`;
const FULL = { configure: '.*', write: '.*', read: '.*' };

/** An address of this machine that is not loopback, so a client there is "remote"; undefined if it has none. */
const REMOTE_ADDRESS = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i !== undefined && !i.internal && i.family === 'IPv4')?.address;

describe.each(MODES)('users: $name', ({ workers }) => {
  let running: RunningBroker;
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers });
    running.broker.addVHost('sales');
    running.broker.putUser('alice', { password: 'wonder land' }, ['management']);
    running.broker.setPermissions('alice', 'sales', FULL);
  });
  afterAll(() => running.close());

  it('a user with a password logs in to its vhost and publishes and consumes there; the stored hash is not the password', async () => {
    const conn = await connect(`amqp://alice:wonder%20land@127.0.0.1:${running.port}/sales`);
    const ch = await channel(conn);
    await ch.assertQueue('inbox');
    for (let i = 0; i < 50; i++) ch.sendToQueue('inbox', Buffer.from(`m${i}`));
    const got: string[] = [];
    for (let i = 0; i < 50; i++) {
      const msg = await ch.get('inbox', { noAck: true });
      if (msg !== false) got.push(msg.content.toString());
    }
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    await conn.close();
    const user = running.broker.access.user('alice')!;
    expect(user.hashingAlgorithm).toBe('rabbit_password_hashing_sha256');
    expect(user.passwordHash.length).toBe(36);
    expect(user.passwordHash.toString('latin1')).not.toContain('wonder');
  });

  it('a wrong password, an unknown user and an empty password get 403 ACCESS_REFUSED with RabbitMQ text', async () => {
    for (const url of [`alice:wrong@`, `bob:wonder%20land@`, `alice:@`]) {
      const err = await connect(`amqp://${url}127.0.0.1:${running.port}/sales`).then(
        () => null,
        (e) => e,
      );
      // amqplib reports a refused handshake as "Handshake terminated by server: 403 (ACCESS-REFUSED) ..."
      expect(String(err?.message)).toContain('403 (ACCESS-REFUSED)');
      expect(reason(err).text).toBe(REFUSED('PLAIN'));
    }
  });

  it('AMQPLAIN logs in with the same users; a client without authentication_failure_close is just disconnected', async () => {
    const ok = await login(running.port, 'alice', 'wonder land', 'sales', { mechanism: 'AMQPLAIN' });
    expect(ok.opened).toBe(true);
    ok.client.destroy();
    const bad = await login(running.port, 'alice', 'nope', 'sales', { mechanism: 'AMQPLAIN' });
    expect(bad).toMatchObject({ opened: false, code: 403, text: REFUSED('AMQPLAIN') });
    bad.client.destroy();
    const bare = await login(running.port, 'alice', 'nope', 'sales', { failureClose: false });
    expect(bare).toMatchObject({ opened: false, code: null });
  });

  it('a changed password takes effect at the next login; a deleted user is refused and its connections closed (320)', async () => {
    running.broker.putUser('carol', { password: 'one' });
    running.broker.setPermissions('carol', '/', FULL);
    const conn = await connect(`amqp://carol:one@127.0.0.1:${running.port}`);
    const closed = new Promise<any>((resolve) => conn.once('close', resolve));
    running.broker.changePassword('carol', 'two');
    expect((await login(running.port, 'carol', 'one', '/')).opened).toBe(false);
    const again = await login(running.port, 'carol', 'two', '/');
    expect(again.opened).toBe(true);
    again.client.destroy();
    running.broker.deleteUser('carol');
    const err = await closed;
    expect(reason(err)).toEqual({ code: 320, text: "CONNECTION_FORCED - user 'carol' is deleted" });
    expect((await login(running.port, 'carol', 'two', '/')).opened).toBe(false);
  });

  it("user limits: max-connections refuses the next connection.open, max-channels the next channel.open, with RabbitMQ's 530 texts", async () => {
    running.broker.putUser('limited', { password: 'l' });
    running.broker.setPermissions('limited', 'sales', FULL);
    running.broker.setUserLimits('limited', { maxConnections: 1, maxChannels: 2 });
    const conn = await connect(`amqp://limited:l@127.0.0.1:${running.port}/sales`);
    expect(await login(running.port, 'limited', 'l', 'sales')).toMatchObject({
      opened: false,
      code: 530,
      text: "NOT_ALLOWED - connection refused for user 'limited': user connection limit (1) is reached",
    });
    await channel(conn);
    await channel(conn);
    const closed = new Promise<any>((resolve) => conn.once('close', resolve));
    await conn.createChannel().catch(() => {});
    expect(reason(await closed)).toEqual({ code: 530, text: "NOT_ALLOWED - number of channels opened for user 'limited' has reached the maximum allowed user limit of (2)" });
    // Limits survive a password change, and -1 lifts them.
    running.broker.changePassword('limited', 'l2');
    expect(running.broker.access.user('limited')!.limits).toEqual({ maxConnections: 1, maxChannels: 2 });
    running.broker.setUserLimits('limited', { maxConnections: -1 });
    const a = await login(running.port, 'limited', 'l2', 'sales');
    const b = await login(running.port, 'limited', 'l2', 'sales');
    expect([a.opened, b.opened]).toEqual([true, true]);
    a.client.destroy();
    b.client.destroy();
  });

  it('any user name, password and vhost name (0-255 bytes, multi-byte UTF-8) logs in, and only with its own password', async () => {
    const noNul = (s: string) => s.replaceAll('\0', '');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(shortstrText().map(noNul), fc.string({ unit: 'grapheme', maxLength: 120 }).map(noNul), shortstrText(), async (userName, password, vhostName) => {
        // A fresh user per run, so earlier runs' users and vhosts never answer for this one.
        const user = fitBytes(`${n++}:${userName}`);
        fc.pre(password !== '');
        running.broker.putUser(user, { password });
        running.broker.addVHost(vhostName);
        running.broker.setPermissions(user, vhostName, FULL);
        const ok = await login(running.port, user, password, vhostName);
        expect(ok.opened).toBe(true);
        ok.client.destroy();
        const wrong = await login(running.port, user, `${password}!`, vhostName);
        expect(wrong).toMatchObject({ opened: false, code: 403 });
        wrong.client.destroy();
        running.broker.deleteUser(user);
      }),
      { numRuns: 40 },
    );
  });
});

describe('guest may log in only from loopback', () => {
  it.skipIf(REMOTE_ADDRESS === undefined)('guest over a non-loopback address is refused like a wrong password; other users are not; --allow-remote-guest lifts it', async () => {
    const strict = await startBroker({ port: 0, host: ['127.0.0.1', REMOTE_ADDRESS!], workers: 0 });
    const open = await startBroker({ port: 0, host: REMOTE_ADDRESS!, workers: 0, allowRemoteGuest: true });
    try {
      expect((await login(strict.port, 'guest', 'guest', '/')).opened).toBe(true);
      expect(await login(strict.port, 'guest', 'guest', '/', { host: REMOTE_ADDRESS })).toMatchObject({ opened: false, code: 403, text: REFUSED('PLAIN') });
      strict.broker.putUser('dave', { password: 'd' });
      strict.broker.setPermissions('dave', '/', FULL);
      expect((await login(strict.port, 'dave', 'd', '/', { host: REMOTE_ADDRESS })).opened).toBe(true);
      expect((await login(open.port, 'guest', 'guest', '/', { host: REMOTE_ADDRESS })).opened).toBe(true);
    } finally {
      await strict.close();
      await open.close();
    }
  });
});

describe('users from definitions', () => {
  it("RabbitMQ's sha256, sha512 and md5 hashes log in; the default guest is gone once definitions bring users", async () => {
    const running = await startBroker({
      port: 0,
      host: '127.0.0.1',
      workers: 0,
      definitions: {
        vhosts: [{ name: 'v' }],
        users: [
          { name: 'u256', password_hash: 'fMXCU2YHj1rsExCo2gxaMKNwVhfR94RwooVI3FCzEfwvI8PI', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'] },
          { name: 'u512', password_hash: 'soXL/kLbQEEq9lrHI0tORGe6jQj7915Dqy0EMh+KwlEO0XiYG1CSMgDs8JtC0hGkcDJCWGY5HV186SFQMCX6vn86PrE=', hashing_algorithm: 'rabbit_password_hashing_sha512', tags: 'monitoring,management' },
          { name: 'umd5', password_hash: '0YBs/+k8lspsKHGUQ8Zgufjeyso=', hashing_algorithm: 'rabbit_password_hashing_md5', tags: [] },
        ],
        permissions: ['u256', 'u512', 'umd5'].map((user) => ({ user, vhost: 'v', ...FULL })),
      },
    });
    try {
      for (const [user, password] of [['u256', 'pässwörd € 😀'], ['u512', 's3cret'], ['umd5', 's3cret']]) {
        const result = await login(running.port, user, password, 'v');
        expect(result.opened, user).toBe(true);
        result.client.destroy();
      }
      expect(running.broker.access.user('u512')!.tags).toEqual(['monitoring', 'management']);
      expect((await login(running.port, 'guest', 'guest', '/')).opened).toBe(false);
    } finally {
      await running.close();
    }
  });

  it('a definitions object with a bad hashing algorithm or regex is refused whole at start', async () => {
    await expect(startBroker({ port: 0, workers: 0, definitions: { users: [{ name: 'x', password_hash: 'AAAA', hashing_algorithm: 'rot13' }] } })).rejects.toThrow(
      "user 'x': unknown hashing_algorithm 'rot13'",
    );
    await expect(startBroker({ port: 0, workers: 0, definitions: { permissions: [{ user: 'guest', vhost: '/', configure: '(', write: '', read: '' }] } })).rejects.toThrow(
      /configure of permission of user 'guest' in vhost '\/': invalid regular expression/,
    );
  });
});

