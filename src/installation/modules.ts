// An installation's crypto modules: backend settings, opening pools, which numbers are whose, the lock files.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listInstallationModules } from '../custody/index.ts';
import type { Config } from '../config/index.ts';
import {
  type ServerClaim,
  assertInstallationKeys,
  claimServerModules,
  keysMissing,
  moduleNumbersOf,
  readInstallationKeys,
  readServerId,
} from '../fleet/index.ts';
import { StartupError, acquireLockFile } from '../startup/index.ts';
import { type Store } from '../store/index.ts';
import {
  type BackendSettings,
  CryptoModule,
  type KeyEncryptionKeyFile,
  type OpenedModules,
  backendFactory,
  defaultKekPath,
  ensureKeyEncryptionKey,
  existingModuleNumbers,
  OPERATOR_MODULE_NUMBER,
  VaultError,
  openCryptoModules,
  readKeyEncryptionKey,
} from '../vault/index.ts';
import { databaseTargetFor } from './database.ts';

export function backendSettingsFor(
  config: Config,
  options: { createKekIfMissing: boolean } = { createKekIfMissing: true },
): { settings: BackendSettings; kekFile: KeyEncryptionKeyFile | undefined } {
  if (config.cryptoBackend === 'pkcs11') {
    return {
      settings: {
        backend: 'pkcs11',
        library: config.pkcs11Library ?? '',
        tokenLabel: config.pkcs11TokenLabel ?? '',
        userPin: config.pkcs11Pin ?? '',
      },
      kekFile: undefined,
    };
  }
  const vaultDir = join(config.dataDir, 'vault');
  if (config.kek !== undefined)
    return {
      settings: { backend: 'software', vaultDir, kek: Buffer.from(config.kek, 'base64') },
      kekFile: undefined,
    };
  if (config.kekFile !== undefined) {
    return {
      settings: { backend: 'software', vaultDir, kek: readKeyEncryptionKey(config.kekFile) },
      kekFile: undefined,
    };
  }
  if (!options.createKekIfMissing) {
    return {
      settings: { backend: 'software', vaultDir, kek: readKeyEncryptionKey(defaultKekPath(config.dataDir)) },
      kekFile: undefined,
    };
  }
  const kekFile = ensureKeyEncryptionKey(config.dataDir);
  return { settings: { backend: 'software', vaultDir, kek: readKeyEncryptionKey(kekFile.path) }, kekFile };
}

/**
 * Opens the configured crypto module pool. The server creates the keys on its first start;
 * maintenance commands pass `initializeIfEmpty: false` and never create keys or a KEK.
 */
export async function openModulePool(
  config: Config,
  options: {
    initializeIfEmpty: boolean;
    initializeZeroized?: boolean;
    firstModuleNumber?: number;
    modules?: number;
    moduleNumbers?: readonly number[];
  },
): Promise<OpenedModules & { kekFile: KeyEncryptionKeyFile | undefined }> {
  const { settings, kekFile } = backendSettingsFor(config, { createKekIfMissing: options.initializeIfEmpty });
  const opened = await openCryptoModules(settings, {
    modules: options.modules ?? config.cryptoModules,
    ringSize: config.checkpointRingSize,
    inhibitThreshold: config.inhibitThreshold,
    initializeIfEmpty: options.initializeIfEmpty,
    initializeZeroized: options.initializeZeroized === true,
    ...(options.firstModuleNumber === undefined ? {} : { firstModuleNumber: options.firstModuleNumber }),
    ...(options.moduleNumbers === undefined ? {} : { moduleNumbers: options.moduleNumbers }),
  });
  return { ...opened, kekFile };
}

/** Store, module pool and custody service for maintenance work outside the server; closes them after. */
export { OPERATOR_MODULE_NUMBER };
/** Held by the process using the operator module; and by the server for its modules 1..N. */
export const OPERATOR_MODULE_LOCK = 'operator-module.lock';
export const SERVER_MODULES_LOCK = 'server-modules.lock';

