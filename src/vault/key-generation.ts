import {
  type CryptoBackend,
  type GeneratedSigningKey,
  type SigningAlgorithm,
  signOnce,
} from './backend/crypto-backend.ts';
import { verifySignature } from './known-answer-tests.ts';
import { VaultError } from './vault-error.ts';

/**
 * A new signing key pair, wrapped under `version`, that has signed a probe inside the backend and
 * verified outside it (the pairwise-consistency check). A failure is a module fault: `onFault`
 * puts the module in the error state before the error is thrown.
 */
export async function newCheckedKey(
  backend: CryptoBackend,
  algorithm: SigningAlgorithm,
  version: number,
  meterId: string,
  onFault: (reason: string) => void,
): Promise<GeneratedSigningKey> {
  const key = await backend.generateSigningKey(algorithm, version);
  const probe = Buffer.from(`indicia pairwise check ${meterId}`);
  const probeSignature = await signOnce(backend, algorithm, version, key.wrappedPrivateKey, probe);
  if (!verifySignature(algorithm, key.publicKey, probe, probeSignature)) {
    onFault(`pairwise consistency check failed for a new ${algorithm} key`);
    throw new VaultError(
      'vault.error_state',
      `Module ${backend.serial} failed a pairwise consistency check.`,
    );
  }
  return key;
}
