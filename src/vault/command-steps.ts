import { type Mills, add } from '../money/index.ts';
import type { CryptoBackend, SigningKeyHandle } from './backend/crypto-backend.ts';
import { type CommandStep, viewOf } from './module-commands.ts';
import { amountOf, applyOperation } from './psd-operations.ts';
import type { PsdState } from './psd-package.ts';
import { VaultError } from './vault-error.ts';

/**
 * Meter keys a module has unwrapped, each once however many pieces it signs, the least recently
 * used closed (destroyed) beyond `capacity`; closing the set destroys them all. Keyed by the wrapped
 * key itself, so a replaced key or a re-wrap under a new master key version is a different entry.
 */
export class OpenSigningKeys {
  readonly #backend: CryptoBackend;
  readonly #capacity: number;
  readonly #open = new Map<string, Promise<SigningKeyHandle>>();

  constructor(backend: CryptoBackend, capacity: number) {
    this.#backend = backend;
    this.#capacity = capacity;
  }

  async sign(signingKey: PsdState['signingKey'], data: Buffer): Promise<Buffer> {
    let key = this.#open.get(signingKey.wrapped);
    if (key === undefined) {
      const { algorithm, wrapVersion, wrapped } = signingKey;
      key = this.#backend.openSigningKey(algorithm, wrapVersion, Buffer.from(wrapped, 'base64'));
      // A key that fails to open is not remembered: the next command tries (and fails) afresh.
      key.catch(() => this.#open.delete(signingKey.wrapped));
    } else {
      this.#open.delete(signingKey.wrapped);
    }
    this.#open.set(signingKey.wrapped, key);
    for (const [wrapped, oldest] of this.#open) {
      if (this.#open.size <= this.#capacity) break;
      this.#open.delete(wrapped);
      void oldest.then((handle) => handle.close()).catch(() => undefined);
    }
    return (await key).sign(data);
  }

  async close(): Promise<void> {
    const keys = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(keys.map(async (key) => (await key.catch(() => null))?.close()));
  }
}

/** A signature the module asked for and may still be waiting on. */
export interface PendingSignature {
  readonly step: number;
  readonly data: Buffer;
  readonly signature: Promise<Buffer>;
}

/** Waits for every pending signature; the first failure rejects. */
export async function settleSignatures(
  pending: readonly PendingSignature[],
): Promise<{ step: number; data: Buffer; signature: Buffer }[]> {
  const signatures = await Promise.all(pending.map((entry) => entry.signature));
  return pending.map((entry, index) => ({
    step: entry.step,
    data: entry.data,
    signature: signatures[index] as Buffer,
  }));
}

/**
 * Applies a command's steps in order: register rules first, then, for a step that asks, a signature
 * by the meter's key over data built from the registers after that step. Nothing is kept if any
 * step fails.
 */
export function runSteps(
  keys: OpenSigningKeys,
  initial: PsdState,
  steps: readonly CommandStep[],
  now: Date,
): {
  state: PsdState;
  amount: Mills;
  signatures: PendingSignature[];
} {
  let state = initial;
  let amount = 0 as Mills;
  const signatures: PendingSignature[] = [];
  const at = now.toISOString();
  for (const [index, step] of steps.entries()) {
    amount = add(amount, amountOf(step.operation, state));
    state = applyOperation(state, step.operation, at);
    if (step.sign === undefined) continue;
    if (Date.parse(state.signingKey.expiresAt) <= now.getTime()) {
      throw new VaultError(
        'psd.not_active',
        `The signing key of meter ${state.meterId} has expired; replace it first.`,
      );
    }
    const data = step.sign(viewOf(state));
    // Not awaited here: a group's signatures are made side by side (the software backend signs on
    // the thread pool) and the module pass waits for all of them before it seals anything.
    const signature = keys.sign(state.signingKey, data);
    signature.catch(() => undefined);
    signatures.push({ step: index, data, signature });
  }
  return { state, amount, signatures };
}
