import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import type { CheckpointDecision, CryptoModule } from '../vault/index.ts';
import { unverifiedRecord } from './replay-order.ts';

/** What one module committed after the restored database's (and archive's) last record of it. */
export interface RecoveryGap {
  readonly moduleSerial: string;
  /** The restored database's last record of this module: the recovery point in its chain. */
  readonly restoredCounter: number | null;
  /** The module's newest record (its own memory). */
  readonly moduleCounter: number | null;
  /** Committed transactions the module remembers beyond the recovery point: the gap, as far as it is known. */
  readonly transactions: Extract<CheckpointDecision, { kind: 'inhibit' }>['lost'];
  /** Records beyond the recovery point the module no longer remembers (their contents are unknown). */
  readonly unknownRecords: number;
  /** What the module decides about the restored database now. */
  readonly decision: CheckpointDecision['kind'];
  readonly reason: string | null;
  /** The module's own sealed records after the recovery point, and whether they reach back to it. */
  readonly records: readonly Buffer[];
  readonly covered: boolean;
}

/** Counter of a sealed checkpoint record (authenticity is the module's to check). */
const counterOf = (sealed: Buffer | null): number | null =>
  sealed === null ? null : unverifiedRecord(sealed).counter;

/**
 * Compares a module's own memory (its ring) with the restored database's checkpoint of it,
 * without acting on it: nothing beyond the recovery point, or the transactions beyond it the
 * module remembers, and how many records it no longer can name.
 */
export async function assessGap(db: Kysely<DatabaseSchema>, module: CryptoModule): Promise<RecoveryGap> {
  const row = await db
    .selectFrom('crypto_modules')
    .select('checkpoint')
    .where('serial', '=', module.serial)
    .executeTakeFirst();
  const checkpoint =
    row?.checkpoint === undefined || row.checkpoint === null ? null : Buffer.from(row.checkpoint, 'base64');
  const decision = module.checkpointAgreement(checkpoint);
  const restoredCounter = counterOf(checkpoint);
  const moduleCounter = module.newestRecordCounter();
  // Oldest first, as a person reads the gap (the module lists them newest first).
  const transactions =
    decision.kind === 'inhibit' ? [...decision.lost].sort((left, right) => left.counter - right.counter) : [];
  const oldestKnown = transactions.reduce<number | null>(
    (oldest, entry) => (oldest === null || entry.counter < oldest ? entry.counter : oldest),
    null,
  );
  const unknownRecords =
    decision.kind !== 'inhibit'
      ? 0
      : oldestKnown === null
        ? Math.max(0, (moduleCounter ?? 0) - (restoredCounter ?? 0))
        : Math.max(0, oldestKnown - (restoredCounter ?? 0) - 1);
  return {
    moduleSerial: module.serial,
    restoredCounter,
    moduleCounter,
    transactions,
    unknownRecords,
    decision: decision.kind,
    reason: decision.kind === 'inhibit' ? decision.reason : null,
    ...(decision.kind === 'inhibit' ? module.recordsAfter(checkpoint) : { records: [], covered: true }),
  };
}

/** Keeps the gap in the database: listed by `indicia restore`, and named when a scan of one of its pieces comes in. */
export async function recordGaps(
  db: Kysely<DatabaseSchema>,
  gaps: readonly RecoveryGap[],
  status: 'settled' | 'open',
): Promise<void> {
  const restoredAt = new Date().toISOString();
  const rows = gaps.flatMap((gap) => [
    ...gap.transactions.map((entry) => ({
      id: randomUUID(),
      restored_at: restoredAt,
      module_serial: gap.moduleSerial,
      meter_id: entry.meterId,
      counter: entry.counter,
      type: entry.type,
      amount_mills: entry.amountMills,
      ascending_register_mills: entry.ascendingRegisterMills,
      descending_register_mills: entry.descendingRegisterMills,
      package_sequence: entry.packageSequence,
      recorded_at: null,
      status,
    })),
    ...(gap.unknownRecords > 0
      ? [
          {
            id: randomUUID(),
            restored_at: restoredAt,
            module_serial: gap.moduleSerial,
            meter_id: null,
            counter: (gap.restoredCounter ?? 0) + 1,
            type: null,
            amount_mills: null,
            ascending_register_mills: null,
            descending_register_mills: null,
            package_sequence: gap.unknownRecords,
            recorded_at: null,
            status,
          },
        ]
      : []),
  ]);
  await db.transaction().execute(async (trx) => {
    // A restore run again assesses the same gap again: it replaces what the last run recorded.
    for (const gap of gaps)
      await trx
        .deleteFrom('recovery_gaps')
        .where('module_serial', '=', gap.moduleSerial)
        .where('counter', '>', gap.restoredCounter ?? 0)
        .execute();
    if (rows.length > 0) await trx.insertInto('recovery_gaps').values(rows).execute();
  });
}
