import type { CryptoModule } from './crypto-module.ts';
import type { ModuleStatus } from './module-status.ts';
import { VaultError } from './vault-error.ts';

export interface ModulePoolOptions {
  /** This many inhibited modules stop the whole service until an operator acts. */
  readonly inhibitThreshold: number;
}

export interface PoolStatus {
  readonly stopped: { readonly reason: string; readonly since: string } | null;
  readonly inhibitThreshold: number;
  readonly inhibitedModules: number;
  readonly waitingCommands: number;
  readonly modules: readonly ModuleStatus[];
}

/**
 * Several crypto modules serving any meter. A command leases one module for its whole cycle
 * (module step and the caller's database commit), because the module's next command compares
 * its ring with the database: a second command on the same module before the first committed
 * would look like a rollback. Leases go round-robin over free, usable modules; callers wait in
 * order when all are busy.
 */
export class ModulePool {
  readonly #modules: readonly CryptoModule[];
  readonly #threshold: number;
  readonly #leased = new Set<CryptoModule>();
  readonly #waiting: (() => void)[] = [];
  #next = 0;
  #stopped: { reason: string; since: string } | null = null;

  constructor(modules: readonly CryptoModule[], options: ModulePoolOptions) {
    if (modules.length === 0)
      throw new VaultError('vault.backend_unavailable', 'A module pool needs at least one module.');
    if (!Number.isInteger(options.inhibitThreshold) || options.inhibitThreshold < 1) {
      throw new VaultError(
        'vault.wrong_state',
        'The inhibit threshold must be a whole number of at least 1.',
      );
    }
    this.#modules = modules;
    this.#threshold = options.inhibitThreshold;
  }

  get modules(): readonly CryptoModule[] {
    return this.#modules;
  }

  /** Runs `work` with a module in the crypto-user role, exclusively. */
  async withModule<T>(work: (module: CryptoModule) => Promise<T>): Promise<T> {
    this.#refuseWhenStopped();
    return this.#run(() => this.#lease(), work);
  }

  async #run<T>(lease: () => Promise<CryptoModule>, work: (module: CryptoModule) => Promise<T>): Promise<T> {
    const module = await lease();
    try {
      return await work(module);
    } finally {
      this.reviewInhibitions();
      this.#leased.delete(module);
      // Every waiter re-checks: one waiting for a specific module must not hold up the others.
      for (const wake of this.#waiting.splice(0)) wake();
    }
  }

  /**
   * Runs key-management work on one module in the crypto-officer role, then returns it to the
   * crypto-user role. Keys are shared by the pool's modules (one keystore, or one token).
   */
  async withOfficer<T>(
    credential: string,
    work: (module: CryptoModule) => Promise<T>,
    options: { serial?: string } = {},
  ): Promise<T> {
    const asOfficer = async (module: CryptoModule): Promise<T> => {
      module.logout();
      try {
        await module.login('crypto-officer', credential);
        return await work(module);
      } finally {
        module.logout();
        if (module.state === 'idle') await module.login('crypto-user');
      }
    };
    const { serial } = options;
    if (serial === undefined) return this.withModule(asOfficer);
    // A named module is leased even when inhibited: re-anchoring it is how an operator recovers.
    const module = this.#modules.find((candidate) => candidate.serial === serial);
    if (module === undefined)
      throw new VaultError('vault.wrong_state', `There is no module ${serial} in this pool.`);
    return this.#run(() => this.#leaseExactly(module), asOfficer);
  }

  /** Makes every module re-read the key inventory, e.g. after a master key rotation. */
  async refreshKeys(): Promise<void> {
    await Promise.all(this.#modules.map((module) => module.refreshKeys()));
  }

  status(): PoolStatus {
    return {
      stopped: this.#stopped,
      inhibitThreshold: this.#threshold,
      inhibitedModules: this.#modules.filter((module) => module.isInhibited).length,
      waitingCommands: this.#waiting.length,
      modules: this.#modules.map((module) => module.status()),
    };
  }

  /** The operator's word that the cause is dealt with (modules re-anchored or replaced). */
  resume(): void {
    const inhibited = this.#modules.filter((module) => module.isInhibited).length;
    const byDatabase = this.#modules.some((module) => module.status().inhibited?.cause === 'database');
    if (inhibited >= this.#threshold || byDatabase) {
      throw new VaultError(
        'vault.service_stopped',
        `${inhibited} module(s) are still inhibited; re-anchor them before resuming the service.`,
      );
    }
    this.#stopped = null;
  }

  async close(): Promise<void> {
    await Promise.all(this.#modules.map((module) => module.close()));
  }

  async #leaseExactly(module: CryptoModule): Promise<CryptoModule> {
    while (this.#leased.has(module)) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#leased.add(module);
    return module;
  }

  async #lease(): Promise<CryptoModule> {
    for (;;) {
      this.#refuseWhenStopped();
      const usable = this.#modules.filter((module) => module.state === 'user' && !module.isInhibited);
      if (usable.length === 0) {
        throw new VaultError(
          'vault.service_stopped',
          'No crypto module can serve: every module is inhibited or in error.',
        );
      }
      for (let offset = 0; offset < this.#modules.length; offset += 1) {
        const candidate = this.#modules[(this.#next + offset) % this.#modules.length];
        if (candidate !== undefined && usable.includes(candidate) && !this.#leased.has(candidate)) {
          this.#next = (this.#next + offset + 1) % this.#modules.length;
          this.#leased.add(candidate);
          return candidate;
        }
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** Stops the service once as many modules as the threshold are inhibited (after a command, or at start). */
  reviewInhibitions(): void {
    const inhibited = this.#modules.filter((module) => module.isInhibited);
    // A database that lost what a module committed is suspect for every module: the others cannot
    // tell its restored packages from current ones. Damage to one module's memory is its own.
    const byDatabase = inhibited.filter((module) => module.status().inhibited?.cause === 'database');
    if (this.#stopped === null && (inhibited.length >= this.#threshold || byDatabase.length > 0)) {
      this.#stopped = {
        reason:
          byDatabase.length > 0
            ? `the database does not hold what module(s) ${byDatabase.map((module) => module.serial).join(', ')} committed: ${byDatabase[0]?.status().inhibited?.reason ?? ''}`
            : `${inhibited.length} module(s) inhibited (${inhibited.map((module) => module.serial).join(', ')}), threshold ${this.#threshold}`,
        since: new Date().toISOString(),
      };
    }
  }

  #refuseWhenStopped(): void {
    if (this.#stopped !== null) {
      throw new VaultError(
        'vault.service_stopped',
        `The service is stopped until an operator acts: ${this.#stopped.reason}.`,
      );
    }
  }
}
