/**
 * Backups of the database, with retention, by real tools: `sqlite/` (VACUUM INTO through
 * node:sqlite, a manifest with SHA-256 and migration level) and `pgbackrest/` (pgBackRest full and
 * incremental backups, continuous WAL archiving). Both implement {@link BackupBackend}.
 *
 * Restoring (what `indicia restore` builds on):
 *
 * - `restore(id | 'latest', destination, options?)` verifies the backup first and refuses one that
 *   does not verify (`backup.corrupt`); it never overwrites: `destination` must not exist (SQLite:
 *   no file, -wal, -shm or -journal there) or be an empty folder (PostgreSQL), else
 *   `backup.destination_exists`.
 * - SQLite: `destination` is a new database file, identical to the backup (SHA-256 checked after the
 *   copy); it holds every commit up to the backup's `takenAt`. The report names the backup and the
 *   migration level.
 * - PostgreSQL: `destination` is a new data directory owned by the cluster's OS user, with
 *   recovery configured (recovery.signal; restore_command fetching WAL from the archive). Nothing is
 *   recovered until PostgreSQL starts on it: it replays the archived WAL to the end of the archive
 *   (default; the report's `lastArchivedWal` is the newest segment) or to `{ time }` and then
 *   promotes. Wait until `pg_is_in_recovery()` is false before using it. `archiveMode: 'off'` for a
 *   copy started beside a primary that still archives into the same repository.
 *
 * @example
 * const backups = backupBackendFor(config, join(config.dataDir, 'indicia.sqlite'));
 * const { backupId, takenAt } = await backups.restore('latest', '/var/lib/indicia/indicia.sqlite');
 */
export type {
  BackupBackend,
  BackupKind,
  BackupRecord,
  PruneReport,
  RestoreOptions,
  RestoreReport,
  VerifyReport,
} from './backup-backend.ts';
export { BackupError, type BackupErrorCode } from './backup-error.ts';
export { backupBackendFor, backupDirectoryFor, pgBackRestSettingsFor } from './backup-settings.ts';
export {
  type PgBackRestSettings,
  createPgBackRestBackups,
  postgresArchiveSettings,
  renderPgBackRestConfig,
} from './pgbackrest/index.ts';
export { type SqliteManifest, createSqliteBackups } from './sqlite/index.ts';
