import type { Mills } from '../money/index.ts';
import { type CheckpointRecord, type TransactionEntry, openCheckpoint } from './checkpoint.ts';
import { type ReplayContext, type ReplayedPackage, expectedAfter } from './log-replay.ts';
import type { PsdState } from './psd-package.ts';
import { resealUnder } from './psd-package.ts';
import { VaultError } from './vault-error.ts';

/** Records the modules committed after a restored database's last ones, to bring its meters level. */
export interface GapSettlementRequest {
  /** Sealed checkpoint records from the modules' own memory (any module's; each is checked here). */
  readonly sealedRecords: readonly Buffer[];
  /** The restored database's package of each meter the records touch. */
  readonly current: ReadonlyMap<string, { readonly sealed: Buffer; readonly sequence: number }>;
}

export interface GapSettlement {
  readonly records: readonly { readonly sealed: Buffer; readonly record: CheckpointRecord }[];
  readonly packages: readonly ReplayedPackage[];
}

const unsettleable = (meterId: string, why: string): VaultError =>
  new VaultError(
    'vault.gap_unsettleable',
    `Meter ${meterId} cannot be brought level from the modules' memory: ${why}.`,
    { details: { meterId } },
  );

/** A movement applied to a package's registers and state, as the module's rules have it. */
function settle(state: PsdState, entry: TransactionEntry): PsdState {
  const amount = entry.amountMills;
  const refund = (extra: number): Mills => (state.refundRegister + extra) as Mills;
  const registers = {
    ascendingRegister: entry.ascendingRegisterMills,
    descendingRegister: entry.descendingRegisterMills,
    sequence: entry.packageSequence,
  };
  switch (entry.type) {
    case 'fund':
    case 'debit':
    case 'transfer':
    case 'return':
      return { ...state, ...registers };
    case 'refund':
    case 'spoil':
      return { ...state, ...registers, refundRegister: refund(amount) };
    case 'withdraw':
      return { ...state, ...registers, refundRegister: refund(amount), state: 'withdrawn' };
    case 'suspend':
      return { ...state, ...registers, state: 'suspended' };
    case 'resume':
      return { ...state, ...registers, state: 'active' };
    case 'create':
    case 'update':
    case 'reseal':
      throw unsettleable(
        entry.meterId,
        `its ${entry.type} (package version ${entry.packageSequence}) changed more than its registers, and only the package itself could say how`,
      );
  }
}

/**
 * Brings the packages of a restored database level with what the modules committed after its last
 * records (they remember their last few records, MACed): every record is checked, each meter's
 * movements are taken in package-version order and must follow on from its restored version without
 * a hole and obey the module's rules, and its package is sealed again at its newest version. The
 * device chains stay as restored: a device signs again after fetching its current challenge.
 */
export async function settleGap(
  context: ReplayContext,
  request: GapSettlementRequest,
): Promise<GapSettlement> {
  const records = [];
  for (const sealed of request.sealedRecords)
    records.push({ sealed, record: await openCheckpoint(context.backend, sealed) });
  const movements = new Map<string, TransactionEntry[]>();
  for (const { record } of records)
    for (const entry of record.transactions)
      movements.set(entry.meterId, [...(movements.get(entry.meterId) ?? []), entry]);
  const packages: ReplayedPackage[] = [];
  for (const [meterId, entries] of movements) {
    const current = request.current.get(meterId);
    if (current === undefined) throw unsettleable(meterId, 'it is not in the restored database');
    let { state } = await context.unseal(current.sealed, { meterId, sequence: current.sequence });
    for (const entry of [...entries].sort((left, right) => left.packageSequence - right.packageSequence)) {
      if (entry.packageSequence !== state.sequence + 1)
        throw unsettleable(
          meterId,
          `its package is version ${state.sequence}, and the next movement the modules remember makes version ${entry.packageSequence}: versions in between are in no record at hand`,
        );
      const expected = expectedAfter(
        { ascending: state.ascendingRegister, descending: state.descendingRegister },
        entry,
      );
      if (
        expected.ascending !== entry.ascendingRegisterMills ||
        expected.descending !== entry.descendingRegisterMills
      )
        throw unsettleable(
          meterId,
          `its ${entry.type} of ${entry.amountMills} mills from AR ${state.ascendingRegister}, DR ${state.descendingRegister} cannot end at AR ${entry.ascendingRegisterMills}, DR ${entry.descendingRegisterMills}`,
        );
      state = { ...settle(state, entry), updatedAt: new Date().toISOString() };
    }
    packages.push({
      meterId,
      sequence: state.sequence,
      keyVersion: context.version,
      sealedPackage: await resealUnder(context.backend, state, context.version),
      fromSequence: current.sequence,
    });
  }
  return { records, packages };
}
