import { type Mills, add } from '../money/index.ts';
import type { CryptoBackend } from './backend/crypto-backend.ts';
import { type CommandStep, viewOf } from './module-commands.ts';
import { amountOf, applyOperation } from './psd-operations.ts';
import type { PsdState } from './psd-package.ts';
import { VaultError } from './vault-error.ts';

/**
 * Applies a command's steps in order: register rules first, then, for a step that asks, a signature
 * by the meter's key over data built from the registers after that step. Nothing is kept if any
 * step fails.
 */
export async function runSteps(
  backend: CryptoBackend,
  initial: PsdState,
  steps: readonly CommandStep[],
  now: Date,
): Promise<{
  state: PsdState;
  amount: Mills;
  signatures: { step: number; data: Buffer; signature: Buffer }[];
}> {
  let state = initial;
  let amount = 0 as Mills;
  const signatures: { step: number; data: Buffer; signature: Buffer }[] = [];
  for (const [index, step] of steps.entries()) {
    amount = add(amount, amountOf(step.operation, state));
    state = applyOperation(state, step.operation, now.toISOString());
    if (step.sign === undefined) continue;
    if (Date.parse(state.signingKey.expiresAt) <= now.getTime()) {
      throw new VaultError(
        'psd.not_active',
        `The signing key of meter ${state.meterId} has expired; replace it first.`,
      );
    }
    const data = step.sign(viewOf(state));
    const { algorithm, wrapVersion, wrapped } = state.signingKey;
    signatures.push({
      step: index,
      data,
      signature: await backend.sign(algorithm, wrapVersion, Buffer.from(wrapped, 'base64'), data),
    });
  }
  return { state, amount, signatures };
}
