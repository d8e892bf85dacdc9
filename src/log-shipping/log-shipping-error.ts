import { IndiciaError } from '../errors/index.ts';

export type LogShippingErrorCode =
  | 'shipping.conflict'
  | 'shipping.archive_missing'
  | 'shipping.shipment_damaged'
  | 'shipping.shipment_missing';

export class LogShippingError extends IndiciaError<LogShippingErrorCode> {}
