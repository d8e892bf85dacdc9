import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { generatePassword } from '../passwords/index.ts';
import type { CryptoBackend } from './backend/crypto-backend.ts';
import { Pkcs11Backend } from './backend/pkcs11/index.ts';
import { SoftwareBackend, SoftwareKeystore } from './backend/software/index.ts';
import { CryptoModule } from './crypto-module.ts';
import { ModulePool } from './module-pool.ts';
import { VaultError } from './vault-error.ts';

/**
 * The module number operator commands (`indicia meters …`) use, apart from the server's modules
 * 1..N: each process runs modules of its own.
 */
export const OPERATOR_MODULE_NUMBER = 100;

/** Where the modules' keys live: a software keystore under a KEK, or a PKCS#11 token. */
export type BackendSettings =
  | { readonly backend: 'software'; readonly vaultDir: string; readonly kek: Buffer }
  | {
      readonly backend: 'pkcs11';
      readonly library: string;
      readonly tokenLabel: string;
      readonly userPin: string;
    };

export interface PoolSettings {
  readonly modules: number;
  readonly ringSize: number;
  readonly inhibitThreshold: number;
  /** Create the keys when the modules have none (the server's first start). Default true. */
  readonly initializeIfEmpty?: boolean;
  /**
   * Create keys even where an officer zeroized them (`indicia modules initialize`); otherwise a
   * zeroized module stops the opening, so that no start silently replaces destroyed keys.
   */
  readonly initializeZeroized?: boolean;
  /**
   * Number of the first module (default 1). Each process must run modules of its own: two
   * processes sharing a module would share its checkpoint ring and trip its rollback detection.
   */
  readonly firstModuleNumber?: number;
  /** The module numbers to open, when not a run from `firstModuleNumber` (a server's claimed numbers). */
  readonly moduleNumbers?: readonly number[];
}

export interface OpenedModules {
  readonly pool: ModulePool;
  /** Set only when this start created the keys: the new crypto-officer credential, to show once. */
  readonly createdOfficerCredential: string | undefined;
  /** Modules that failed their power-up tests and serve nothing (they stay in the pool's status). */
  readonly failedModules: readonly string[];
}

/**
 * The module numbers whose software module folders exist (`<vaultDir>/modules/<n>/identity.json`),
 * ascending; null for PKCS#11, whose token objects exist only once a module wrote its ring.
 */
export function existingModuleNumbers(settings: BackendSettings): number[] | null {
  if (settings.backend === 'pkcs11') return null;
  const folder = join(settings.vaultDir, 'modules');
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((name) => /^[1-9][0-9]*$/.test(name) && existsSync(join(folder, name, 'identity.json')))
    .map(Number)
    .sort((left, right) => left - right);
}

/** Creates the backend of module number n (1-based) for these settings. */
export function backendFactory(settings: BackendSettings): (moduleNumber: number) => Promise<CryptoBackend> {
  if (settings.backend === 'pkcs11') {
    return (moduleNumber) => Pkcs11Backend.open(settings, moduleNumber);
  }
  const keystore = new SoftwareKeystore(settings.vaultDir, settings.kek);
  return (moduleNumber) => Promise.resolve(new SoftwareBackend(keystore, moduleNumber));
}

/**
 * Starts the configured crypto modules (power-up tests), creates the keys on a first start with a
 * fresh crypto-officer credential, and puts every healthy module into the crypto-user role in a
 * pool. Fails when no module passes its tests.
 *
 * @example const { pool } = await openCryptoModules({ backend: 'software', vaultDir, kek }, { modules: 2, ringSize: 3, inhibitThreshold: 1 });
 */
export async function openCryptoModules(
  backend: BackendSettings,
  pool: PoolSettings,
): Promise<OpenedModules> {
  const createBackend = backendFactory(backend);
  const modules: CryptoModule[] = [];
  let createdOfficerCredential: string | undefined;
  try {
    const first = pool.firstModuleNumber ?? 1;
    const numbers = pool.moduleNumbers ?? Array.from({ length: pool.modules }, (_, index) => first + index);
    for (const number of numbers) {
      const module = new CryptoModule(await createBackend(number), {
        ringSize: pool.ringSize,
        moduleNumber: number,
      });
      modules.push(module);
      await module.start();
      if (module.state === 'zeroized' && pool.initializeZeroized !== true) {
        throw new VaultError(
          'vault.zeroized',
          `the installation's keys were zeroized at ${module.status().zeroizedAt ?? 'an unknown time'} (module ${module.serial}): nothing sealed under them opens again; an officer creates new keys with \`indicia modules initialize\` (for a new installation)`,
        );
      }
      if (module.state === 'uninitialized' || module.state === 'zeroized') {
        if (pool.initializeIfEmpty === false) {
          throw new VaultError(
            'vault.wrong_state',
            'the crypto modules have no keys yet; start the server once (`indicia serve`) to create them',
          );
        }
        createdOfficerCredential = generatePassword();
        await module.login('crypto-officer', createdOfficerCredential);
        await module.initializeKeys();
        module.logout();
      }
    }
    const failedModules = modules.filter((module) => module.state === 'error').map((module) => module.serial);
    const healthy = modules.filter((module) => module.state === 'idle');
    if (healthy.length === 0) {
      throw new VaultError(
        'vault.error_state',
        `no crypto module passed its power-up tests (${modules.map((module) => `${module.serial}: ${module.status().errorReason ?? module.state}`).join('; ')})`,
      );
    }
    for (const module of healthy) await module.login('crypto-user');
    return {
      pool: new ModulePool(modules, { inhibitThreshold: pool.inhibitThreshold }),
      createdOfficerCredential,
      failedModules,
    };
  } catch (error) {
    await Promise.all(modules.map((module) => module.close()));
    throw error;
  }
}
