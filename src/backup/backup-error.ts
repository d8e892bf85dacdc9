import { IndiciaError } from '../errors/index.ts';

export type BackupErrorCode =
  /** No backup has that id (a typo, or pruned by retention). */
  | 'backup.not_found'
  /** The backup folder holds no backup yet. */
  | 'backup.none'
  /** pgBackRest is not installed or not on PATH. */
  | 'backup.tool_missing'
  /** A setting backups need is missing (PostgreSQL: the data directory). */
  | 'backup.not_configured'
  /** The backend cannot take that kind of backup (SQLite: incremental). */
  | 'backup.kind_unsupported'
  /** A restore would overwrite something: its destination exists and is not empty. */
  | 'backup.destination_exists'
  /** A point-in-time target that is not a time. */
  | 'backup.invalid_target'
  /** The backup does not verify (checksum, integrity check): it is not restored. */
  | 'backup.corrupt'
  /** The backup tool ran and failed; the message carries its own words. */
  | 'backup.failed';

export class BackupError extends IndiciaError<BackupErrorCode> {}
