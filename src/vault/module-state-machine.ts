import type { ModuleRole, ModuleState } from './module-status.ts';
import { VaultError } from './vault-error.ts';

/**
 * Seed 004's module states and the checks every command makes against them: the error state
 * refuses everything, key management needs crypto-officer, transactions need crypto-user.
 */
export class ModuleStateMachine {
  /** Read when a message needs it: a module re-initialized after zeroization has a new serial. */
  readonly #serialOf: () => string;
  #state: ModuleState = 'self-test';
  #errorReason: string | null = null;

  constructor(serialOf: () => string) {
    this.#serialOf = serialOf;
  }

  get #serial(): string {
    return this.#serialOf();
  }

  get state(): ModuleState {
    return this.#state;
  }

  get errorReason(): string | null {
    return this.#errorReason;
  }

  moveTo(state: ModuleState): void {
    this.#state = state;
  }

  enterError(reason: string): void {
    this.#state = 'error';
    this.#errorReason = reason;
  }

  refuseInError(): void {
    if (this.#state === 'error') {
      throw new VaultError(
        'vault.error_state',
        `Module ${this.#serial} is in the error state (${this.#errorReason ?? 'unknown'}); it refuses every command.`,
      );
    }
  }

  requireState(allowed: readonly ModuleState[], action: string): void {
    if (!allowed.includes(this.#state)) {
      throw new VaultError(
        'vault.wrong_state',
        `Module ${this.#serial} cannot ${action} in state ${this.#state}.`,
      );
    }
  }

  requireRole(role: ModuleRole): void {
    this.refuseInError();
    const needed = role === 'crypto-user' ? 'user' : 'crypto-officer';
    if (this.#state !== needed) {
      throw new VaultError(
        'vault.role_required',
        `This command needs the ${role} role; module ${this.#serial} is ${this.#state}.`,
      );
    }
  }
}
