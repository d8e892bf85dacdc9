import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { type CustodyService, createCustodyService, listInstallationModules } from '../custody/index.ts';
import { readFleet, readServerId } from '../fleet/index.ts';
import {
  OPERATOR_MODULE_LOCK,
  OPERATOR_MODULE_NUMBER,
  installationModuleNumbers,
  lockHolder,
  moduleOpener,
  openMigratedStore,
  openModulePool,
  takeServerModulesLock,
  SERVER_MODULES_LOCK,
} from '../installation/index.ts';
import { StartupError, acquireLockFile } from '../startup/index.ts';
import type { Store } from '../store/index.ts';
import { UsageError } from './commands.ts';

/** Whose module a number is, in words, with whether that process runs now. */
export function ownerText(config: Config, moduleNumber: number | null): string {
  if (moduleNumber === null) return 'module number unknown';
  if (moduleNumber === OPERATOR_MODULE_NUMBER) {
    const pid = lockHolder(config.dataDir, OPERATOR_MODULE_LOCK);
    return `the operator commands' module (${OPERATOR_MODULE_NUMBER}); ${pid === null ? 'no operator command is running' : `an operator command is running (pid ${pid})`}`;
  }
  const pid = lockHolder(config.dataDir, SERVER_MODULES_LOCK);
  const which =
    moduleNumber <= config.cryptoModules
      ? `server module ${moduleNumber} of ${config.cryptoModules}`
      : `server module ${moduleNumber} (beyond the ${config.cryptoModules} configured)`;
  return `${which}; ${pid === null ? 'the server is not running' : `the server is running (pid ${pid})`}`;
}

/**
 * The number of the installation's module `serial`: from the module table, else by opening each
 * module number the installation has. A serial retired by zeroization is refused with its date.
 */
async function moduleNumberOf(config: Config, store: Store, serial: string): Promise<number> {
  const row = (await listInstallationModules(store.db)).find((module) => module.serial === serial);
  if (row?.zeroizedAt !== undefined && row.zeroizedAt !== null) {
    throw new UsageError(
      `module ${serial} was retired when the installation's keys were zeroized at ${row.zeroizedAt}; see indicia modules status`,
    );
  }
  if (row?.moduleNumber !== undefined && row.moduleNumber !== null) return row.moduleNumber;
  const open = moduleOpener(config);
  for (const moduleNumber of await installationModuleNumbers(config, store)) {
    const module = await open(moduleNumber);
    const found = module.serial === serial;
    await module.close();
    if (found) return moduleNumber;
  }
  throw new UsageError(`this installation has no module ${serial}; indicia modules status lists its modules`);
}

/**
 * In a farm, maintenance runs where the module's ring is: refuses a module number another
 * server's data directory claims, and (for `all`: zeroization) any live server of the fleet.
 */
async function assertFleetAllows(
  config: Config,
  store: Store,
  moduleNumber: number,
  action: string,
  all: boolean,
) {
  const fleet = await readFleet(store.db, store.dialect);
  const here = readServerId(config.dataDir);
  const claim = fleet.modules.find((module) => module.moduleNumber === moduleNumber);
  const owner = fleet.servers.find((server) => server.serverId === claim?.serverId);
  if (claim !== undefined && claim.serverId !== here)
    throw new UsageError(
      `module number ${moduleNumber} belongs to server ${claim.serverId}${owner === undefined ? '' : ` (data directory ${owner.dataDir} on ${owner.host})`}: its checkpoint ring is there, so ${action} runs on that host with --data-dir ${owner?.dataDir ?? '<its data directory>'}`,
    );
  const live = fleet.servers.filter((server) => server.state === 'live' || server.state === 'unresponsive');
  if (all && live.length > 0)
    throw new StartupError(
      'startup.locked',
      `${action} needs every server of the installation stopped; ${live.length === 1 ? 'a server is' : 'servers are'} running elsewhere: ${live.map((server) => `${server.serverId} (${server.host}, pid ${server.pid}${server.port === null ? '' : `, port ${server.port}`})`).join(', ')}`,
    );
}

/** Takes the lock of the process that owns module `moduleNumber` (and, for `all`, both locks). */
function lockOwners(config: Config, moduleNumber: number, action: string, all: boolean): () => void {
  const releases: (() => void)[] = [];
  const release = (): void => {
    for (const undo of releases.reverse()) undo();
  };
  try {
    if (all || moduleNumber !== OPERATOR_MODULE_NUMBER) {
      releases.push(
        takeServerModulesLock(
          config.dataDir,
          `the server is running and uses its modules: ${action} needs it stopped; stop it first`,
        ),
      );
    }
    if (all || moduleNumber === OPERATOR_MODULE_NUMBER) {
      try {
        releases.push(acquireLockFile(join(config.dataDir, OPERATOR_MODULE_LOCK)));
      } catch (error) {
        if (error instanceof StartupError && error.code === 'startup.locked')
          throw new StartupError(
            'startup.locked',
            `an operator command uses the operator module (pid ${lockHolder(config.dataDir, OPERATOR_MODULE_LOCK) ?? '?'}): ${action} waits until it finishes`,
          );
        throw error;
      }
    }
    return release;
  } catch (error) {
    release();
    throw error;
  }
}

/**
 * Runs maintenance on any one module of the installation, a server's or the operator's, opened
 * by its number in a pool of its own, while its owner is stopped (the owner's lock is held
 * meanwhile, so neither a server nor an operator command starts on it). `lockAll` holds every
 * owner's lock: zeroization takes the keys of all of them.
 */
export async function withInstallationModule<T>(
  config: Config,
  serial: string,
  action: string,
  work: (custody: CustodyService) => Promise<T>,
  options: { lockAll?: boolean } = {},
): Promise<T> {
  moduleOpener(config); // without a KEK (or token) this fails before the database is touched
  const { store } = await openMigratedStore(config);
  try {
    const moduleNumber = await moduleNumberOf(config, store, serial);
    const release = lockOwners(config, moduleNumber, action, options.lockAll === true);
    try {
      await assertFleetAllows(config, store, moduleNumber, action, options.lockAll === true);
      const { pool } = await openModulePool(config, {
        initializeIfEmpty: false,
        firstModuleNumber: moduleNumber,
        modules: 1,
      });
      try {
        return await work(createCustodyService({ db: store.db, pool }));
      } finally {
        await pool.close();
      }
    } finally {
      release();
    }
  } finally {
    await store.close();
  }
}

/** Holds every owner's lock (server and operator) around `work`: nothing else runs a module meanwhile. */
export async function withEveryModuleStopped<T>(
  config: Config,
  action: string,
  work: () => Promise<T>,
): Promise<T> {
  const release = lockOwners(config, 1, action, true);
  try {
    return await work();
  } finally {
    release();
  }
}
