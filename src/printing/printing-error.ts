import { IndiciaError } from '../errors/index.ts';

export type PrintingErrorCode =
  | 'label.serial_unknown'
  | 'label.serial_used'
  | 'label.sheet_unknown'
  | 'label.sheet_exhausted'
  | 'label.address_missing'
  | 'label.ad_unknown'
  | 'label.ad_invalid'
  | 'mailing_list.invalid'
  | 'mailing_list.not_found'
  | 'mailing_list.has_errors'
  | 'mailing_list.changed'
  | 'mailing_list.not_in_review'
  | 'mailing_list.not_printed';

export class PrintingError extends IndiciaError<PrintingErrorCode> {}
