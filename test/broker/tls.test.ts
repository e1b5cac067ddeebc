/**
 * amqps: the same broker on a plain and a TLS port (certificates made at run
 * time with openssl), a handshake with and without a client certificate,
 * --tls-verify-peer refusing clients without one, and EXTERNAL logins by the
 * certificate's CN.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES, channel, drain, eventually } from '../helpers.js';
import { makePki, type Pem, type TestPki } from './tls-certs.js';

let pki: TestPki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.dispose());

const FULL = { configure: '.*', write: '.*', read: '.*' };

async function amqps(port: number, options: { client?: Pem; external?: boolean; user?: string } = {}): Promise<ChannelModel> {
  const { client, external, user = 'guest:guest' } = options;
  const conn = await amqp.connect(`amqps://${external ? '' : `${user}@`}127.0.0.1:${port}`, {
    ca: [pki.ca],
    ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
    ...(external ? { credentials: amqp.credentials.external() } : {}),
  });
  conn.on('error', () => {});
  return conn;
}

describe.each(MODES)('TLS: $name', ({ workers }) => {
  let running: RunningBroker;
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers, tls: { port: 0, cert: pki.server.cert, key: pki.server.key, ca: pki.ca } });
    running.broker.putUser('alice', { password: 'unused-for-external' });
    running.broker.setPermissions('alice', '/', FULL);
  });
  afterAll(() => running.close());

  it('one broker on both ports: published over amqps, consumed over plain TCP and back, every message once', async () => {
    expect(running.tlsPort).toBeGreaterThan(0);
    expect(running.tlsPort).not.toBe(running.port);
    const secure = await amqps(running.tlsPort!);
    const plain = await amqp.connect(running.url);
    const s = await channel(secure);
    const p = await channel(plain);
    await s.assertQueue('tls-both');
    for (let i = 0; i < 100; i++) s.sendToQueue('tls-both', Buffer.from(`tls ${i}`));
    await eventually(async () => expect((await p.checkQueue('tls-both')).messageCount).toBe(100));
    expect(await drain(p, 'tls-both')).toEqual(Array.from({ length: 100 }, (_, i) => `tls ${i}`));
    for (let i = 0; i < 100; i++) p.sendToQueue('tls-both', Buffer.from(`tcp ${i}`));
    await eventually(async () => expect((await s.checkQueue('tls-both')).messageCount).toBe(100));
    expect(await drain(s, 'tls-both')).toEqual(Array.from({ length: 100 }, (_, i) => `tcp ${i}`));
    await secure.close();
    await plain.close();
  });

  it('EXTERNAL logs in as the user named by a verified client certificate’s CN; without one, or for an unknown CN, 403', async () => {
    const conn = await amqps(running.tlsPort!, { client: pki.client('alice'), external: true });
    const ch = await channel(conn);
    await ch.assertQueue('alice-ext');
    ch.sendToQueue('alice-ext', Buffer.from('by certificate'), { userId: 'alice' });
    await eventually(async () => expect((await ch.checkQueue('alice-ext')).messageCount).toBe(1));
    expect(await drain(ch, 'alice-ext')).toEqual(['by certificate']);
    await conn.close();
    const refusal = /ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL/;
    await expect(amqps(running.tlsPort!, { external: true })).rejects.toThrow(refusal);
    await expect(amqps(running.tlsPort!, { client: pki.client('mallory'), external: true })).rejects.toThrow(refusal);
    // A certificate from a CA the broker does not trust: the TLS handshake goes through (verify-peer is off), EXTERNAL does not.
    await expect(amqps(running.tlsPort!, { client: pki.stranger('alice'), external: true })).rejects.toThrow(refusal);
    // Plain TCP offers no EXTERNAL.
    await expect(amqp.connect(`amqp://127.0.0.1:${running.port}`, { credentials: amqp.credentials.external() })).rejects.toThrow(/EXTERNAL/);
  });

  it('a client certificate with PLAIN: the password still decides', async () => {
    const conn = await amqps(running.tlsPort!, { client: pki.client('guest') });
    await conn.close();
    await expect(amqps(running.tlsPort!, { client: pki.client('guest'), user: 'guest:wrong' })).rejects.toThrow(/ACCESS_REFUSED/);
  });
});

describe('TLS with verifyPeer', () => {
  it('refuses a client without a certificate, or with one from an unknown CA, at the TLS handshake; accepts one the CA signed', async () => {
    const running = await startBroker({ port: 0, host: '127.0.0.1', workers: 0, tls: { port: 0, cert: pki.server.cert, key: pki.server.key, ca: pki.ca, verifyPeer: true } });
    try {
      await expect(amqps(running.tlsPort!)).rejects.toThrow();
      await expect(amqps(running.tlsPort!, { client: pki.stranger('guest') })).rejects.toThrow();
      const conn = await amqps(running.tlsPort!, { client: pki.client('anyone') });
      const ch = await channel(conn);
      await ch.assertQueue('verified');
      await conn.close();
      // The plain port is unaffected.
      const plain = await amqp.connect(running.url);
      await plain.close();
    } finally {
      await running.close();
    }
  });
});
