import { IndiciaError } from '../errors/index.ts';

export type RecoveryErrorCode =
  | 'recovery.wrong_dialect'
  | 'recovery.log_differs'
  | 'recovery.archive_incomplete'
  | 'recovery.concurrent_change'
  | 'recovery.database_exists'
  | 'recovery.backup_invalid';

export class RecoveryError extends IndiciaError<RecoveryErrorCode> {}
