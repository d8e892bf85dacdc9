import { type Kysely, type Transaction, sql } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import type { ArchiveContents, ShippedRecord } from '../log-shipping/index.ts';
import {
  type CapturedStatement,
  type CurrentPackage,
  type DatabaseSchema,
  insertModuleLogEntry,
  readCurrentPackages,
  readPackageSequences,
  runCapturedStatements,
  writePackageVersions,
} from '../store/index.ts';
import type { CryptoModule, ReplayedRecord } from '../vault/index.ts';
import { RecoveryError, concurrentChange } from './recovery-error.ts';
import { replayOrder, unverifiedRecord } from './replay-order.ts';

/** Records re-applied per database transaction. */
const RECORDS_PER_COMMIT = 100;

export interface ReplayReport {
  /** Records in the archive. */
  readonly records: number;
  /** Records the restored database lacked, re-applied now. */
  readonly replayed: number;
  /** Records the restored database held already (each compared with the archive's). */
  readonly present: number;
  /** Movements (transactions) re-applied. */
  readonly movements: number;
  /** Records whose rows (an indicium, a receipt) could not be written again, and why. */
  readonly rowFailures: readonly {
    readonly module: string;
    readonly counter: number;
    readonly reason: string;
  }[];
  /** When the newest record in the archive was committed: what the restore gets back to. */
  readonly recoveryPoint: string | null;
  readonly seconds: number;
}

interface ChainEnd {
  counter: number;
  digest: string;
}

async function chainEnds(db: Kysely<DatabaseSchema>): Promise<Map<string, ChainEnd>> {
  const ends = new Map<string, ChainEnd>();
  const rows = await db
    .selectFrom('module_log')
    .select(['module_serial', 'counter', 'digest'])
    .where('counter', '=', (eb) =>
      eb
        .selectFrom('module_log as newest')
        .select((inner) => inner.fn.max('newest.counter').as('counter'))
        .whereRef('newest.module_serial', '=', 'module_log.module_serial'),
    )
    .execute();
  for (const row of rows) ends.set(row.module_serial, { counter: row.counter, digest: row.digest });
  return ends;
}

async function storeReplayed(
  trx: Transaction<DatabaseSchema>,
  shipped: ShippedRecord,
  replayed: ReplayedRecord,
  now: string,
): Promise<void> {
  const moved = await writePackageVersions(trx, replayed.packages, now);
  if (moved !== null) throw concurrentChange(moved);
  const checkpoint = shipped.sealed;
  const module = await trx
    .updateTable('crypto_modules')
    .set({ checkpoint, updated_at: now })
    .where('serial', '=', shipped.module)
    .executeTakeFirst();
  if (module.numUpdatedRows !== 1n)
    await trx
      .insertInto('crypto_modules')
      .values({ serial: shipped.module, backend: 'unknown', checkpoint, updated_at: now })
      .execute();
  await insertModuleLogEntry(trx, {
    moduleSerial: shipped.module,
    counter: shipped.counter,
    previousDigest: shipped.previous,
    digest: shipped.digest,
    sealed: shipped.sealed,
    recordedAt: shipped.recordedAt,
    packages: replayed.packages,
    statements: shipped.statements,
  });
}

