import type { SigningAlgorithm } from '../crypto-backend.ts';

// PKCS#11 3.0 values that pkcs11js does not name.
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

/** CKA_EC_PARAMS: the DER OID of the curve (prime256v1, Ed25519). */
export const P256_PARAMETERS = Buffer.from('06082a8648ce3d030107', 'hex');
export const ED25519_PARAMETERS = Buffer.from('06032b6570', 'hex');

const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * A SubjectPublicKeyInfo (DER) from a token's CKA_EC_POINT, which is a DER OCTET STRING around
 * the point: for both curves the SPKI is a fixed prefix followed by the raw point.
 */
export function spkiFromEcPoint(algorithm: SigningAlgorithm, ecPoint: Buffer): Buffer {
  return Buffer.concat([
    algorithm === 'ecdsa-p256' ? P256_SPKI_PREFIX : ED25519_SPKI_PREFIX,
    ecPoint.subarray(2),
  ]);
}
