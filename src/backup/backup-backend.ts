/** A full copy, or (PostgreSQL) only what changed since the last backup. */
export type BackupKind = 'full' | 'incremental';

/** One backup in the backup folder, as `list()` and `take()` return it. */
export interface BackupRecord {
  /** Stable name: SQLite `20261204-020000-123F`; pgBackRest its label (`20261204-020000F`, `…_…I`). */
  readonly id: string;
  readonly kind: BackupKind;
  /** ISO time the backup began: SQLite's snapshot holds every commit up to about then. */
  readonly takenAt: string;
  /** ISO time it was complete. */
  readonly finishedAt: string;
  /** Size of the database it copies, in bytes. */
  readonly bytes: number;
  /** What was backed up: the SQLite file, or `stanza@pg1-path`. */
  readonly source: string;
  /** SQLite: hex SHA-256 of the backup file. */
  readonly sha256?: string;
  /** SQLite: the schema migrations the backup holds (their count and the newest name). */
  readonly migrations?: { readonly count: number; readonly latest: string | null };
  /** PostgreSQL incremental: the backup it builds on. */
  readonly basedOn?: string;
  /** PostgreSQL: the WAL segments the backup needs to be consistent. */
  readonly wal?: { readonly start: string; readonly stop: string };
}

export interface VerifyReport {
  readonly id: string;
  readonly isValid: boolean;
  /** What was checked, one phrase each (shown by `indicia backup verify`). */
  readonly checks: readonly string[];
  /** Empty when valid; otherwise what is wrong, in words an operator can act on. */
  readonly problems: readonly string[];
}

export interface PruneReport {
  readonly removed: readonly string[];
  readonly kept: readonly string[];
}

export interface RestoreOptions {
  /**
   * PostgreSQL: where recovery stops. `end-of-archive` (the default) replays every archived WAL
   * segment; `{ time }` stops at that moment (ISO 8601 with a zone, e.g. 2026-12-04T02:00:00Z).
   * SQLite has no WAL archive: its restore is the backup as it was taken.
   */
  readonly target?: 'end-of-archive' | { readonly time: string };
  /**
   * PostgreSQL: `preserve` keeps the backup's archive_mode (the restored cluster becomes the new
   * primary and archives on, on a new timeline); `off` for a copy beside a running primary.
   */
  readonly archiveMode?: 'preserve' | 'off';
}

/** What a restore recovered: the caller (`indicia restore`) replays the protected log from here. */
export interface RestoreReport {
  readonly backupId: string;
  readonly kind: BackupKind;
  readonly takenAt: string;
  /** The new database file (SQLite) or data directory (PostgreSQL). */
  readonly destination: string;
  /** SQLite: the schema migrations the restored file holds. */
  readonly migrations?: { readonly count: number; readonly latest: string | null };
  /**
   * PostgreSQL: where recovery will stop when the restored cluster starts: the end of the
   * archived WAL, or the target time asked for.
   */
  readonly recoveryTarget?:
    { readonly type: 'end-of-archive' } | { readonly type: 'time'; readonly time: string };
  /**
   * PostgreSQL: the newest WAL segment in the archive and when it was archived: with
   * `end-of-archive`, the restored cluster holds every commit up to that segment's end.
   */
  readonly lastArchivedWal?: { readonly segment: string; readonly archivedAt: string } | null;
}

/**
 * Backups of one database, by one tool. `sqlite/` (VACUUM INTO through node:sqlite) and
 * `pgbackrest/` (pgBackRest) implement it; test/backup/backup-contract.test.ts runs both.
 */
export interface BackupBackend {
  readonly name: 'sqlite' | 'pgbackrest';
  /** The backup folder (pgBackRest's repo1-path). */
  readonly directory: string;
  /**
   * Makes the backup folder ready (PostgreSQL: writes pgbackrest.conf, creates the stanza).
   * `take` calls it; idempotent.
   */
  prepare(): Promise<void>;
  /** Takes a backup of the live database while writes go on, and returns it. */
  take(kind: BackupKind): Promise<BackupRecord>;
  /** Every complete backup, oldest first. */
  list(): Promise<BackupRecord[]>;
  /** Removes what retention no longer keeps: all but the newest N full backups (and what only they need). */
  prune(): Promise<PruneReport>;
  /** Checks one backup end to end; throws `backup.not_found` for an unknown id. */
  verify(id: string): Promise<VerifyReport>;
  /**
   * Restores a backup (`latest`: the newest) into `destination`, which must not exist or be
   * empty: it never overwrites a database. Verifies the backup first (`backup.corrupt`).
   */
  restore(id: string, destination: string, options?: RestoreOptions): Promise<RestoreReport>;
}
