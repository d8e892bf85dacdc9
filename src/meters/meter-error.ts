import { IndiciaError } from '../errors/index.ts';

export type MeterErrorCode =
  'meter.not_found' | 'meter.not_active' | 'meter.request_invalid' | 'meter.certificate_invalid';

export class MeterError extends IndiciaError<MeterErrorCode> {}
