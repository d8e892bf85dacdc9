import type { CheckpointRecord, TransactionEntry } from './checkpoint.ts';

/** What a module does after comparing the database's checkpoint with its own ring. */
export type CheckpointDecision =
  | { readonly kind: 'proceed' }
  | { readonly kind: 'recover'; readonly discardCount: number }
  | {
      readonly kind: 'inhibit';
      readonly reason: string;
      /**
       * `database`: it lacks records the module committed, or holds one the module never made
       * (restored, rolled back, edited), so every module's view of it is suspect; `module`: the
       * module remembers nothing the database could be compared with (its store was lost).
       */
      readonly cause: 'database' | 'module';
      /**
       * Transactions the database committed (the module holds their confirmation) and no longer
       * holds: their indicia or receipts may already be out. Empty when the ring cannot tell.
       */
      readonly lost: readonly (TransactionEntry & { readonly counter: number })[];
    };

/** One ring entry as the comparison sees it: the exact sealed bytes and what they say. */
export interface RingView {
  readonly sealed: Buffer;
  readonly record: CheckpointRecord;
}

/**
 * Seed 001's comparison, made safe against restored databases. `ring` holds the module's last
 * records, newest first; `database` is the module table's latest record (or null when there is
 * none); `confirmedCounter` is the newest record the database was seen to commit (and, for a
 * first record, `oldestIsFirst` says the ring still reaches back to counter 1).
 *
 * - equal to the newest → proceed;
 * - one behind, and the newest was never confirmed → recover: the database never committed it
 *   (a crash or a failed commit between the module step and the commit), so nothing of it left;
 * - behind by a confirmed record → inhibit, naming what was lost: the database committed it,
 *   its value may be out, and it was rolled back (a restore, or an edit). Discarding it would
 *   sign the same register values again;
 * - anything else → inhibit. A module never re-anchors from the database alone.
 */
export function compareCheckpoints(
  ring: readonly RingView[],
  database: Buffer | null,
  confirmedCounter: number | null,
): CheckpointDecision {
  const newest = ring[0];
  const isConfirmed = (entry: RingView): boolean =>
    confirmedCounter !== null && entry.record.counter <= confirmedCounter;
  const lostFrom = (entries: readonly RingView[]) =>
    entries
      .filter(isConfirmed)
      .flatMap(({ record }) =>
        record.transactions.map((transaction) => ({ ...transaction, counter: record.counter })),
      );
  const inhibitLosing = (entries: readonly RingView[], where: string): CheckpointDecision => {
    const lost = lostFrom(entries);
    return {
      kind: 'inhibit',
      reason: `${where}; the database lost ${lost.length} committed transaction(s) whose value may already be out: ${describeLost(lost)}`,
      cause: 'database',
      lost,
    };
  };
  if (database === null) {
    if (newest === undefined) return { kind: 'proceed' };
    if (ring.length === 1 && newest.record.counter === 1 && !isConfirmed(newest))
      return { kind: 'recover', discardCount: 1 };
    if (ring.some(isConfirmed)) return inhibitLosing(ring, 'the database has no checkpoint for this module');
    return {
      kind: 'inhibit',
      reason: `the database has no checkpoint for this module, but the module remembers ${ring.length} transaction(s)`,
      cause: 'database',
      lost: [],
    };
  }
  if (newest === undefined) {
    return {
      kind: 'inhibit',
      reason: 'the database has a checkpoint for this module, but the module remembers no transactions',
      cause: 'module',
      lost: [],
    };
  }
  const index = ring.findIndex((entry) => entry.sealed.equals(database));
  if (index === 0) return { kind: 'proceed' };
  if (index === 1 && !isConfirmed(newest)) return { kind: 'recover', discardCount: 1 };
  if (index > 0) {
    return inhibitLosing(
      ring.slice(0, index),
      `the database's checkpoint is ${index} record(s) behind the module's (record ${ring[index]?.record.counter} of ${newest.record.counter})`,
    );
  }
  const lost = lostFrom(ring);
  return {
    kind: 'inhibit',
    reason: `the database's checkpoint matches none of the module's last ${ring.length} transaction record(s): the database was rolled back further than the module can account for, or altered${lost.length === 0 ? '' : `; among what the module remembers, ${lost.length} committed transaction(s) may already be out: ${describeLost(lost)}`}`,
    cause: 'database',
    lost,
  };
}

/** "meter 421D00000001: debit of 500 mills to AR 2500 (package 7, record 12); …", at most ten. */
function describeLost(lost: readonly (TransactionEntry & { readonly counter: number })[]): string {
  const shown = lost
    .slice(0, 10)
    .map(
      (entry) =>
        `meter ${entry.meterId}: ${entry.type} of ${entry.amountMills} mills to AR ${entry.ascendingRegisterMills} (package ${entry.packageSequence}, record ${entry.counter})`,
    );
  if (lost.length > shown.length) shown.push(`and ${lost.length - shown.length} more`);
  return shown.join('; ');
}