/** The live process holding a lock file in the data directory, or null. */
export function lockHolder(dataDir: string, lock: string): number | null {
  const path = join(dataDir, lock);
  if (!existsSync(path)) return null;
  const pid = Number(readFileSync(path, 'utf8'));
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/**
 * Takes the lock on the server's modules 1..N: two servers sharing a module would trip its
 * rollback detection, and maintenance on one (re-anchoring, zeroizing) needs its server stopped.
 * A holder in this very process (servers started in-process one after another) is taken as is.
 */
export function takeServerModulesLock(dataDir: string, refusal: string): () => void {
  const holder = lockHolder(dataDir, SERVER_MODULES_LOCK);
  if (holder === process.pid) return () => undefined;
  if (holder !== null) throw new StartupError('startup.locked', `${refusal} (pid ${holder}).`);
  return acquireLockFile(join(dataDir, SERVER_MODULES_LOCK));
}

/** A server's modules, opened on the numbers it claimed, and what to undo at shutdown. */
export interface ServerModules {
  readonly claim: ServerClaim;
  readonly opened: Awaited<ReturnType<typeof openModulePool>>;
  readonly release: () => Promise<void>;
}

/**
 * The server's crypto modules, exclusively (fleet/): claims this data directory's module numbers
 * in the database (a live server on them refuses the start), takes the lock file the maintenance
 * commands look for, opens the modules, takes their serials, and checks that they hold the
 * installation's keys. Keys are created only for a database no module has keys for; otherwise a
 * server without them refuses to start, naming how to share them.
 */
export async function startServerModules(config: Config, store: Store): Promise<ServerModules> {
  const claim = await claimServerModules({
    db: store.db,
    target: databaseTargetFor(config),
    dataDir: config.dataDir,
    moduleCount: config.cryptoModules,
    backend: config.cryptoBackend,
  });
  let releaseLock: () => void = () => undefined;
  let opened: Awaited<ReturnType<typeof openModulePool>> | undefined;
  try {
    releaseLock = takeServerModulesLock(
      config.dataDir,
      `another server runs on ${config.dataDir} with its crypto modules ${claim.moduleNumbers.join(', ')}; stop it first`,
    );
    const keys = await readInstallationKeys(store.db);
    try {
      opened = await openModulePool(config, {
        initializeIfEmpty: !keys.exist,
        moduleNumbers: claim.moduleNumbers,
      });
    } catch (error) {
      const why =
        !(error instanceof VaultError) || !keys.exist
          ? null
          : error.code === 'vault.kek_missing'
            ? `it has no key-encryption key (INDICIA_KEK, INDICIA_KEK_FILE, or ${defaultKekPath(config.dataDir)})`
            : error.code === 'vault.wrong_state'
              ? `its crypto modules have no keys (software backend: there is no ${join(config.dataDir, 'vault', 'keyset.json')})`
              : error.code === 'vault.key_file_invalid'
                ? `its key-encryption key does not open its keyset (${error.message})`
                : null;
      if (why !== null) throw keysMissing(config.dataDir, why);
      throw error;
    }
    await claim.bindSerials(opened.pool.modules);
    try {
      await assertInstallationKeys(store.db, opened.pool, {
        backend: config.cryptoBackend,
        serverId: claim.serverId,
        dataDir: config.dataDir,
      });
    } catch (error) {
      if (error instanceof VaultError) throw keysMissing(config.dataDir, error.message);
      throw error;
    }
  } catch (error) {
    await opened?.pool.close();
    releaseLock();
    await claim.release({ forget: true });
    throw error;
  }
  const lock = releaseLock;
  return {
    claim,
    opened,
    release: async () => {
      lock();
      await claim.release();
    },
  };
}

/**
 * The installation's module numbers: the configured server modules 1..N, the software module
 * folders that exist (the operator's 100 among them), and the numbers the module table knows.
 */
export async function installationModuleNumbers(config: Config, store: Store | null): Promise<number[]> {
  const { settings } = backendSettingsFor(config, { createKekIfMissing: false });
  const known = store === null ? [] : await listInstallationModules(store.db);
  // In a farm: this data directory's claimed numbers; never another server's (its ring is elsewhere).
  const claims =
    store === null
      ? { own: [], others: new Set<number>() }
      : await moduleNumbersOf(store.db, readServerId(config.dataDir));
  const numbers = new Set([
    ...(claims.own.length > 0
      ? claims.own
      : Array.from({ length: config.cryptoModules }, (_, index) => index + 1)),
    ...(existingModuleNumbers(settings) ?? []),
    ...known.flatMap((row) =>
      row.moduleNumber !== null && row.zeroizedAt === null && row.backend === settings.backend
        ? [row.moduleNumber]
        : [],
    ),
  ]);
  return [...numbers].filter((n) => !claims.others.has(n)).sort((left, right) => left - right);
}

/** Opens (unstarted) module number n of the configured backend; never creates keys or a KEK. */
export function moduleOpener(config: Config): (moduleNumber: number) => Promise<CryptoModule> {
  const createBackend = backendFactory(backendSettingsFor(config, { createKekIfMissing: false }).settings);
  return async (moduleNumber) =>
    new CryptoModule(await createBackend(moduleNumber), {
      ringSize: config.checkpointRingSize,
      moduleNumber,
    });
}
