import { IndiciaError } from '../errors/index.ts';

export type CustodyErrorCode =
  | 'custody.meter_not_found'
  | 'custody.meter_exists'
  | 'custody.concurrent_update'
  | 'custody.meter_busy'
  | 'custody.module_not_found'
  | 'custody.module_log_broken';

export class CustodyError extends IndiciaError<CustodyErrorCode> {}
