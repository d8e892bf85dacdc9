import { createPublicKey, verify } from 'node:crypto';
import type { CryptoBackend, SigningAlgorithm } from './backend/crypto-backend.ts';

/** Published test vectors the module must reproduce at power-up. */
export interface KnownAnswerVectors {
  readonly sha256: { readonly message: string; readonly digest: string };
  readonly hmacSha256: { readonly key: string; readonly message: string; readonly mac: string };
  readonly aes256Gcm: {
    readonly key: string;
    readonly iv: string;
    readonly plaintext: string;
    readonly aad: string;
    /** Ciphertext ‖ tag, hex. */
    readonly sealed: string;
  };
}

/** SHA-256("abc") (FIPS 180-2), HMAC-SHA-256 RFC 4231 case 6, AES-256-GCM test case 14 (McGrew & Viega). */
export const STANDARD_VECTORS: KnownAnswerVectors = {
  sha256: {
    message: Buffer.from('abc').toString('hex'),
    digest: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  },
  // Case 6 (a 131-byte key), because tokens may refuse HMAC keys shorter than the digest.
  hmacSha256: {
    key: 'aa'.repeat(131),
    message: Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First').toString('hex'),
    mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
  },
  aes256Gcm: {
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    plaintext: '00'.repeat(16),
    aad: '',
    sealed: 'cea7403d4d606b6e074ec5d3baf39d18' + 'd0d1c8a799996bf0265b98b5d48ab919',
  },
};

export interface SelfTestResult {
  readonly test:
    'code-integrity' | 'sha256' | 'hmac-sha256' | 'aes-256-gcm' | 'pairwise-ecdsa-p256' | 'pairwise-ed25519';
  readonly passed: boolean;
  readonly detail?: string;
}

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

/** Signs a fixed message with a fresh key inside the backend and verifies it outside with node:crypto. */
export async function pairwiseConsistent(
  backend: Pick<CryptoBackend, 'signWithEphemeralKey'>,
  algorithm: SigningAlgorithm,
): Promise<boolean> {
  const message = Buffer.from('indicia pairwise consistency test');
  const { publicKey, signature } = await backend.signWithEphemeralKey(algorithm, message);
  return verifySignature(algorithm, publicKey, message, signature);
}

/** Verifies a module signature with node:crypto: ECDSA P-256 raw r‖s over SHA-256, or Ed25519. */
export function verifySignature(
  algorithm: SigningAlgorithm,
  spki: Buffer,
  data: Buffer,
  signature: Buffer,
): boolean {
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  return algorithm === 'ecdsa-p256'
    ? verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    : verify(null, data, key, signature);
}

/** Runs every power-up test; never throws, so the module can report each result. */
export async function runKnownAnswerTests(
  backend: CryptoBackend,
  vectors: KnownAnswerVectors = STANDARD_VECTORS,
): Promise<SelfTestResult[]> {
  const attempt = async (
    test: SelfTestResult['test'],
    check: () => Promise<boolean>,
  ): Promise<SelfTestResult> => {
    try {
      return (await check()) ? { test, passed: true } : { test, passed: false, detail: 'wrong result' };
    } catch (error) {
      return { test, passed: false, detail: error instanceof Error ? error.message : 'failed' };
    }
  };
  const { sha256, hmacSha256, aes256Gcm } = vectors;
  return [
    await attempt('sha256', async () =>
      (await backend.digestSha256(hex(sha256.message))).equals(hex(sha256.digest)),
    ),
    await attempt('hmac-sha256', async () =>
      (await backend.hmacSha256WithTestKey(hex(hmacSha256.key), hex(hmacSha256.message))).equals(
        hex(hmacSha256.mac),
      ),
    ),
    await attempt('aes-256-gcm', async () =>
      (
        await backend.encryptAesGcmWithTestKey(
          hex(aes256Gcm.key),
          hex(aes256Gcm.iv),
          hex(aes256Gcm.plaintext),
          hex(aes256Gcm.aad),
        )
      ).equals(hex(aes256Gcm.sealed)),
    ),
    await attempt('pairwise-ecdsa-p256', () => pairwiseConsistent(backend, 'ecdsa-p256')),
  ];
}
