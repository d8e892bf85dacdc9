import { AsyncLocalStorage } from 'node:async_hooks';
import type { Transaction } from 'kysely';
import type { DatabaseSchema } from './schema.ts';

/** One command a transaction committed: the package and the version it moved to. */
export interface CommittedPackage {
  readonly meterId: string;
  readonly packageSequence: number;
}

/**
 * Work a caller far up the stack adds to the transaction that commits its command (an
 * Idempotency-Key's outcome), without every layer in between passing it along.
 */
export type CommitParticipant = (
  trx: Transaction<DatabaseSchema>,
  committed: readonly CommittedPackage[],
) => Promise<void>;

const participants = new AsyncLocalStorage<CommitParticipant>();

/**
 * Runs `work` so that the command it starts (custody, which takes the participant when the
 * command is queued) runs `participant` inside its own commit.
 *
 * @example await withCommitParticipant(markKeyCommitted, () => meters.fund(meterId, amount, source));
 */
export function withCommitParticipant<T>(participant: CommitParticipant, work: () => Promise<T>): Promise<T> {
  return participants.run(participant, work);
}

/** The participant of the work running now, if any. */
export function currentCommitParticipant(): CommitParticipant | undefined {
  return participants.getStore();
}

/**
 * Runs `work` outside any participant: housekeeping a request's command needs first (a pooled
 * mini-PSD topped up from the master) commits on its own, not as the request's effect.
 */
export function withoutCommitParticipant<T>(work: () => Promise<T>): Promise<T> {
  return participants.exit(work);
}
