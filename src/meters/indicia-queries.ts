import type { Kysely, Transaction } from 'kysely';
import type { CommittedCommand } from '../custody/index.ts';
import type { DatabaseSchema, IndiciaTable } from '../store/index.ts';
import { MeterError } from './meter-error.ts';

export const MAX_LIST_LIMIT = 200;

/** One page of a customer's indicia, newest first, and the cursor for the next page (null at the end). */
export async function indiciaOf(
  db: Kysely<DatabaseSchema>,
  customerNumber: number,
  page: { limit: number; before?: string | undefined },
): Promise<{ indicia: IndiciaTable[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(1, Math.trunc(page.limit)), MAX_LIST_LIMIT);
  let query = db
    .selectFrom('indicia')
    .selectAll()
    .where('customer_number', '=', customerNumber)
    .orderBy('id', 'desc')
    .limit(limit + 1);
  // Ids are time-ordered UUIDs: "before" an id is "older than" it.
  if (page.before !== undefined) query = query.where('id', '<', page.before);
  const rows = await query.execute();
  const indicia = rows.slice(0, limit);
  return { indicia, nextCursor: rows.length > limit ? (indicia.at(-1)?.id ?? null) : null };
}

/** One indicium; another customer's is as unknown as a missing one. */
export async function indiciumFor(
  db: Kysely<DatabaseSchema>,
  customerNumber: number | null,
  id: string,
): Promise<IndiciaTable> {
  let query = db.selectFrom('indicia').selectAll().where('id', '=', id);
  if (customerNumber !== null) query = query.where('customer_number', '=', customerNumber);
  const row = await query.executeTakeFirst();
  if (row === undefined)
    throw new MeterError('meter.indicium_not_found', `There is no indicium ${id.slice(0, 60)}.`);
  return row;
}

/**
 * The ids of the `count` indicia a commit inserted, in piece order: each piece's AR after its
 * debit is higher than the one before, and the commit holds the meter's highest ARs, so the
 * (meter, AR) index is read from the top for just those rows, however many the meter printed.
 */
export async function indiciaOfCommit(
  trx: Transaction<DatabaseSchema>,
  result: CommittedCommand,
  count: number,
): Promise<string[]> {
  const rows = await trx
    .selectFrom('indicia')
    .select('id')
    .where('meter_id', '=', result.transaction.meterId)
    .where('package_sequence', '=', result.transaction.packageSequence)
    .orderBy('ascending_register_mills', 'desc')
    .limit(count)
    .execute();
  return rows.map((row) => row.id).reverse();
}
