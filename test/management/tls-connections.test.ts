/**
 * /api/connections of an amqps connection: ssl, the protocol and cipher, and
 * the client certificate's subject, issuer and validity as RabbitMQ shows them;
 * a plain connection has nulls there.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../dist/src/index.js';
import { MODES } from '../helpers.js';
import { makePki, type TestPki } from '../broker/tls-certs.js';
import { basic } from './support.js';

let pki: TestPki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.dispose());

describe.each(MODES)('management API: TLS connections ($name)', ({ workers }) => {
  let running: RunningBroker;
  beforeAll(async () => {
    running = await startBroker({ port: 0, host: '127.0.0.1', workers, managementPort: 0, tls: { port: 0, cert: pki.server.cert, key: pki.server.key, ca: pki.ca } });
  });
  afterAll(() => running.close());

  // The test certificates are valid for 2 days.
  it('lists the amqps listener and checks its certificate\'s expiry', async () => {
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${running.managementPort}${path}`, { headers: { authorization: basic('guest', 'guest') } });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect((await get('/api/overview')).body.listeners).toContainEqual({ node: expect.any(String), protocol: 'amqp/ssl', ip_address: '127.0.0.1', port: running.tlsPort });
    expect((await get(`/api/health/checks/port-listener/${running.tlsPort}`)).status).toBe(200);
    expect((await get('/api/health/checks/protocol-listener/amqps')).status).toBe(200);
    expect(await get('/api/health/checks/certificate-expiration/1/days')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await get('/api/health/checks/certificate-expiration/1/weeks')).toEqual({
      status: 503,
      body: { status: 'failed', reason: 'Certificates expiring', expired: [{ node: expect.any(String), protocol: 'amqp/ssl', ip_address: '127.0.0.1', port: running.tlsPort }] },
    });
  });

  it('shows ssl_protocol, ssl_cipher and the peer certificate of an amqps connection', async () => {
    const client = pki.client('alice');
    const secure = await amqp.connect(`amqps://guest:guest@127.0.0.1:${running.tlsPort}`, { ca: [pki.ca], cert: client.cert, key: client.key, clientProperties: { connection_name: 'secure one' } });
    const plain = await amqp.connect(running.url);
    try {
      const res = await fetch(`http://127.0.0.1:${running.managementPort}/api/connections`, { headers: { authorization: basic('guest', 'guest') } });
      const conns = (await res.json()) as any[];
      const tls = conns.find((c) => c.ssl === true);
      const tcp = conns.find((c) => c.ssl === false);
      expect(tls).toMatchObject({ user_provided_name: 'secure one', ssl_protocol: expect.stringMatching(/^TLSv1\.[23]$/), ssl_cipher: expect.any(String), peer_cert_subject: expect.stringContaining('CN=alice') });
      expect(tls.peer_cert_issuer).toEqual(expect.any(String));
      expect(tls.peer_cert_validity).toMatch(/ - /);
      expect(tcp).toMatchObject({ ssl_protocol: null, ssl_cipher: null, peer_cert_subject: null, peer_cert_issuer: null, peer_cert_validity: null });
      expect(tcp.user_provided_name).toBeUndefined();
    } finally {
      await secure.close();
      await plain.close();
    }
  });
});
