import { createHash } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { SigningAlgorithm } from '../crypto-backend.ts';
import type { Handle, Pkcs11 } from './pkcs11-library.ts';

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

/** Signs with a token key: ECDSA as raw r‖s over SHA-256, Ed25519 as pure EdDSA. */
export function signWith(
  pkcs11: Pkcs11,
  session: Handle,
  algorithm: SigningAlgorithm,
  key: Handle,
  data: Buffer,
): Buffer {
  // SoftHSM2 2.6 offers CKM_ECDSA over a digest (not CKM_ECDSA_SHA256); the digest is not secret.
  const isEcdsa = algorithm === 'ecdsa-p256';
  pkcs11.C_SignInit(session, { mechanism: isEcdsa ? pkcs11js.CKM_ECDSA : CKM_EDDSA }, key);
  const input = isEcdsa ? createHash('sha256').update(data).digest() : data;
  return Buffer.from(pkcs11.C_Sign(session, input, Buffer.alloc(128)));
}
