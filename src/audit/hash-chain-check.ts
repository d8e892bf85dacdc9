import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import { chainHeads, chainIds, genesisOf, walkChain } from './chain-walk.ts';

export interface ChainVerification {
  readonly isIntact: boolean;
  /** Events walked, over every chain. */
  readonly events: number;
  /** The first event (of the first chain, by id) whose hash, link or sequence does not check out. */
  readonly firstBrokenSequence: number | null;
}

/**
 * The SHA-256 check alone, of every chain from genesis with its head row: what anyone with the
 * database can recompute. `verifyAuditLog` adds the anchors MACed in a crypto module.
 */
export async function verifyAuditChain(db: Kysely<DatabaseSchema>): Promise<ChainVerification> {
  let events = 0;
  const broken: number[] = [];
  const heads = await chainHeads(db);
  for (const chain of await chainIds(db)) {
    const report = (problem: { sequence: number }): void => {
      broken.push(problem.sequence);
    };
    const end = await walkChain(db, chain, genesisOf(chain), {
      report,
      visit: () => {
        events += 1;
        return Promise.resolve();
      },
    });
    const head = heads.get(chain);
    if (head === undefined || head.sequence !== end.sequence || head.hash !== end.hash)
      report({ sequence: end.sequence + 1 });
  }
  return { isIntact: broken.length === 0, events, firstBrokenSequence: broken[0] ?? null };
}
