import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A fresh random secret, URL-safe: 32 bytes (256 bits) unless told otherwise. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * The stored form of a high-entropy secret (session token, API key, e-mail token): its SHA-256.
 * A random 256-bit secret needs no slow hash; a stolen table reveals nothing usable.
 */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Whether `secret` hashes to `storedHash`, compared in constant time. */
export function matchesHash(secret: string, storedHash: string): boolean {
  const actual = Buffer.from(secretHash(secret), 'hex');
  const expected = Buffer.from(storedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
