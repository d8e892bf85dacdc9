import type { Transaction } from 'kysely';
import type { AuditEventInput } from '../audit/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
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
  for (const stored of packages) {
    const sealed = stored.sealedPackage.toString('base64');
    if (stored.fromSequence === null) {
      await trx
        .insertInto('psd_packages')
        .values({
          meter_id: stored.meterId,
          sequence: stored.sequence,
          key_version: stored.keyVersion,
          sealed,
          created_at: now,
          updated_at: now,
        })
        .execute();
      continue;
    }
    const updated = await trx
      .updateTable('psd_packages')
      .set({ sequence: stored.sequence, key_version: stored.keyVersion, sealed, updated_at: now })
      .where('meter_id', '=', stored.meterId)
      .where('sequence', '=', stored.fromSequence)
      .executeTakeFirst();
    if (updated.numUpdatedRows !== 1n) {
      throw new CustodyError(
        'custody.concurrent_update',
        `Meter ${stored.meterId} changed during the command; try again.`,
      );
    }
  }
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

/**
 * Appends a group's sealed checkpoint record to the protected module log (`module_log`): one row
 * per record, MACed by the module, linked to the one before by its digest. Every package version
 * appears in it, so reconciliation can tell a package put back to an earlier version.
 */
export async function appendModuleLog(
  trx: Transaction<DatabaseSchema>,
  record: CheckpointRecord,
  sealed: Buffer,
  now: string,
): Promise<void> {
  await trx
    .insertInto('module_log')
    .values({
      module_serial: record.moduleSerial,
      counter: record.counter,
      previous_digest: record.previous ?? null,
      digest: checkpointDigest(sealed),
      sealed: sealed.toString('base64'),
      recorded_at: now,
    })
    .execute();
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
