import type { Transaction } from 'kysely';
import type { DatabaseSchema, WebhookEvent } from '../store/index.ts';

/** Where value routes publish webhook events: written in their own commit, sent after it. */
export interface EventOutbox {
  publish(
    trx: Transaction<DatabaseSchema>,
    accountId: string,
    event: WebhookEvent,
    data: Record<string, unknown>,
  ): Promise<void>;
  /** After the commit: deliver what is due now rather than at the next tick. */
  flush(): void;
  /** A meter whose DR falls below this after printing raises balance.low. */
  readonly lowBalanceMills: number;
}
