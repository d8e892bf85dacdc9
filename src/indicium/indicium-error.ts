import { IndiciaError } from '../errors/index.ts';

export type IndiciumErrorCode =
  'indicium.field_invalid' | 'indicium.malformed' | 'indicium.meter_number_invalid';

export class IndiciumError extends IndiciaError<IndiciumErrorCode> {}
