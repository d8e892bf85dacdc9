import { IndiciaError } from '../errors/index.ts';

export type StoreErrorCode =
  | 'store.unavailable'
  | 'store.schema_newer'
  | 'store.migration_failed'
  | 'store.integer_out_of_range'
  | 'store.conflict'
  | 'store.target_not_empty'
  | 'store.copy_failed'
  | 'store.copy_not_verified';

export class StoreError extends IndiciaError<StoreErrorCode> {}
