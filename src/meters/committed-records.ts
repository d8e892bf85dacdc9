import type { Transaction } from 'kysely';
import type { CommittedCommand } from '../custody/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { IssuedIndicium } from './issuance.ts';
import type { SignedReceipt } from './receipts.ts';

/**
 * What a value command wrote in its commit, handed to the caller's own writes in the same commit
 * (the webhook outbox), so that an event can name the funding, refund, indicia and receipt it is about.
 */
export interface CommittedRecords {
  /** The signed receipt stored in this commit, when the request asked for one. */
  readonly receipt: SignedReceipt | null;
  /** A funding: `fund_…` for a meter, the deposit's reference for a pooled customer. */
  readonly fundingId?: string;
  /** A refund: `refund_…`. */
  readonly refundId?: string;
  /** The refund request the refund answers (`rfq_…`), when one was recorded in the same commit. */
  readonly refundRequestId?: string;
  /** The indicia printed, in the order of the pieces asked for. */
  readonly indicia?: readonly IssuedIndicium[];
}

/** More writes in a value command's commit, told what the command itself wrote. */
export type RecordsWithinCommit = (
  trx: Transaction<DatabaseSchema>,
  result: CommittedCommand,
  records: CommittedRecords,
) => Promise<void>;
