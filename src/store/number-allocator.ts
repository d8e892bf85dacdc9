import { type Kysely, sql } from 'kysely';
import type { DatabaseSchema } from './schema.ts';
import { StoreError } from './store-error.ts';

/**
 * The counters `allocateNumber` hands numbers out of. Migration 0012 seeds them from existing
 * data under these exact names, so a new name needs no migration but a renamed one does.
 */
export type NumberCounter =
  /** Customer numbers of accounts that sign up (the demo customer's is fixed). */
  | 'customer-number'
  /** PSD serials per model id: meter numbers are manufacturer + model + serial. */
  | `meter-serial:${string}`
  /** CRL numbers per CA certificate serial (RFC 5280: increasing for each CRL of one issuer). */
  | `crl-number:${string}`;

/**
 * Takes the next number of a counter in one statement that both reads and increments it, so two
 * callers never get the same number on either dialect: on PostgreSQL the upsert locks the
 * counter's row (a second caller waits, then sees the incremented value); SQLite has one writer.
 * A counter that does not exist yet starts at `first`.
 *
 * Inside a transaction the row stays locked until the commit and a rollback gives the number back,
 * so the sequence has no gaps; outside one the number is spent at once (a later failure leaves a
 * gap), which suits allocations made before long work such as creating a key in a crypto module.
 *
 * @example const customerNumber = await allocateNumber(trx, 'customer-number', 100_001);
 */
export async function allocateNumber(
  db: Kysely<DatabaseSchema>,
  counter: NumberCounter,
  first: number,
): Promise<number> {
  if (!Number.isSafeInteger(first))
    throw new StoreError('store.integer_out_of_range', `A counter cannot start at ${first}.`);
  const row = await db
    .insertInto('number_allocators')
    .values({ name: counter, next_number: first + 1 })
    .onConflict((conflict) =>
      conflict.column('name').doUpdateSet({ next_number: sql<number>`number_allocators.next_number + 1` }),
    )
    .returning('next_number')
    .executeTakeFirstOrThrow();
  return row.next_number - 1;
}
