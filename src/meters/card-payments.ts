import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Mills } from '../money/index.ts';
import type { CardPaymentsTable, DatabaseSchema } from '../store/index.ts';

export interface CardPaymentRecord {
  readonly accountId: string;
  readonly processor: string;
  readonly amount: Mills;
  readonly last4: string;
  readonly outcome: CardPaymentsTable['outcome'];
  readonly processorReference: string | null;
  readonly message: string;
}

/** Records one card payment attempt (inside the funding's commit when it was approved). */
export async function recordCardPayment(
  db: Kysely<DatabaseSchema>,
  payment: CardPaymentRecord,
): Promise<string> {
  const id = `pay_${randomUUID()}`;
  await db
    .insertInto('card_payments')
    .values({
      id,
      account_id: payment.accountId,
      processor: payment.processor,
      amount_mills: payment.amount,
      card_last4: payment.last4,
      outcome: payment.outcome,
      processor_reference: payment.processorReference,
      message: payment.message,
      created_at: new Date().toISOString(),
    })
    .execute();
  return id;
}