/** Writes a record's rows again inside a savepoint: a row that no longer fits is reported, not fatal. */
async function rewriteRows(
  trx: Transaction<DatabaseSchema>,
  statements: readonly CapturedStatement[],
): Promise<string | null> {
  if (statements.length === 0) return null;
  await sql`savepoint replay_rows`.execute(trx);
  try {
    await runCapturedStatements(trx, statements);
    await sql`release savepoint replay_rows`.execute(trx);
    return null;
  } catch (error) {
    await sql`rollback to savepoint replay_rows`.execute(trx);
    await sql`release savepoint replay_rows`.execute(trx);
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Replays a verified log archive onto a restored database through `module` (crypto-officer role):
 * records the database holds already are compared with the archive's; each later one is
 * re-applied under the module's rules (log-replay.ts), its packages sealed again, the module's
 * checkpoint moved to it, its log row and its commit's rows written again, in commit order.
 */
export async function replayArchive(
  db: Kysely<DatabaseSchema>,
  module: CryptoModule,
  archive: ArchiveContents,
  dialect: string,
): Promise<ReplayReport> {
  const started = performance.now();
  if (archive.dialect !== null && archive.dialect !== dialect)
    throw new RecoveryError(
      'recovery.wrong_dialect',
      `The log archive was shipped from a ${archive.dialect} database; this one is ${dialect}. Restore onto the same kind of database, then move it (indicia migrate --to).`,
    );
  const ends = await chainEnds(db);
  const rowFailures: { module: string; counter: number; reason: string }[] = [];
  let replayed = 0;
  let present = 0;
  let movements = 0;
  const pending: ShippedRecord[] = [];
  for (const record of archive.records) {
    const end = ends.get(record.module);
    if (end !== undefined && record.counter <= end.counter) {
      const row = await db
        .selectFrom('module_log')
        .select('digest')
        .where('module_serial', '=', record.module)
        .where('counter', '=', record.counter)
        .executeTakeFirst();
      if (row !== undefined && row.digest !== record.digest)
        throw new RecoveryError(
          'recovery.log_differs',
          `Record ${record.counter} of module ${record.module} in the restored database differs from the archive's: the backup and the archive are not of the same installation, or one was changed.`,
        );
      present += 1;
      continue;
    }
    if (
      end !== undefined
        ? record.counter !== end.counter + 1
        : record.counter !== 1 && record.previous !== null
    )
      throw new RecoveryError(
        'recovery.archive_incomplete',
        `The archive continues module ${record.module}'s log at record ${record.counter}, but the restored database ends at ${end?.counter ?? 'no record'}: records in between are in neither. Restore an older backup.`,
      );
    ends.set(record.module, { counter: record.counter, digest: record.digest });
    pending.push(record);
  }
  const named = [
    ...new Set(
      pending.flatMap((record) =>
        unverifiedRecord(Buffer.from(record.sealed, 'base64')).transactions.map((entry) => entry.meterId),
      ),
    ),
  ];
  const ordered = replayOrder(pending, await readPackageSequences(db, named));
  const current = new Map<string, CurrentPackage>();
  const previousDigest = new Map<string, string>();
  for (const [serial, end] of await chainEnds(db)) previousDigest.set(serial, end.digest);
  for (let start = 0; start < ordered.length; start += RECORDS_PER_COMMIT) {
    const batch = ordered.slice(start, start + RECORDS_PER_COMMIT);
    const meterIds = [
      ...new Set(batch.flatMap((record) => record.packages.map((entry) => entry.meterId))),
    ].filter((meterId) => !current.has(meterId));
    for (const [meterId, stored] of await readCurrentPackages(db, meterIds)) current.set(meterId, stored);
    const results: { record: ShippedRecord; replayed: ReplayedRecord }[] = [];
    for (const record of batch) {
      const result = await module.replayLogRecord({
        sealedRecord: Buffer.from(record.sealed, 'base64'),
        previousDigest: previousDigest.get(record.module) ?? null,
        loggedPackages: record.packages.map((entry) => ({
          meterId: entry.meterId,
          sequence: entry.sequence,
          sealed: Buffer.from(entry.sealed, 'base64'),
        })),
        current,
      });
      for (const entry of result.packages)
        current.set(entry.meterId, { sealed: entry.sealedPackage, sequence: entry.sequence });
      previousDigest.set(record.module, record.digest);
      results.push({ record, replayed: result });
    }
    const now = new Date().toISOString();
    await db.transaction().execute(async (trx) => {
      for (const { record, replayed: result } of results) {
        await storeReplayed(trx, record, result, now);
        const failure = await rewriteRows(trx, record.statements);
        if (failure !== null)
          rowFailures.push({ module: record.module, counter: record.counter, reason: failure });
        movements += result.record.transactions.length;
      }
      await appendAuditEvents(trx, [
        {
          kind: 'recovery.log_replayed',
          details: {
            records: results.map(({ record }) => `${record.module}:${record.counter}`),
            movements: results.reduce(
              (sum, { replayed: result }) => sum + result.record.transactions.length,
              0,
            ),
          },
        },
      ]);
    });
    replayed += batch.length;
  }
  return {
    records: archive.records.length,
    replayed,
    present,
    movements,
    rowFailures,
    recoveryPoint: archive.records.at(-1)?.recordedAt ?? null,
    seconds: (performance.now() - started) / 1000,
  };
}
