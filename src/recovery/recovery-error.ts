import { IndiciaError } from '../errors/index.ts';

export type RecoveryErrorCode =
  | 'recovery.wrong_dialect'
  | 'recovery.log_differs'
  | 'recovery.archive_incomplete'
  | 'recovery.concurrent_change'
  | 'recovery.database_exists'
  | 'recovery.backup_invalid';

export class RecoveryError extends IndiciaError<RecoveryErrorCode> {}

/** A meter's package moved under a restore: something else writes to the database. */
export function concurrentChange(meterId: string): RecoveryError {
  return new RecoveryError(
    'recovery.concurrent_change',
    `Meter ${meterId}'s package changed during the restore: is a server running on this database? Stop it and restore again.`,
  );
}
