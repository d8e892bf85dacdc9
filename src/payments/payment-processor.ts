import type { Mills } from '../money/index.ts';

export interface CardDetails {
  /** Digits only, or grouped with spaces or dashes. */
  readonly number: string;
  readonly expMonth: number;
  readonly expYear: number;
  readonly cvc: string;
}

export interface CardAuthorization {
  /** The processor's reference for the held amount. */
  readonly id: string;
  readonly last4: string;
}

/**
 * A card processor: hold an amount, then capture it once the postage is durably in the meter, or
 * void it if the meter refused. Real processors (and ACH, checks) come later behind this interface.
 */
export interface PaymentProcessor {
  /** `sandbox` for the built-in test processor. */
  readonly name: string;
  /** Holds `amount` on the card, or throws PaymentError (card_invalid, declined, failed). */
  authorize(amount: Mills, card: CardDetails, reference: string): Promise<CardAuthorization>;
  capture(authorizationId: string): Promise<void>;
  void(authorizationId: string): Promise<void>;
}
