import { type Kysely, PostgresAdapter, type Transaction, sql } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import { CustodyError } from './custody-error.ts';

/** A meter's stored package as a group reads it. */
export interface PackageRow {
  readonly meter_id: string;
  readonly sealed: string;
  readonly sequence: number;
}

/** Writes the group's results in the transaction the packages were read in (PostgreSQL) or a new one. */
export type CommitWrites = (write: (trx: Transaction<DatabaseSchema>) => Promise<void>) => Promise<void>;

/**
 * How a group holds its meters while the module works on them. `withPackages` reads the meters'
 * packages and hands them to `work` with the means to commit; every other group on those meters,
 * in any process, waits until that commit (or rollback) before it reads them.
 */
export interface MeterSerialization {
  /** 'row-lock' on PostgreSQL; 'single-writer' on SQLite (one server: the in-process queue is enough). */
  readonly kind: 'row-lock' | 'single-writer';
  withPackages<T>(
    meterIds: readonly string[],
    work: (rows: readonly PackageRow[], commit: CommitWrites) => Promise<T>,
  ): Promise<T>;
  /** Milliseconds spent taking locks, and how many takings waited at least {@link LOCK_WAIT_MS}. */
  readonly waits: { readonly lockedMs: number; readonly waited: number };
}

/** A lock statement slower than this counts as having waited for another server's group. */
export const LOCK_WAIT_MS = 2;

/** Seconds a refused caller is told to wait before trying again (Retry-After). */
const RETRY_AFTER_SECONDS = 1;

/** PostgreSQL's SQLSTATE for a lock not granted within lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';

const isLockTimeout = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === LOCK_NOT_AVAILABLE;

/**
 * The database's per-meter serialization (docs/architecture.md, "One meter, several servers").
 * PostgreSQL: the group's transaction opens first and locks the meters' package rows
 * (`select … for update`, in meter id order, so two groups sharing meters never deadlock); the
 * rows it reads are the current versions, the module signs from them, and the group commits in
 * the same transaction. A lock not granted within `waitTimeoutMs` refuses the group with
 * `custody.meter_busy` before the module has done anything.
 * SQLite: one server and one writer; the packages are read before the module pass and stored
 * with a compare-and-swap, as the in-process queue already keeps one group per meter.
 *
 * @example const serialization = meterSerializationFor(store.db, 10_000);
 */
export function meterSerializationFor(db: Kysely<DatabaseSchema>, waitTimeoutMs: number): MeterSerialization {
  const waits = { lockedMs: 0, waited: 0 };
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) {
    return {
      kind: 'single-writer',
      waits,
      async withPackages(meterIds, work) {
        const rows = await db
          .selectFrom('psd_packages')
          .select(['meter_id', 'sealed', 'sequence'])
          .where('meter_id', 'in', meterIds)
          .execute();
        return work(rows, (write) => db.transaction().execute(write));
      },
    };
  }
  const timeout = `${waitTimeoutMs}ms`;
  return {
    kind: 'row-lock',
    waits,
    withPackages(meterIds, work) {
      return db.transaction().execute(async (trx) => {
        const started = performance.now();
        let rows: readonly PackageRow[];
        try {
          // One round trip: the CTE sets this transaction's lock_timeout before the row locks
          // are taken (LockRows runs above the join and the sort, so in meter id order).
          const result = await sql<PackageRow>`
            with wait as (select set_config('lock_timeout', ${timeout}, true) as lock_timeout)
            select p.meter_id, p.sealed, p.sequence
              from psd_packages p cross join wait
             where p.meter_id = any(${[...meterIds]}::text[])
             order by p.meter_id
               for update of p`.execute(trx);
          rows = result.rows;
        } catch (error) {
          if (!isLockTimeout(error)) throw error;
          throw new CustodyError(
            'custody.meter_busy',
            `Meter ${meterIds.length === 1 ? meterIds[0] : `${meterIds.join(', ')} (one of them)`} was busy with another server's commands for longer than the meter wait timeout (INDICIA_METER_WAIT_TIMEOUT_MS, ${waitTimeoutMs} ms); nothing was changed. Try again in a moment.`,
            { cause: error, details: { retryAfterSeconds: RETRY_AFTER_SECONDS, waitTimeoutMs } },
          );
        } finally {
          const elapsed = performance.now() - started;
          waits.lockedMs += elapsed;
          if (elapsed >= LOCK_WAIT_MS) waits.waited += 1;
        }
        return work(rows, async (write) => write(trx));
      });
    },
  };
}
