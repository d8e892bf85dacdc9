import type { Mills } from '../../src/money/index.ts';
import { type CommandResult, CryptoModule, type CryptoModuleOptions } from '../../src/vault/index.ts';
import type { BackendInstallation } from './crypto-backends.ts';

/** A started module with keys, in the crypto-user role. Initializes the installation's keys if needed. */
export async function readyModule(
  installation: BackendInstallation,
  moduleNumber = 1,
  options: CryptoModuleOptions = {},
): Promise<CryptoModule> {
  const module = new CryptoModule(await installation.newBackend(moduleNumber), options);
  await module.start();
  if (module.state === 'uninitialized') {
    await module.login('crypto-officer', installation.officerCredential);
    await module.initializeKeys();
    module.logout();
  }
  await module.login('crypto-user');
  return module;
}

/** What the database would hold for one meter and one module, kept by the tests themselves. */
export class SimulatedDatabase {
  moduleCheckpoint: Buffer | null = null;
  sealedPackage: Buffer = Buffer.alloc(0);
  sequence = 0;
  readonly history: { checkpoint: Buffer; sealedPackage: Buffer; sequence: number }[] = [];

  /**
   * Commits a command's result; with the module, also confirms it there as the server does after
   * a durable commit (before anything of it is released).
   */
  async commit(result: CommandResult, module?: CryptoModule): Promise<void> {
    this.moduleCheckpoint = result.checkpoint;
    this.sealedPackage = result.sealedPackage;
    this.sequence = result.transaction.packageSequence;
    this.history.push({
      checkpoint: result.checkpoint,
      sealedPackage: result.sealedPackage,
      sequence: this.sequence,
    });
    await module?.confirmCommitted(result.record.counter);
  }

  /** Restores the state as it was `transactions` commits ago. */
  rollBack(transactions: number): void {
    const restored = this.history[this.history.length - 1 - transactions];
    if (restored === undefined) throw new Error(`cannot roll back ${transactions} transactions`);
    this.moduleCheckpoint = restored.checkpoint;
    this.sealedPackage = restored.sealedPackage;
    this.sequence = restored.sequence;
  }
}

/** Creates a meter on the module and commits it to the simulated database. */
export async function createMeter(
  module: CryptoModule,
  database: SimulatedDatabase,
  meterId: string,
  maxDescendingRegister = 500_000 as Mills,
  algorithm: 'ecdsa-p256' | 'ed25519' = 'ecdsa-p256',
): Promise<CommandResult> {
  const result = await module.createPackage({
    databaseCheckpoint: database.moduleCheckpoint,
    meterId,
    maxDescendingRegister,
    licensingZip: '94107',
    algorithm,
  });
  await database.commit(result, module);
  return result;
}
