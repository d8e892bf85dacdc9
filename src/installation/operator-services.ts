// Custody and the operator's services for commands run beside (or without) a server.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type AuthorityService, createAuthorityService } from '../authority/index.ts';
import { type CustodyService, createCustodyService } from '../custody/index.ts';
import type { Config } from '../config/index.ts';
import { moduleNumbersOf, readServerId } from '../fleet/index.ts';
import {
  DEFAULT_METER_SETTINGS,
  type MeterSettings,
  type MetersService,
  createMetersService,
} from '../meters/index.ts';
import { StartupError, acquireLockFile } from '../startup/index.ts';
import { type Store } from '../store/index.ts';
import { type ModulePool, OPERATOR_MODULE_NUMBER } from '../vault/index.ts';
import { openMigratedStore } from './database.ts';
import { OPERATOR_MODULE_LOCK, openModulePool } from './modules.ts';

export async function withCustody<T>(
  config: Config,
  work: (custody: CustodyService) => Promise<T>,
): Promise<T> {
  const { store } = await openMigratedStore(config);
  try {
    // In a farm, this data directory's own module numbers (fleet/), never another server's.
    const { own } = await moduleNumbersOf(store.db, readServerId(config.dataDir));
    const { pool } = await openModulePool(config, {
      initializeIfEmpty: false,
      ...(own.length > 0 ? { moduleNumbers: own.slice(0, config.cryptoModules) } : {}),
    });
    try {
      return await work(createCustodyService({ db: store.db, pool }));
    } finally {
      await pool.close();
    }
  } finally {
    await store.close();
  }
}

/** The meters' settings: the vendor's defaults, with the mailing-date window from configuration. */
export function meterSettingsFor(config: Config): MeterSettings {
  return {
    ...DEFAULT_METER_SETTINGS,
    mailingDateDaysAhead: config.mailingDateDaysAhead,
    timeZone: config.timeZone,
    deviceKeyDays: config.deviceKeyDays,
    pricingPlans: config.pricingPlans,
    defaultPricingPlan: config.defaultPricingPlan,
  };
}

export interface OperatorServices {
  readonly store: Store;
  /** The operator's module (number 100), for work custody does not do (audit anchor MACs). */
  readonly pool: ModulePool;
  readonly custody: CustodyService;
  readonly authority: AuthorityService;
  readonly meters: MetersService;
}

/**
 * Services for one operator command (`indicia meters ...`), on a crypto module of its own
 * (number 100) so the command can run beside a live server. A lock file keeps two commands from
 * sharing that module.
 */
/** The meter settings this installation runs with: the defaults, and the configured device key life span. */

export async function withOperatorServices<T>(
  config: Config,
  work: (services: OperatorServices) => Promise<T>,
): Promise<T> {
  if (!existsSync(config.dataDir)) {
    throw new StartupError(
      'startup.not_installed',
      `There is no Indicia installation in ${config.dataDir}: start the server once (indicia serve --data-dir ${config.dataDir}) to create it, or give the right --data-dir.`,
    );
  }
  const lock = join(config.dataDir, OPERATOR_MODULE_LOCK);
  const release = acquireLockFile(lock);
  try {
    const { store } = await openMigratedStore(config);
    try {
      const { pool } = await openModulePool(config, {
        initializeIfEmpty: false,
        firstModuleNumber: OPERATOR_MODULE_NUMBER,
        modules: 1,
      });
      try {
        const custody = createCustodyService({
          db: store.db,
          pool,
          meterWaitTimeoutMs: config.meterWaitTimeoutMs,
        });
        // Registers module 100 and compares it with the database: an inhibition shows at once,
        // and the installation's recorded inhibitions count here as in the server.
        await custody.assessModules({ verifyLog: false });
        const authority = createAuthorityService({ db: store.db, custody });
        return await work({
          store,
          pool,
          custody,
          authority,
          meters: createMetersService({
            db: store.db,
            custody,
            authority,
            settings: meterSettingsFor(config),
            scanFraudPolicy: config.scanFraudPolicy,
          }),
        });
      } finally {
        await pool.close();
      }
    } finally {
      await store.close();
    }
  } finally {
    release();
  }
}
