import { IndiciaError } from '../errors/index.ts';

export type MeterErrorCode =
  | 'meter.not_found'
  | 'meter.not_active'
  | 'meter.request_invalid'
  | 'meter.mailing_date_invalid'
  | 'meter.certificate_invalid'
  | 'meter.indicium_not_found'
  | 'meter.indicium_not_valid'
  | 'meter.refund_limit'
  | 'meter.refund_already_requested'
  | 'meter.refund_window_closed'
  | 'meter.piece_used'
  | 'meter.refund_request_not_found'
  | 'meter.refund_request_decided'
  | 'meter.pricing_plan_unknown'
  | 'meter.pool_not_set_up'
  | 'meter.pool_empty'
  | 'meter.insufficient_balance'
  | 'meter.receipt_not_found'
  | 'meter.device_not_enrolled'
  | 'meter.device_not_found';

export class MeterError extends IndiciaError<MeterErrorCode> {}
