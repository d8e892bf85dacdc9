import type { Mills } from '../money/index.ts';
import type { CryptoBackend } from './backend/crypto-backend.ts';
import { type CheckpointRecord, type TransactionEntry, openCheckpoint } from './checkpoint.ts';
import { type PackageExpectation, type PsdState, resealUnder } from './psd-package.ts';
import { VaultError } from './vault-error.ts';

/** A package version the protected log holds beside its record (sealed; the database never sees keys). */
export interface LoggedPackageVersion {
  readonly meterId: string;
  readonly sequence: number;
  readonly sealed: Buffer;
}

/** One record of the protected log to re-apply to the restored packages. */
export interface ReplayRecordRequest {
  readonly sealedRecord: Buffer;
  /** The digest of the record before it in the restored log, or null when the log starts here. */
  readonly previousDigest: string | null;
  readonly loggedPackages: readonly LoggedPackageVersion[];
  /** The restored database's package of each meter the record touches (absent for new meters). */
  readonly current: ReadonlyMap<string, { readonly sealed: Buffer; readonly sequence: number }>;
}

export interface ReplayedPackage {
  readonly meterId: string;
  readonly sequence: number;
  readonly keyVersion: number;
  readonly sealedPackage: Buffer;
  /** The restored database's version it replaces, or null for a meter the record created. */
  readonly fromSequence: number | null;
}

export interface ReplayedRecord {
  readonly record: CheckpointRecord;
  readonly packages: readonly ReplayedPackage[];
}

export interface ReplayContext {
  readonly backend: CryptoBackend;
  readonly version: number;
  unseal(sealed: Buffer, expected: PackageExpectation): Promise<{ state: PsdState; keyVersion: number }>;
}

interface Registers {
  readonly ascending: Mills;
  readonly descending: Mills;
  readonly sequence: number;
}

const mismatch = (record: CheckpointRecord, message: string): VaultError =>
  new VaultError(
    'vault.replay_mismatch',
    `Record ${record.counter} of module ${record.moduleSerial} cannot be replayed: ${message}.`,
  );

/**
 * The registers a movement must leave, from the registers before it, under the module's rules
 * (psd-operations.ts): what the log says a transaction did has to be what that transaction does.
 */
export function expectedAfter(
  before: Pick<Registers, 'ascending' | 'descending'>,
  entry: TransactionEntry,
): { ascending: number; descending: number } {
  const { ascending, descending } = before;
  const amount = entry.amountMills;
  switch (entry.type) {
    case 'fund':
      return { ascending, descending: descending + amount };
    case 'debit':
    case 'transfer':
      return { ascending: ascending + amount, descending: descending - amount };
    case 'return':
      return { ascending: ascending - amount, descending: descending + amount };
    case 'refund':
      return { ascending, descending: descending - amount };
    case 'withdraw':
      return { ascending, descending: descending - amount };
    case 'spoil':
    case 'suspend':
    case 'resume':
    case 'update':
    case 'reseal':
    case 'create':
      return { ascending, descending };
  }
}

/**
 * Re-applies one record of the protected log, inside a module: the record's MAC and its link to
 * the restored log's last record are checked; every movement must start from the restored
 * package's version and registers and end where the module's rules take them; the package version
 * the log holds must say the same; then it is sealed again under the current master key version.
 * Anything else refuses with `vault.replay_mismatch`, naming the record and the meter.
 */
export async function replayRecord(
  context: ReplayContext,
  request: ReplayRecordRequest,
): Promise<ReplayedRecord> {
  const record = await openCheckpoint(context.backend, request.sealedRecord);
  if (
    request.previousDigest !== null &&
    record.previous !== undefined &&
    record.previous !== null &&
    record.previous !== request.previousDigest
  )
    throw mismatch(record, 'it does not link to the last record of the restored log');
  const registers = new Map<string, Registers | null>();
  const fromSequence = new Map<string, number | null>();
  for (const entry of record.transactions) {
    let before = registers.get(entry.meterId);
    if (before === undefined) {
      const current = request.current.get(entry.meterId);
      if (entry.type === 'create') {
        if (current !== undefined)
          throw mismatch(
            record,
            `it creates meter ${entry.meterId}, which the restored database already has`,
          );
        before = null;
        fromSequence.set(entry.meterId, null);
      } else {
        if (current === undefined)
          throw mismatch(record, `meter ${entry.meterId} is not in the restored database`);
        const { state } = await context.unseal(current.sealed, {
          meterId: entry.meterId,
          sequence: current.sequence,
        });
        before = {
          ascending: state.ascendingRegister,
          descending: state.descendingRegister,
          sequence: state.sequence,
        };
        fromSequence.set(entry.meterId, current.sequence);
      }
    }
    if (before !== null && entry.packageSequence !== before.sequence + 1)
      throw mismatch(
        record,
        `meter ${entry.meterId}'s package is version ${before.sequence} in the restored database, but the log's movement makes version ${entry.packageSequence} from version ${entry.packageSequence - 1}`,
      );
    if (before !== null) {
      const after = expectedAfter(before, entry);
      if (
        after.ascending !== entry.ascendingRegisterMills ||
        after.descending !== entry.descendingRegisterMills
      )
        throw mismatch(
          record,
          `meter ${entry.meterId}'s ${entry.type} of ${entry.amountMills} mills from AR ${before.ascending}, DR ${before.descending} cannot end at AR ${entry.ascendingRegisterMills}, DR ${entry.descendingRegisterMills}`,
        );
    }
    registers.set(entry.meterId, {
      ascending: entry.ascendingRegisterMills,
      descending: entry.descendingRegisterMills,
      sequence: entry.packageSequence,
    });
  }
  const packages: ReplayedPackage[] = [];
  for (const [meterId, after] of registers) {
    const logged = request.loggedPackages.find((entry) => entry.meterId === meterId);
    if (after === null) continue;
    if (logged === undefined)
      throw mismatch(record, `the log holds no package version of meter ${meterId} beside the record`);
    const { state, keyVersion } = await context.unseal(logged.sealed, { meterId, sequence: logged.sequence });
    if (
      state.sequence !== after.sequence ||
      state.ascendingRegister !== after.ascending ||
      state.descendingRegister !== after.descending
    )
      throw mismatch(
        record,
        `the logged package of meter ${meterId} does not hold the registers the record names`,
      );
    packages.push({
      meterId,
      sequence: state.sequence,
      keyVersion: context.version,
      // Sealed again only when a newer master key version came since: the logged one is authentic.
      sealedPackage:
        keyVersion === context.version
          ? logged.sealed
          : await resealUnder(context.backend, state, context.version),
      fromSequence: fromSequence.get(meterId) ?? null,
    });
  }
  return { record, packages };
}
