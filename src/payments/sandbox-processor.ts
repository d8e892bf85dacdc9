import { randomUUID } from 'node:crypto';
import type { Mills } from '../money/index.ts';
import { PaymentError } from './payment-error.ts';
import type { CardAuthorization, CardDetails, PaymentProcessor } from './payment-processor.ts';

/**
 * The **sandbox** card processor's test cards (docs/api.md). No real card is ever charged: the
 * sandbox accepts only these numbers, with any future expiry and any 3–4 digit CVC.
 */
export const SANDBOX_TEST_CARDS: Readonly<
  Record<string, { outcome: 'approve' | 'decline' | 'fail'; meaning: string }>
> = {
  '4242424242424242': { outcome: 'approve', meaning: 'approved' },
  '5555555555554444': { outcome: 'approve', meaning: 'approved (Mastercard)' },
  '4000000000000002': { outcome: 'decline', meaning: 'declined by the issuer' },
  '4000000000009995': { outcome: 'decline', meaning: 'declined: insufficient funds' },
  '4000000000000119': { outcome: 'fail', meaning: 'the processor fails (try again later)' },
};

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** Checks a card's form (number, expiry, CVC) and returns its digits. */
export function checkCard(card: CardDetails, today = new Date()): string {
  const digits = card.number.replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(digits) || !luhnValid(digits))
    throw new PaymentError('payment.card_invalid', 'The card number is not valid; check the digits.', {
      details: { field: 'number' },
    });
  const { expMonth, expYear } = card;
  if (!Number.isInteger(expMonth) || expMonth < 1 || expMonth > 12 || !Number.isInteger(expYear))
    throw new PaymentError(
      'payment.card_invalid',
      'The expiry month must be 1 to 12 and the year four digits.',
      {
        details: { field: 'expMonth' },
      },
    );
  const lastValidMonth = expYear * 12 + expMonth;
  if (lastValidMonth < today.getUTCFullYear() * 12 + today.getUTCMonth() + 1)
    throw new PaymentError(
      'payment.card_invalid',
      `The card expired in ${String(expMonth).padStart(2, '0')}/${expYear}.`,
      {
        details: { field: 'expYear' },
      },
    );
  if (!/^\d{3,4}$/.test(card.cvc))
    throw new PaymentError('payment.card_invalid', 'The CVC is the 3 or 4 digits on the card.', {
      details: { field: 'cvc' },
    });
  return digits;
}

/**
 * The built-in **sandbox** card processor: no network, no money. It answers as a processor would,
 * from the test card number (SANDBOX_TEST_CARDS), so every path — approved, declined, failed,
 * voided — can be exercised end to end. Named `sandbox` in every response and record.
 */
export function createSandboxProcessor(): PaymentProcessor {
  const held = new Map<string, 'held' | 'captured' | 'voided'>();
  return {
    name: 'sandbox',
    authorize(amount: Mills, card: CardDetails): Promise<CardAuthorization> {
      const digits = checkCard(card);
      const test = SANDBOX_TEST_CARDS[digits];
      if (test === undefined)
        return Promise.reject(
          new PaymentError(
            'payment.declined',
            'The sandbox processor accepts only its test cards (4242 4242 4242 4242 approves); no real card is charged.',
          ),
        );
      if (test.outcome === 'decline')
        return Promise.reject(
          new PaymentError('payment.declined', `The card was ${test.meaning}; use another card.`),
        );
      if (test.outcome === 'fail')
        return Promise.reject(
          new PaymentError(
            'payment.failed',
            'The card processor did not answer; nothing was charged. Try again later.',
          ),
        );
      if (!Number.isSafeInteger(amount) || amount <= 0)
        return Promise.reject(new PaymentError('payment.card_invalid', 'The amount must be positive.'));
      const id = `sandbox_auth_${randomUUID()}`;
      held.set(id, 'held');
      return Promise.resolve({ id, last4: digits.slice(-4) });
    },
    capture(authorizationId) {
      if (held.get(authorizationId) === 'held') held.set(authorizationId, 'captured');
      return Promise.resolve();
    },
    void(authorizationId) {
      if (held.get(authorizationId) === 'held') held.set(authorizationId, 'voided');
      return Promise.resolve();
    },
  };
}
