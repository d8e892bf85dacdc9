import type { Transaction } from 'kysely';
import type { AuditEventInput } from '../audit/index.ts';
import {
  type CapturedStatement,
  type DatabaseSchema,
  insertModuleLogEntry,
  writePackageVersions,
} from '../store/index.ts';
import {
  type CheckpointRecord,
  type CommandOutcome,
  type DiscardedTransaction,
  type GroupResult,
  VaultError,
  checkpointDigest,
} from '../vault/index.ts';
import { CustodyError } from './custody-error.ts';

export type CommittedGroup = NonNullable<GroupResult['committed']>;

/** Stores a group's packages: new ones inserted, changed ones compare-and-swapped on their sequence. */
export async function storePackages(
  trx: Transaction<DatabaseSchema>,
  packages: CommittedGroup['packages'],
  now: string,
): Promise<void> {
  const moved = await writePackageVersions(trx, packages, now);
  if (moved !== null)
    throw new CustodyError(
      'custody.concurrent_update',
      `Meter ${moved} changed during the command; try again.`,
    );
}

export function recoveryEvents(
  moduleSerial: string,
  discarded: readonly DiscardedTransaction[],
): AuditEventInput[] {
  return discarded.map((entry) => ({
    kind: 'vault.auto_recovery_discarded',
    moduleSerial,
    meterId: entry.meterId,
    details: {
      reason: 'the database did not hold this module transaction; the module rolled it back',
      counter: entry.counter,
      type: entry.type,
      amountMills: entry.amountMills,
      packageSequence: entry.packageSequence,
      recordedAt: entry.at,
    },
  }));
}

export function transactionEvent(record: CheckpointRecord, outcome: CommandOutcome): AuditEventInput {
  const { transaction } = outcome;
  return {
    kind: `psd.${transaction.type}`,
    moduleSerial: record.moduleSerial,
    meterId: transaction.meterId,
    details: {
      amountMills: transaction.amountMills,
      ascendingRegisterMills: transaction.ascendingRegisterMills,
      descendingRegisterMills: transaction.descendingRegisterMills,
      packageSequence: transaction.packageSequence,
      moduleCounter: record.counter,
      groupSize: record.transactions.length,
      keyVersion: outcome.keyVersion,
      signatures: outcome.signatures.length,
    },
  };
}

/** What replay needs beside a record: the package versions it made, and the rows its commit wrote. */
export interface ReplayPayload {
  readonly packages: CommittedGroup['packages'];
  readonly statements: readonly CapturedStatement[];
}

/**
 * Appends a group's sealed checkpoint record to the protected module log (`module_log`): one row
 * per record, MACed by the module, linked to the one before by its digest, with the sealed package
 * versions it made and the statements of the same commit (what a restore replays). Verified as
 * written: the record must follow the module's last logged record (the next counter, linked to its
 * digest); a log that does not end where the module's chain says refuses, and custody stops.
 */
export async function appendModuleLog(
  trx: Transaction<DatabaseSchema>,
  record: CheckpointRecord,
  sealed: Buffer,
  now: string,
  payload: ReplayPayload,
): Promise<void> {
  const last = await trx
    .selectFrom('module_log')
    .select(['counter', 'digest'])
    .where('module_serial', '=', record.moduleSerial)
    .orderBy('counter', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (
    last !== undefined &&
    (last.counter !== record.counter - 1 ||
      (record.previous !== undefined && record.previous !== null && record.previous !== last.digest))
  ) {
    throw new CustodyError(
      'custody.module_log_broken',
      `The protected module log of module ${record.moduleSerial} ends at record ${last.counter}, which is not the record ${record.counter - 1} the module's chain continues from: the log was changed. Nothing more is written; verify it with indicia audit verify.`,
    );
  }
  await insertModuleLogEntry(trx, {
    moduleSerial: record.moduleSerial,
    counter: record.counter,
    previousDigest: record.previous ?? null,
    digest: checkpointDigest(sealed),
    sealed: sealed.toString('base64'),
    recordedAt: now,
    packages: payload.packages,
    statements: payload.statements,
  });
}

/** Audit events for commands the module refused because their package was an earlier version. */
export function refusalEvents(moduleSerial: string | null, errors: readonly unknown[]): AuditEventInput[] {
  return errors.flatMap((error) =>
    error instanceof VaultError && error.code === 'vault.package_replayed'
      ? [
          {
            kind: 'vault.package_replayed',
            moduleSerial,
            meterId: typeof error.details?.['meterId'] === 'string' ? error.details['meterId'] : null,
            details: { reason: error.message, ...error.details },
          },
        ]
      : [],
  );
}
