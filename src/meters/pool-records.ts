import type { Kysely } from 'kysely';
import type { Mills } from '../money/index.ts';
import type { DatabaseSchema } from '../store/index.ts';

/** The vendor's active master PSD, if pooled mode is set up. */
export async function activeMasterMeter(
  db: Kysely<DatabaseSchema>,
): Promise<{ meter_id: string; licensing_zip: string } | undefined> {
  return db
    .selectFrom('meters')
    .select(['meter_id', 'licensing_zip'])
    .where('mode', '=', 'master')
    .where('status', '=', 'active')
    .orderBy('meter_id')
    .executeTakeFirst();
}

/** Checks a mini-PSD out to `holder`; the primary key makes it exclusive (a second insert fails). */
export async function insertCheckout(
  db: Kysely<DatabaseSchema>,
  meterId: string,
  holder: string,
): Promise<void> {
  await db
    .insertInto('mpsd_checkouts')
    .values({ meter_id: meterId, holder, checked_out_at: new Date().toISOString() })
    .execute();
}

/**
 * Checks out an idle mini-PSD from the database (one no server holds, or one `holder` held before
 * a restart), skipping those `isKnown` says this server already uses; null when there is none.
 */
export async function checkOutIdle(
  db: Kysely<DatabaseSchema>,
  holder: string,
  isKnown: (meterId: string) => boolean,
): Promise<string | null> {
  const candidates = await db
    .selectFrom('meters')
    .leftJoin('mpsd_checkouts', 'mpsd_checkouts.meter_id', 'meters.meter_id')
    .select('meters.meter_id')
    .where('meters.mode', '=', 'pooled')
    .where('meters.status', '=', 'active')
    .where((eb) => eb.or([eb('mpsd_checkouts.holder', 'is', null), eb('mpsd_checkouts.holder', '=', holder)]))
    .orderBy('meters.meter_id')
    .execute();
  for (const { meter_id: meterId } of candidates) {
    if (isKnown(meterId)) continue;
    const mine = await db
      .selectFrom('mpsd_checkouts')
      .select('holder')
      .where('meter_id', '=', meterId)
      .executeTakeFirst();
    if (mine?.holder === holder) return meterId;
    try {
      await insertCheckout(db, meterId, holder);
      return meterId;
    } catch {
      continue;
    }
  }
  return null;
}

/** A master → mini-PSD transfer's row (negative: a withdrawn mini-PSD's DR going back). */
export async function recordTransfer(
  trx: Kysely<DatabaseSchema>,
  transfer: {
    id: string;
    masterMeterId: string;
    meterId: string;
    amount: Mills;
    masterSequence: number;
    packageSequence: number;
  },
): Promise<void> {
  await trx
    .insertInto('pool_transfers')
    .values({
      id: transfer.id,
      master_meter_id: transfer.masterMeterId,
      meter_id: transfer.meterId,
      amount_mills: transfer.amount,
      master_sequence: transfer.masterSequence,
      package_sequence: transfer.packageSequence,
      created_at: new Date().toISOString(),
    })
    .execute();
}
