/**
 * Password hashes in RabbitMQ's format (rabbit_password): base64 of a 4-byte
 * random salt followed by H(salt ++ utf8 password). warren writes SHA-256
 * (rabbit_password_hashing_sha256, RabbitMQ's default) and verifies the
 * SHA-512 and MD5 hashes an older or differently configured RabbitMQ exports,
 * so a definitions file moves between the two either way.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const HASHING_ALGORITHMS = {
  rabbit_password_hashing_sha256: 'sha256',
  rabbit_password_hashing_sha512: 'sha512',
  rabbit_password_hashing_md5: 'md5',
} as const;

export type HashingAlgorithm = keyof typeof HASHING_ALGORITHMS;

export const DEFAULT_HASHING: HashingAlgorithm = 'rabbit_password_hashing_sha256';

const SALT_BYTES = 4;

export function isHashingAlgorithm(name: unknown): name is HashingAlgorithm {
  return typeof name === 'string' && Object.hasOwn(HASHING_ALGORITHMS, name);
}

/** base64(salt ++ H(salt ++ password)); the salt is random unless given (tests). */
export function hashPassword(password: string, algorithm: HashingAlgorithm = DEFAULT_HASHING, salt: Buffer = randomBytes(SALT_BYTES)): string {
  return Buffer.concat([salt, digest(algorithm, salt, password)]).toString('base64');
}

/**
 * Whether `password` is the one `hash` was made from. A hash too short to hold
 * a salt matches nothing (RabbitMQ's clear_password leaves an empty one: no
 * password login for that user).
 */
export function verifyPassword(hash: Buffer, algorithm: HashingAlgorithm, password: string): boolean {
  if (hash.length <= SALT_BYTES) return false;
  const expected = digest(algorithm, hash.subarray(0, SALT_BYTES), password);
  const stored = hash.subarray(SALT_BYTES);
  return stored.length === expected.length && timingSafeEqual(stored, expected);
}

function digest(algorithm: HashingAlgorithm, salt: Buffer, password: string): Buffer {
  return createHash(HASHING_ALGORITHMS[algorithm]).update(salt).update(password, 'utf8').digest();
}
