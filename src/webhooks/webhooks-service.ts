import { createHmac, randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { canonicalJson } from '../encoding/index.ts';
import type {
  DatabaseSchema,
  WebhookDeliveriesTable,
  WebhookEvent,
  WebhookSubscriptionsTable,
} from '../store/index.ts';
import { WEBHOOK_EVENT_CATALOGUE, type WebhookEventData } from './event-catalogue.ts';
import { WebhookError } from './webhook-error.ts';

/** Every event type, in the catalogue's order. */
export const WEBHOOK_EVENTS = Object.keys(WEBHOOK_EVENT_CATALOGUE) as readonly WebhookEvent[];
export const MAX_SUBSCRIPTIONS_PER_ACCOUNT = 10;
export const SIGNATURE_HEADER = 'indicia-webhook-signature';
export const TIMESTAMP_HEADER = 'indicia-webhook-timestamp';
export const EVENT_ID_HEADER = 'indicia-webhook-id';

export interface WebhookView {
  readonly id: string;
  readonly url: string;
  readonly events: WebhookEvent[];
  readonly secretHint: string;
  readonly createdAt: string;
}

export interface DeliveryView {
  readonly id: string;
  readonly event: WebhookEvent;
  readonly status: WebhookDeliveriesTable['status'];
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly createdAt: string;
  readonly deliveredAt: string | null;
}

/** The signing secret of a subscription, derived by a crypto module whenever it is needed. */
export type SecretSource = (subscriptionId: string) => Promise<Buffer>;

const secretText = (secret: Buffer): string => `whsec_${secret.toString('base64url')}`;

/**
 * The signature a delivery carries: `v1=` and the hex HMAC-SHA256, under the subscription's
 * secret (the `whsec_…` text as shown), of "<timestamp>.<body>". Receivers recompute it and
 * refuse timestamps older than a few minutes.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

function viewOf(row: WebhookSubscriptionsTable): WebhookView {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as WebhookEvent[],
    secretHint: row.secret_hint,
    createdAt: row.created_at,
  };
}

function checkUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookError('webhook.invalid', `"${raw.slice(0, 100)}" is not a URL.`, {
      details: { field: 'url' },
    });
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '')
    throw new WebhookError(
      'webhook.invalid',
      'A webhook URL is http(s)://host/path, without credentials in it.',
      {
        details: { field: 'url' },
      },
    );
  return url.toString();
}

/**
 * Webhooks: customers subscribe a URL to events; events are written to an outbox inside the
 * transaction that caused them (so none is lost or invented), and the delivery job posts them,
 * signed, with retries.
 */
export function createWebhooksService(db: Kysely<DatabaseSchema>, secretOf: SecretSource) {
  const own = async (accountId: string, id: string): Promise<WebhookSubscriptionsTable> => {
    const row = await db
      .selectFrom('webhook_subscriptions')
      .selectAll()
      .where('id', '=', id)
      .where('account_id', '=', accountId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (row === undefined)
      throw new WebhookError('webhook.not_found', `You have no webhook ${id.slice(0, 60)}.`);
    return row;
  };

  return {
    /** Subscribes a URL; the signing secret is in the answer only. */
    async subscribe(
      accountId: string,
      request: { url: string; events: readonly string[] },
    ): Promise<{ webhook: WebhookView; secret: string }> {
      const url = checkUrl(request.url);
      const unknown = request.events.filter(
        (event) => !(WEBHOOK_EVENTS as readonly string[]).includes(event),
      );
      if (request.events.length === 0 || unknown.length > 0)
        throw new WebhookError('webhook.invalid', `Events are one or more of ${WEBHOOK_EVENTS.join(', ')}.`, {
          details: { field: 'events' },
        });
      const active = await db
        .selectFrom('webhook_subscriptions')
        .select('id')
        .where('account_id', '=', accountId)
        .where('deleted_at', 'is', null)
        .execute();
      if (active.length >= MAX_SUBSCRIPTIONS_PER_ACCOUNT)
        throw new WebhookError(
          'webhook.invalid',
          `An account has at most ${MAX_SUBSCRIPTIONS_PER_ACCOUNT} webhooks; delete one first.`,
        );
      const id = `wh_${randomUUID()}`;
      const secret = secretText(await secretOf(id));
      const row: WebhookSubscriptionsTable = {
        id,
        account_id: accountId,
        url,
        events: JSON.stringify([...new Set(request.events)]),
        secret_hint: secret.slice(-4),
        created_at: new Date().toISOString(),
        deleted_at: null,
      };
      await db.insertInto('webhook_subscriptions').values(row).execute();
      return { webhook: viewOf(row), secret };
    },

    async list(accountId: string): Promise<WebhookView[]> {
      const rows = await db
        .selectFrom('webhook_subscriptions')
        .selectAll()
        .where('account_id', '=', accountId)
        .where('deleted_at', 'is', null)
        .orderBy('created_at')
        .execute();
      return rows.map(viewOf);
    },

    async remove(accountId: string, id: string): Promise<void> {
      await own(accountId, id);
      await db
        .updateTable('webhook_subscriptions')
        .set({ deleted_at: new Date().toISOString() })
        .where('id', '=', id)
        .execute();
      await db
        .updateTable('webhook_deliveries')
        .set({ status: 'failed', next_attempt_at: null, last_error: 'the webhook was deleted' })
        .where('subscription_id', '=', id)
        .where('status', '=', 'pending')
        .execute();
    },

    /** The delivery log of one webhook, newest first. */
    async deliveries(accountId: string, id: string, limit = 100): Promise<DeliveryView[]> {
      await own(accountId, id);
      const rows = await db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('subscription_id', '=', id)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        id: row.id,
        event: row.event,
        status: row.status,
        attempts: row.attempts,
        nextAttemptAt: row.next_attempt_at,
        lastStatusCode: row.last_status_code,
        lastError: row.last_error,
        createdAt: row.created_at,
        deliveredAt: row.delivered_at,
      }));
    },

    /** The `whsec_…` secret of a subscription, for signing a delivery. */
    async secret(subscriptionId: string): Promise<string> {
      return secretText(await secretOf(subscriptionId));
    },
  };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;

/**
 * Writes an event to the outbox of every webhook of `accountId` that wants it, inside the
 * caller's transaction: it is delivered if and only if what it reports was committed.
 */
export async function enqueueWebhookEvent<Event extends WebhookEvent>(
  trx: Transaction<DatabaseSchema>,
  accountId: string,
  event: Event,
  data: WebhookEventData<Event>,
): Promise<void> {
  const subscriptions = await trx
    .selectFrom('webhook_subscriptions')
    .select(['id', 'events'])
    .where('account_id', '=', accountId)
    .where('deleted_at', 'is', null)
    .execute();
  const now = new Date().toISOString();
  const rows = subscriptions
    .filter((subscription) => (JSON.parse(subscription.events) as string[]).includes(event))
    .map((subscription) => {
      const id = `evt_${randomUUID()}`;
      return {
        id,
        subscription_id: subscription.id,
        event,
        payload: canonicalJson({ id, type: event, createdAt: now, data }),
        status: 'pending' as const,
        attempts: 0,
        next_attempt_at: now,
        last_status_code: null,
        last_error: null,
        created_at: now,
        delivered_at: null,
      };
    });
  if (rows.length > 0) await trx.insertInto('webhook_deliveries').values(rows).execute();
}
