import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Mills, formatUsd } from '../money/index.ts';
import type { BalanceEntryKind, DatabaseSchema } from '../store/index.ts';
import { MeterError } from './meter-error.ts';

/**
 * Moves a pooled-mode customer's prefunded balance by `amount` (negative to pay postage) and writes
 * the ledger entry beside it, inside the caller's transaction. The update is guarded in SQL, so
 * the balance never goes below zero whoever else moved it meanwhile; a customer with no balance row
 * yet gets one on their first credit.
 */
export async function moveBalance(
  trx: Kysely<DatabaseSchema>,
  customerNumber: number,
  amount: number,
  kind: BalanceEntryKind,
  reference: string,
): Promise<void> {
  const now = new Date().toISOString();
  const updated = await trx
    .updateTable('customer_balances')
    .set((eb) => ({ balance_mills: eb('balance_mills', '+', amount), updated_at: now }))
    .where('customer_number', '=', customerNumber)
    .where('balance_mills', '>=', 0 - amount)
    .executeTakeFirst();
  if (updated.numUpdatedRows !== 1n) {
    const exists = await trx
      .selectFrom('customer_balances')
      .select('customer_number')
      .where('customer_number', '=', customerNumber)
      .executeTakeFirst();
    if (exists !== undefined || amount < 0) {
      throw new MeterError(
        'meter.insufficient_balance',
        `Customer ${customerNumber}'s balance cannot pay ${formatUsd((0 - amount) as Mills)}; add funds first.`,
      );
    }
    await trx
      .insertInto('customer_balances')
      .values({ customer_number: customerNumber, balance_mills: amount, updated_at: now })
      .execute();
  }
  await trx
    .insertInto('balance_entries')
    .values({
      id: `bal_${randomUUID()}`,
      customer_number: customerNumber,
      kind,
      amount_mills: amount,
      reference,
      created_at: now,
    })
    .execute();
}
