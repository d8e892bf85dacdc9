// Where an installation's database is, and opening it migrated.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { assertDataDirWritable, assertDatabaseNotMoved } from '../startup/index.ts';
import {
  type DatabaseTarget,
  type MigrationReport,
  type Store,
  migrateToLatest,
  openStore,
} from '../store/index.ts';

export const SQLITE_FILE_NAME = 'indicia.sqlite';

/** Where the database is for a configuration: PostgreSQL when a URL is set, else the SQLite file. */
export function databaseTargetFor(config: Config): DatabaseTarget {
  return config.databaseUrl === undefined
    ? { dialect: 'sqlite', file: join(config.dataDir, SQLITE_FILE_NAME) }
    : { dialect: 'postgres', url: config.databaseUrl };
}

/** Where the protected log is shipped: INDICIA_LOG_ARCHIVE_DIR, else <dataDir>/log-archive. */
export function logArchiveDir(config: Config): string {
  return config.logArchiveDir ?? join(config.dataDir, 'log-archive');
}

/** Whether the configured database exists already (PostgreSQL: always taken to). */
export function hasDatabase(config: Config): boolean {
  return config.databaseUrl !== undefined || existsSync(join(config.dataDir, SQLITE_FILE_NAME));
}

/** Opens and migrates the configured database; used by `serve` and `migrate`. */
export async function openMigratedStore(
  config: Config,
): Promise<{ store: Store; migrations: MigrationReport }> {
  assertDataDirWritable(config.dataDir);
  assertDatabaseNotMoved(config.dataDir, config.databaseUrl);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore(databaseTargetFor(config));
  try {
    return { store, migrations: await migrateToLatest(store.db, store.location) };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/**
 * Where the crypto modules' keys are: for the software backend the KEK comes from INDICIA_KEK,
 * INDICIA_KEK_FILE, or the default file in the data directory (created on first start).
 */
