import pkcs11js from 'pkcs11js';
import { p256Point } from '../p256-point.ts';
import { type Handle, type Pkcs11, attributeBuffer, findObjects, templateOf } from './pkcs11-library.ts';
import { P256_PARAMETERS, spkiFromEcPoint } from './signing-mechanisms.ts';

const ENROLLMENT_LABEL = 'indicia-enrollment';
const CKD_NULL = 1;

function find(pkcs11: Pkcs11, session: Handle, objectClass: number): Handle | undefined {
  return findObjects(pkcs11, session, [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_LABEL, value: ENROLLMENT_LABEL },
  ])[0];
}

/**
 * The device-enrollment key on the token (ECDH P-256, token objects labelled
 * `indicia-enrollment`), generated on first use: its public key as SubjectPublicKeyInfo DER. The
 * private key is sensitive and never leaves the token; it may only derive.
 */
export function enrollmentPublicKey(pkcs11: Pkcs11, session: Handle): Buffer {
  let publicKey = find(pkcs11, session, pkcs11js.CKO_PUBLIC_KEY);
  if (publicKey === undefined || find(pkcs11, session, pkcs11js.CKO_PRIVATE_KEY) === undefined) {
    publicKey = pkcs11.C_GenerateKeyPair(
      session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      templateOf([
        [pkcs11js.CKA_TOKEN, true],
        [pkcs11js.CKA_LABEL, ENROLLMENT_LABEL],
        [pkcs11js.CKA_EC_PARAMS, P256_PARAMETERS],
      ]),
      templateOf([
        [pkcs11js.CKA_TOKEN, true],
        [pkcs11js.CKA_LABEL, ENROLLMENT_LABEL],
        [pkcs11js.CKA_PRIVATE, true],
        [pkcs11js.CKA_SENSITIVE, true],
        [pkcs11js.CKA_EXTRACTABLE, false],
        [pkcs11js.CKA_DERIVE, true],
      ]),
    ).publicKey;
  }
  return spkiFromEcPoint('ecdsa-p256', attributeBuffer(pkcs11, session, publicKey, pkcs11js.CKA_EC_POINT));
}

/**
 * ECDH (CKM_ECDH1_DERIVE, no KDF) of the enrollment key with a client's P-256 public key: the
 * x-coordinate, derived into a short-lived session object, read once and destroyed. The caller
 * runs HKDF over it; what it protects (the client's HMK) is sealed into a package next anyway.
 */
export function enrollmentAgreement(pkcs11: Pkcs11, session: Handle, peerPublicKey: Buffer): Buffer {
  const point = p256Point(peerPublicKey);
  enrollmentPublicKey(pkcs11, session);
  const privateKey = find(pkcs11, session, pkcs11js.CKO_PRIVATE_KEY);
  if (privateKey === undefined) throw new Error('The enrollment key vanished from the token.');
  const derived = pkcs11.C_DeriveKey(
    session,
    {
      mechanism: pkcs11js.CKM_ECDH1_DERIVE,
      parameter: { type: pkcs11js.CK_PARAMS_EC_DH, kdf: CKD_NULL, publicData: point } as pkcs11js.ECDH1,
    },
    privateKey,
    templateOf([
      [pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY],
      [pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_GENERIC_SECRET],
      [pkcs11js.CKA_VALUE_LEN, 32],
      [pkcs11js.CKA_TOKEN, false],
      [pkcs11js.CKA_SENSITIVE, false],
      [pkcs11js.CKA_EXTRACTABLE, true],
    ]),
  );
  try {
    return Buffer.from(attributeBuffer(pkcs11, session, derived, pkcs11js.CKA_VALUE));
  } finally {
    pkcs11.C_DestroyObject(session, derived);
  }
}
