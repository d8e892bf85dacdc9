/** What a module does after comparing the database's checkpoint with its own ring. */
export type CheckpointDecision =
  | { readonly kind: 'proceed' }
  | { readonly kind: 'recover'; readonly discardCount: number }
  | { readonly kind: 'inhibit'; readonly reason: string };

/**
 * Seed 001's comparison. `ring` holds the module's last records, newest first, each exactly as
 * sealed; `database` is the module table's latest record (or null when there is none), and
 * `oldestIsFirst` says whether the ring still reaches back to the module's first transaction.
 *
 * - equal to the newest → proceed;
 * - equal to an older one → recover, discarding the newer ones (they never committed, or the
 *   database was restored to an earlier point);
 * - anything else → inhibit. A module never re-anchors from the database alone.
 */
export function compareCheckpoints(
  ring: readonly Buffer[],
  database: Buffer | null,
  oldestIsFirst: boolean,
): CheckpointDecision {
  if (database === null) {
    if (ring.length === 0) return { kind: 'proceed' };
    if (oldestIsFirst) return { kind: 'recover', discardCount: ring.length };
    return {
      kind: 'inhibit',
      reason: `the database has no checkpoint for this module, but the module remembers ${ring.length} transaction(s)`,
    };
  }
  if (ring.length === 0) {
    return {
      kind: 'inhibit',
      reason: 'the database has a checkpoint for this module, but the module remembers no transactions',
    };
  }
  const index = ring.findIndex((entry) => entry.equals(database));
  if (index === 0) return { kind: 'proceed' };
  if (index > 0) return { kind: 'recover', discardCount: index };
  return {
    kind: 'inhibit',
    reason: `the database's checkpoint matches none of the module's last ${ring.length} transaction(s): the database was rolled back further than the module can account for, or altered`,
  };
}
