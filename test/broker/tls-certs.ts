/**
 * Certificates for the TLS tests, made at run time with openssl (nothing
 * binary is committed): a CA, a server certificate for 127.0.0.1/localhost,
 * and client certificates by common name, one from another CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Pem {
  cert: Buffer;
  key: Buffer;
}

export interface TestPki {
  ca: Buffer;
  server: Pem;
  /** a client certificate signed by the CA, subject CN=`cn` */
  client(cn: string): Pem;
  /** a client certificate from a CA the broker does not know */
  stranger(cn: string): Pem;
  dispose(): void;
}

export function makePki(): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'warren-pki-'));
  const at = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ca = (name: string) => openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', at(`${name}.key`), '-out', at(`${name}.crt`));
  let serial = 0;
  const issue = (caName: string, subject: string, ext?: string): Pem => {
    const file = `cert-${++serial}`;
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', at(`${file}.key`), '-out', at(`${file}.csr`));
    const extArgs = ext === undefined ? [] : ['-extfile', at(`${file}.ext`)];
    if (ext !== undefined) writeFileSync(at(`${file}.ext`), ext);
    openssl('x509', '-req', '-in', at(`${file}.csr`), '-CA', at(`${caName}.crt`), '-CAkey', at(`${caName}.key`), '-set_serial', String(serial), '-days', '2', '-out', at(`${file}.crt`), ...extArgs);
    return { cert: readFileSync(at(`${file}.crt`)), key: readFileSync(at(`${file}.key`)) };
  };
  ca('test-ca');
  ca('other-ca');
  const server = issue('test-ca', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  return {
    ca: readFileSync(at('test-ca.crt')),
    server,
    client: (cn) => issue('test-ca', `/O=warren tests/CN=${cn}`),
    stranger: (cn) => issue('other-ca', `/CN=${cn}`),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
