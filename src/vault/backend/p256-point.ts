import { VaultError } from '../vault-error.ts';

const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/**
 * The uncompressed point (65 bytes, 0x04 ‖ x ‖ y) of a P-256 SubjectPublicKeyInfo, as WebCrypto's
 * `exportKey('spki')` writes it; anything else is refused before any key operation sees it.
 */
export function p256Point(spki: Buffer): Buffer {
  if (
    spki.length !== P256_SPKI_PREFIX.length + 65 ||
    !spki.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX) ||
    spki[P256_SPKI_PREFIX.length] !== 0x04
  ) {
    throw new VaultError(
      'vault.enrollment_invalid',
      'The ephemeral public key must be a P-256 SubjectPublicKeyInfo (DER, uncompressed point), as WebCrypto exports it.',
    );
  }
  return spki.subarray(P256_SPKI_PREFIX.length);
}

/** The SubjectPublicKeyInfo of an uncompressed P-256 point. */
export function p256Spki(point: Buffer): Buffer {
  return Buffer.concat([P256_SPKI_PREFIX, point]);
}
