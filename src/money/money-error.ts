import { IndiciaError } from '../errors/index.ts';

export type MoneyErrorCode =
  'money.not_integer' | 'money.overflow' | 'money.negative' | 'money.invalid_amount';

export class MoneyError extends IndiciaError<MoneyErrorCode> {}
