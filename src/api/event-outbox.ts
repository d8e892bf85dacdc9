import type { Transaction } from 'kysely';
import type { DatabaseSchema, WebhookEvent } from '../store/index.ts';
import type { WebhookEventData } from '../webhooks/index.ts';

/** Where value routes publish webhook events: written in their own commit, sent after it. */
export interface EventOutbox {
  /** `data` is what the event catalogue's schema says (src/webhooks/event-catalogue.ts). */
  publish<Event extends WebhookEvent>(
    trx: Transaction<DatabaseSchema>,
    accountId: string,
    event: Event,
    data: WebhookEventData<Event>,
  ): Promise<void>;
  /** After the commit: deliver what is due now rather than at the next tick. */
  flush(): void;
  /** A meter whose DR falls below this after printing raises balance.low. */
  readonly lowBalanceMills: number;
}
