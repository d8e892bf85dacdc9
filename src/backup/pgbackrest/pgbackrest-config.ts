import { resolve } from 'node:path';

export interface PgBackRestSettings {
  /** The backup folder, pgBackRest's repo1-path. */
  readonly directory: string;
  /** Full backups kept (repo1-retention-full). */
  readonly retention: number;
  readonly stanza: string;
  /** pgbackrest.conf; `<directory>/pgbackrest.conf` when omitted. */
  readonly configFile?: string | undefined;
  /** The cluster's data directory on this host (pg1-path). */
  readonly pgDataDir: string;
  readonly pgPort: number;
  /** Folder of the cluster's Unix socket (pg1-socket-path). */
  readonly pgSocketDir: string;
  /** OS user pgBackRest runs as (through runuser) when this process is root, normally postgres. */
  readonly runAs?: string | undefined;
  /** archive_timeout: the log-ship interval, INDICIA_LOG_SHIP_INTERVAL. */
  readonly archiveTimeoutSeconds: number;
}

/** The first line of a pgbackrest.conf Indicia wrote and keeps writing; without it the file is the operator's. */
export const WRITTEN_BY_INDICIA =
  '# Written by Indicia from its settings (docs/operations.md, "Backups"); remove this line to keep your own edits.';

export function configFileOf(settings: PgBackRestSettings): string {
  return resolve(settings.configFile ?? resolve(settings.directory, 'pgbackrest.conf'));
}

/**
 * The pgbackrest.conf Indicia's settings describe: one repository (the backup folder) keeping
 * `retention` full backups, and one stanza for the cluster on this host.
 */
export function renderPgBackRestConfig(settings: PgBackRestSettings): string {
  const directory = resolve(settings.directory);
  return [
    WRITTEN_BY_INDICIA,
    '[global]',
    `repo1-path=${directory}`,
    'repo1-retention-full-type=count',
    `repo1-retention-full=${settings.retention}`,
    // An immediate checkpoint at the start: the backup begins now, not at the next checkpoint.
    'start-fast=y',
    `log-path=${resolve(directory, 'log')}`,
    `lock-path=${resolve(directory, 'lock')}`,
    'log-level-console=warn',
    'log-level-file=info',
    '',
    `[${settings.stanza}]`,
    `pg1-path=${resolve(settings.pgDataDir)}`,
    `pg1-port=${settings.pgPort}`,
    `pg1-socket-path=${resolve(settings.pgSocketDir)}`,
    '',
  ].join('\n');
}

/**
 * The postgresql.conf lines continuous WAL archiving to pgBackRest needs (a restart applies
 * archive_mode): every finished WAL segment is pushed, and a segment waits at most the log-ship
 * interval before it is finished.
 *
 * @example postgresArchiveSettings(settings) // { archive_mode: 'on', archive_command: 'pgbackrest --config=… --stanza=indicia archive-push %p', … }
 */
export function postgresArchiveSettings(settings: PgBackRestSettings): Record<string, string> {
  return {
    wal_level: 'replica',
    archive_mode: 'on',
    archive_command: `pgbackrest --config=${configFileOf(settings)} --stanza=${settings.stanza} archive-push %p`,
    archive_timeout: String(settings.archiveTimeoutSeconds),
  };
}
