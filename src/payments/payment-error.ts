import { IndiciaError } from '../errors/index.ts';

export type PaymentErrorCode = 'payment.card_invalid' | 'payment.declined' | 'payment.failed';

export class PaymentError extends IndiciaError<PaymentErrorCode> {}
