import type { Kysely } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import {
  type DatabaseSchema,
  insertModuleLogEntry,
  readCurrentPackages,
  writePackageVersions,
} from '../store/index.ts';
import { type CryptoModule, type GapSettlement, checkpointDigest } from '../vault/index.ts';
import { concurrentChange } from './recovery-error.ts';
import { unverifiedRecord } from './replay-order.ts';

/** What one module remembers committing after the restored database's last record of it. */
export interface ModuleGapRecords {
  readonly serial: string;
  /** False when its memory does not reach back to that record. */
  readonly covered: boolean;
  readonly records: readonly Buffer[];
}

/**
 * Settles the gap from the modules' own memory: every module's records after the recovery point
 * go through `officer` (settle-gap in the vault), and what comes back is committed in one
 * transaction — the packages brought level, the records added to the protected log (each meter's
 * package beside the record of its last movement), each module's checkpoint moved to its newest.
 */
export async function settleGaps(
  db: Kysely<DatabaseSchema>,
  officer: CryptoModule,
  gaps: readonly ModuleGapRecords[],
): Promise<GapSettlement> {
  const sealedRecords = gaps.flatMap((gap) => gap.records);
  const meterIds = [
    ...new Set(
      sealedRecords.flatMap((sealed) => unverifiedRecord(sealed).transactions.map((entry) => entry.meterId)),
    ),
  ];
  const current = await readCurrentPackages(db, meterIds);
  const settlement = await officer.settleGap({ sealedRecords, current });
  // Each settled package goes beside the record of its meter's last movement.
  const lastRecordOf = new Map<string, string>();
  for (const { record } of settlement.records)
    for (const entry of record.transactions) {
      const known = settlement.packages.find((settled) => settled.meterId === entry.meterId);
      if (known?.sequence === entry.packageSequence)
        lastRecordOf.set(entry.meterId, `${record.moduleSerial}:${record.counter}`);
    }
  const now = new Date().toISOString();
  await db.transaction().execute(async (trx) => {
    const moved = await writePackageVersions(trx, settlement.packages, now);
    if (moved !== null) throw concurrentChange(moved);
    const newest = new Map<string, { counter: number; sealed: Buffer }>();
    for (const { sealed, record } of settlement.records) {
      const key = `${record.moduleSerial}:${record.counter}`;
      await insertModuleLogEntry(trx, {
        moduleSerial: record.moduleSerial,
        counter: record.counter,
        previousDigest: record.previous ?? null,
        digest: checkpointDigest(sealed),
        sealed: sealed.toString('base64'),
        recordedAt: record.at,
        packages: settlement.packages.filter((entry) => lastRecordOf.get(entry.meterId) === key),
        statements: [],
      });
      const known = newest.get(record.moduleSerial);
      if (known === undefined || record.counter > known.counter)
        newest.set(record.moduleSerial, { counter: record.counter, sealed });
    }
    for (const [serial, { sealed }] of newest)
      await trx
        .updateTable('crypto_modules')
        .set({ checkpoint: sealed.toString('base64'), updated_at: now })
        .where('serial', '=', serial)
        .execute();
    await appendAuditEvents(trx, [
      {
        kind: 'recovery.gap_settled',
        details: {
          records: settlement.records.map(({ record }) => `${record.moduleSerial}:${record.counter}`),
          meters: settlement.packages.map((entry) => ({
            meterId: entry.meterId,
            packageSequence: entry.sequence,
          })),
        },
      },
    ]);
  });
  return settlement;
}
