import type { Kysely } from 'kysely';
import type { Mills } from '../money/index.ts';
import { type DatabaseSchema, type MetersTable, preparedQuery } from '../store/index.ts';
import type { PsdView } from '../vault/index.ts';

/** A customer's postage account as the customer sees it. */
export type CustomerMeter =
  | {
      readonly mode: 'dedicated';
      readonly customerNumber: number;
      readonly meter: MetersTable;
      /** Registers as the meter's sealed package holds them. */
      readonly psd: PsdView;
    }
  | {
      readonly mode: 'pooled';
      readonly customerNumber: number;
      /** The prefunded balance pooled indicia are paid from. */
      readonly balance: Mills;
      /** The client package (devices, challenge, the balance mirrored in DR), when there is one. */
      readonly client: PsdView | null;
    };

/** The customer's own (dedicated) meter that is not withdrawn, newest first; undefined when none. */
export async function dedicatedMeterOf(
  db: Kysely<DatabaseSchema>,
  customerNumber: number,
): Promise<MetersTable | undefined> {
  const [meter] = await dedicatedMeterQuery(db, [customerNumber, 'dedicated', 'withdrawn']);
  return meter;
}

// Every issuance looks it up first: built once (see preparedQuery).
const dedicatedMeterQuery = preparedQuery((db) =>
  db
    .selectFrom('meters')
    .selectAll()
    .where('customer_number', '=', 0)
    .where('mode', '=', 'dedicated')
    .where('status', '!=', 'withdrawn')
    .orderBy('created_at', 'desc'),
);
