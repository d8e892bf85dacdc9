import { webcrypto } from 'node:crypto';

type Crypto = webcrypto.Crypto;
type CryptoKey = webcrypto.CryptoKey;
type BufferSource = webcrypto.BufferSource;
import type { SigningAlgorithm } from '../vault/index.ts';

/** Signs data inside a crypto module (through custody) and returns the raw signature. */
export type ModuleSigner = (data: Buffer) => Promise<Buffer>;

export interface ModuleKeyHandles {
  /** A WebCrypto-shaped provider whose `sign` goes to the module; everything else is node's. */
  readonly crypto: Crypto;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly signingAlgorithm: webcrypto.EcdsaParams | webcrypto.Algorithm;
}

/**
 * Lets @peculiar/x509 build certificates and requests whose signatures come from a crypto module:
 * the library computes the to-be-signed bytes and calls `crypto.subtle.sign`, which this provider
 * hands to the module; the private key never exists outside it. ECDSA signatures come back raw
 * (r‖s), as WebCrypto's do.
 */
export function moduleSigningCrypto(
  algorithm: SigningAlgorithm,
  spki: Buffer,
  signer: ModuleSigner,
): ModuleKeyHandles {
  const keyAlgorithm =
    algorithm === 'ecdsa-p256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'Ed25519' };
  const handle = (type: webcrypto.KeyType): CryptoKey =>
    ({
      algorithm: keyAlgorithm,
      type,
      extractable: type === 'public',
      usages: [type === 'public' ? 'verify' : 'sign'],
    }) as unknown as CryptoKey;
  const privateKey = handle('private');
  const publicKey = handle('public');
  const subtle = {
    exportKey: (format: string, key: CryptoKey) => {
      if (format !== 'spki' || key !== publicKey)
        throw new Error('only the public key can be exported, as SPKI');
      return Promise.resolve(spki.buffer.slice(spki.byteOffset, spki.byteOffset + spki.byteLength));
    },
    sign: async (_algorithm: unknown, key: CryptoKey, data: BufferSource) => {
      if (key !== privateKey) throw new Error('this provider signs only with its module key');
      const bytes = Buffer.from(
        data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
      const signature = await signer(bytes);
      return signature.buffer.slice(signature.byteOffset, signature.byteOffset + signature.byteLength);
    },
  };
  const crypto = {
    subtle,
    getRandomValues: (array: Uint8Array): Uint8Array => webcrypto.getRandomValues(array),
  } as unknown as Crypto;
  return {
    crypto,
    privateKey,
    publicKey,
    signingAlgorithm: algorithm === 'ecdsa-p256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'Ed25519' },
  };
}
