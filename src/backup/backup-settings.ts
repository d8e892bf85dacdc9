import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import type { BackupBackend } from './backup-backend.ts';
import { BackupError } from './backup-error.ts';
import { createPgBackRestBackups } from './pgbackrest/index.ts';
import type { PgBackRestSettings } from './pgbackrest/pgbackrest-config.ts';
import { createSqliteBackups } from './sqlite/index.ts';

/** The backup folder a configuration names: INDICIA_BACKUP_DIR, else `<dataDir>/backups`. */
export function backupDirectoryFor(config: Config): string {
  return config.backupDir ?? join(config.dataDir, 'backups');
}

/** The port of a postgres:// URL (pg1-port); 5432 when it names none or several hosts. */
function portOf(url: string): number {
  try {
    const port = new URL(url).port;
    return port === '' ? 5432 : Number(port);
  } catch {
    return 5432;
  }
}

/** pgBackRest's settings from a PostgreSQL configuration; `backup.not_configured` without the data directory. */
export function pgBackRestSettingsFor(config: Config): PgBackRestSettings {
  if (config.pgDataDir === undefined)
    throw new BackupError(
      'backup.not_configured',
      "PostgreSQL backups run pgBackRest on the database host and need the cluster's data directory: set INDICIA_PG_DATA_DIR (e.g. /var/lib/postgresql/15/main).",
    );
  return {
    directory: backupDirectoryFor(config),
    retention: config.backupRetention,
    stanza: config.pgbackrestStanza,
    configFile: config.pgbackrestConfig,
    pgDataDir: config.pgDataDir,
    pgPort: portOf(config.databaseUrl ?? ''),
    pgSocketDir: config.pgSocketDir,
    runAs: config.pgbackrestRunAs,
    archiveTimeoutSeconds: config.logShipIntervalSeconds,
  };
}

/**
 * The backup backend a configuration chooses: SQLite's when it has no database URL, pgBackRest
 * for PostgreSQL.
 *
 * @example const backups = backupBackendFor(config, join(config.dataDir, 'indicia.sqlite'));
 */
export function backupBackendFor(config: Config, sqliteFile: string): BackupBackend {
  if (config.databaseUrl === undefined)
    return createSqliteBackups({
      databaseFile: sqliteFile,
      directory: backupDirectoryFor(config),
      retention: config.backupRetention,
    });
  return createPgBackRestBackups(pgBackRestSettingsFor(config));
}
