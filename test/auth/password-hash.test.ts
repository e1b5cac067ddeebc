/**
 * Password hashes: vectors made by RabbitMQ 3.10.8's own rabbit_password:hash/2
 * (Debian's rabbitmq-server, run with erl), verified here; and warren's hashes
 * have RabbitMQ's shape (4-byte salt, then the digest of salt ++ password).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../dist/src/auth/password-hash.js';

const RABBIT_VECTORS = [
  { password: 'guest', algorithm: 'rabbit_password_hashing_sha256', hash: 'ORGXdwcjWMbmqOShFHSFncWsy1+1+lgaYavxcdJylReu2uIV' },
  { password: 'pässwörd € 😀', algorithm: 'rabbit_password_hashing_sha256', hash: 'fMXCU2YHj1rsExCo2gxaMKNwVhfR94RwooVI3FCzEfwvI8PI' },
  { password: 's3cret', algorithm: 'rabbit_password_hashing_sha512', hash: 'soXL/kLbQEEq9lrHI0tORGe6jQj7915Dqy0EMh+KwlEO0XiYG1CSMgDs8JtC0hGkcDJCWGY5HV186SFQMCX6vn86PrE=' },
  { password: 's3cret', algorithm: 'rabbit_password_hashing_md5', hash: '0YBs/+k8lspsKHGUQ8Zgufjeyso=' },
] as const;

describe('password hashes in RabbitMQ format', () => {
  it.each(RABBIT_VECTORS)('verifies a $algorithm hash RabbitMQ made', ({ password, algorithm, hash }) => {
    const stored = Buffer.from(hash, 'base64');
    expect(verifyPassword(stored, algorithm, password)).toBe(true);
    expect(verifyPassword(stored, algorithm, `${password}x`)).toBe(false);
    expect(verifyPassword(stored, algorithm, password.slice(1))).toBe(false);
  });

  it('hashes as RabbitMQ does: base64(salt ++ sha256(salt ++ utf8 password)), a fresh salt each time', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const hash = Buffer.from(hashPassword('pässwörd', 'rabbit_password_hashing_sha256', salt), 'base64');
    const digest = createHash('sha256').update(salt).update(Buffer.from('pässwörd', 'utf8')).digest();
    expect(hash).toEqual(Buffer.concat([salt, digest]));
    expect(hashPassword('same')).not.toBe(hashPassword('same'));
  });

  it('any password verifies against its own hash and no other (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), (password, other) => {
        const hash = Buffer.from(hashPassword(password), 'base64');
        expect(hash.length).toBe(4 + 32);
        expect(verifyPassword(hash, 'rabbit_password_hashing_sha256', password)).toBe(true);
        if (Buffer.from(other).equals(Buffer.from(password)) === false) expect(verifyPassword(hash, 'rabbit_password_hashing_sha256', other)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('an empty or salt-only hash matches nothing (a user without a password)', () => {
    expect(verifyPassword(Buffer.alloc(0), 'rabbit_password_hashing_sha256', '')).toBe(false);
    expect(verifyPassword(Buffer.from([1, 2, 3, 4]), 'rabbit_password_hashing_sha256', '')).toBe(false);
  });
});
