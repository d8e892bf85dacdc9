import type { CryptoModule } from './crypto-module.ts';
import type { ModuleStatus } from './module-status.ts';
import { VaultError } from './vault-error.ts';

export interface ModulePoolOptions {
  /** This many inhibited modules stop the whole service until an operator acts. */
  readonly inhibitThreshold: number;
}

/** An inhibition the database records for a module of the installation (any process's). */
export interface RecordedInhibition {
  readonly serial: string;
  readonly reason: string;
  readonly since: string;
  readonly cause: 'database' | 'module';
}

export interface PoolStatus {
  readonly stopped: { readonly reason: string; readonly since: string } | null;
  readonly inhibitThreshold: number;
  /** Inhibited modules of the whole installation: this pool's and those the database records. */
  readonly inhibitedModules: number;
  /** Inhibitions recorded for modules outside this pool (another server's, the operator's). */
  readonly inhibitedElsewhere: readonly RecordedInhibition[];
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
  /** What the database last said about the installation's inhibited modules, by serial. */
  #recorded = new Map<string, RecordedInhibition>();

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
    const own = new Set(this.#modules.map((module) => module.serial));
    return {
      stopped: this.#stopped,
      inhibitThreshold: this.#threshold,
      inhibitedModules: this.#inhibitions().length,
      inhibitedElsewhere: [...this.#recorded.values()].filter((record) => !own.has(record.serial)),
      waitingCommands: this.#waiting.length,
      modules: this.#modules.map((module) => module.status()),
    };
  }

  /**
   * Takes the database's list of inhibited modules (recorded by every process of the
   * installation): they count towards the threshold here too, and a module of this pool recorded
   * there (say, found by `indicia modules status`) serves no more. Call reviewInhibitions after.
   */
  noteRecordedInhibitions(records: readonly RecordedInhibition[]): void {
    this.#recorded = new Map(records.map((record) => [record.serial, record]));
  }

  /**
   * Refuses when the service is stopped, or when `module` (leased) is inhibited by the
   * installation's record since it was leased.
   */
  assertServing(module?: CryptoModule): void {
    this.#refuseWhenStopped();
    const recorded = module === undefined ? undefined : this.#recorded.get(module.serial);
    if (module !== undefined && recorded !== undefined) {
      throw new VaultError(
        'vault.module_inhibited',
        `Module ${module.serial} is inhibited: ${recorded.reason}.`,
      );
    }
  }

  /** Stops the service at once (a protected log that does not verify as written); resume() restarts it. */
  stop(reason: string): void {
    this.#stopped ??= { reason, since: new Date().toISOString() };
  }

  /** The operator's word that the cause is dealt with (modules re-anchored or replaced). */
  resume(): void {
    const inhibitions = this.#inhibitions();
    const inhibited = inhibitions.length;
    const byDatabase = inhibitions.some((inhibition) => inhibition.cause === 'database');
    if (this.#zeroized().length > 0) {
      throw new VaultError(
        'vault.zeroized',
        'The keys were zeroized: the service cannot resume; an officer creates new keys (indicia modules initialize).',
      );
    }
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
      const usable = this.#modules.filter(
        (module) => module.state === 'user' && !module.isInhibited && !this.#recorded.has(module.serial),
      );
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

  /**
   * Stops the service once as many modules of the installation as the threshold are inhibited
   * (this pool's and those the database records), at once for a database-caused inhibition, and
   * when the keys were zeroized (after a command, at start, or after reading the database's record).
   */
  reviewInhibitions(): void {
    if (this.#stopped !== null) return;
    const inhibited = this.#inhibitions();
    // A database that lost what a module committed is suspect for every module: the others cannot
    // tell its restored packages from current ones. Damage to one module's memory is its own.
    const byDatabase = inhibited.filter((inhibition) => inhibition.cause === 'database');
    const zeroized = this.#zeroized();
    const since = new Date().toISOString();
    if (zeroized.length > 0) {
      this.#stopped = {
        reason: `the installation's keys were zeroized through module ${zeroized.map((module) => module.serial).join(', ')}; nothing sealed under them opens again`,
        since,
      };
    } else if (byDatabase.length > 0) {
      this.#stopped = {
        reason: `the database does not hold what module(s) ${byDatabase.map((inhibition) => inhibition.serial).join(', ')} committed: ${byDatabase[0]?.reason ?? ''}`,
        since,
      };
    } else if (inhibited.length >= this.#threshold) {
      this.#stopped = {
        reason: `${inhibited.length} module(s) of the installation inhibited (${inhibited.map((inhibition) => inhibition.serial).join(', ')}), threshold ${this.#threshold}`,
        since,
      };
    }
  }

  /** Every inhibited module of the installation, once each: this pool's own word first. */
  #inhibitions(): RecordedInhibition[] {
    const found = new Map<string, RecordedInhibition>();
    for (const module of this.#modules) {
      const inhibited = module.status().inhibited;
      if (inhibited !== null) found.set(module.serial, { serial: module.serial, ...inhibited });
    }
    for (const record of this.#recorded.values())
      if (!found.has(record.serial)) found.set(record.serial, record);
    return [...found.values()];
  }

  #zeroized(): CryptoModule[] {
    return this.#modules.filter((module) => module.state === 'zeroized');
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
