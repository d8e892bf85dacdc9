import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import { type AuditEvent, auditHash, eventFromRow, genesisHash } from './audit-log.ts';

/** Where a chain stands: its last sequence and that event's hash (sequence 0: the genesis hash). */
export interface ChainPosition {
  readonly sequence: number;
  readonly hash: string;
}

export type RecordProblemReason = 'hash' | 'link' | 'gap' | 'head';

/** A record of a chain that does not check out. */
export interface RecordProblem {
  readonly reason: RecordProblemReason;
  readonly chain: string;
  readonly sequence: number;
  readonly message: string;
}

const PAGE = 2_000;

export function genesisOf(chain: string): ChainPosition {
  return { sequence: 0, hash: genesisHash(chain) };
}

/** Every audit chain the database knows of: by head row or by events. */
export async function chainIds(db: Kysely<DatabaseSchema>): Promise<string[]> {
  const heads = await db.selectFrom('audit_heads').select('chain').execute();
  const events = await db.selectFrom('audit_events').select('chain').distinct().execute();
  return [...new Set([...heads, ...events].map((row) => row.chain))].sort();
}

/** Every chain's head row, by chain id. */
export async function chainHeads(db: Kysely<DatabaseSchema>): Promise<Map<string, ChainPosition>> {
  const rows = await db
    .selectFrom('audit_heads')
    .select(['chain', 'sequence', 'hash'])
    .orderBy('chain')
    .execute();
  return new Map(rows.map((row) => [row.chain, { sequence: row.sequence, hash: row.hash }]));
}

/**
 * Walks one chain from a trusted position (genesis, or an anchored head) up to `through` (or its
 * end), recomputing every hash: sequences must run without a gap, each event must name the hash
 * of the one before, and its own hash must be what its content gives. When the start is an
 * anchored record (sequence > 0), that record must still be there with the anchored hash.
 * `visit` sees every event in order (after its own checks) and may report problems of its own.
 * Problems are reported, not thrown; the walk goes on from the stored hash, so one edited event
 * shows once rather than breaking every link after it.
 */
export async function walkChain(
  db: Kysely<DatabaseSchema>,
  chain: string,
  start: ChainPosition,
  options: {
    readonly through?: number;
    /** False when the walk goes on from where an earlier walk of this chain ended (checked then). */
    readonly checkStart?: boolean;
    readonly visit?: (event: AuditEvent) => Promise<void>;
    readonly report: (problem: RecordProblem) => void;
  },
): Promise<ChainPosition> {
  const { report } = options;
  let position = start;
  let isStartChecked = start.sequence === 0 || options.checkStart === false;
  let after = start.sequence - (isStartChecked ? 0 : 1);
  for (;;) {
    let query = db
      .selectFrom('audit_events')
      .selectAll()
      .where('chain', '=', chain)
      .where('sequence', '>', after)
      .orderBy('sequence')
      .limit(PAGE);
    if (options.through !== undefined) query = query.where('sequence', '<=', options.through);
    const rows = await query.execute();
    for (const row of rows) {
      after = row.sequence;
      if (!isStartChecked) {
        isStartChecked = true;
        if (row.sequence !== start.sequence || row.hash !== start.hash) {
          report({
            reason: 'hash',
            chain,
            sequence: start.sequence,
            message:
              row.sequence !== start.sequence
                ? `record ${start.sequence}, where the walk starts, is missing`
                : `record ${start.sequence}, where the walk starts, has hash ${row.hash.slice(0, 12)}…, not the trusted ${start.hash.slice(0, 12)}…`,
          });
        }
        if (row.sequence === start.sequence) continue;
      }
      let event: AuditEvent;
      try {
        event = eventFromRow(row);
      } catch {
        report({
          reason: 'hash',
          chain,
          sequence: row.sequence,
          message: `record ${row.sequence}'s details are not JSON`,
        });
        position = { sequence: row.sequence, hash: row.hash };
        continue;
      }
      const expected = position.sequence + 1;
      if (row.sequence !== expected)
        report({
          reason: 'gap',
          chain,
          sequence: expected,
          message:
            row.sequence === expected + 1
              ? `record ${expected} is missing`
              : `records ${expected} to ${row.sequence - 1} are missing`,
        });
      else if (row.previous_hash !== position.hash)
        report({
          reason: 'link',
          chain,
          sequence: row.sequence,
          message: `record ${row.sequence} does not name the hash of record ${position.sequence} before it`,
        });
      if (auditHash(row.previous_hash, event) !== row.hash)
        report({
          reason: 'hash',
          chain,
          sequence: row.sequence,
          message: `record ${row.sequence}'s content does not give its hash: it was changed after it was written`,
        });
      await options.visit?.(event);
      position = { sequence: row.sequence, hash: row.hash };
    }
    if (rows.length < PAGE) break;
  }
  if (!isStartChecked)
    report({
      reason: 'hash',
      chain,
      sequence: start.sequence,
      message: `record ${start.sequence}, where the walk starts, is missing`,
    });
  return position;
}
