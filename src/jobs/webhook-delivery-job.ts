import type { Kysely } from 'kysely';
import type { DatabaseSchema, DialectName } from '../store/index.ts';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';
import { startJobRunner } from './job-runner.ts';
import {
  EVENT_ID_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  type WebhooksService,
  refusedTarget,
  webhookSignature,
} from '../webhooks/index.ts';

/** Seconds before each retry: 10 s, 30 s, 2 min, 10 min, 1 h, 3 h, 6 h, 12 h; then it has failed. */
export const DEFAULT_RETRY_SCHEDULE_SECONDS: readonly number[] = [
  10, 30, 120, 600, 3_600, 10_800, 21_600, 43_200,
];
const BATCH = 20;

export interface WebhookDeliveryJob {
  /** Delivers what is due now; returns how many deliveries it attempted. */
  runOnce(): Promise<number>;
  /** Looks for due deliveries at once (after a commit that wrote some). */
  kick(): void;
  stop(): Promise<void>;
}

export interface WebhookDeliveryOptions {
  readonly db: Kysely<DatabaseSchema>;
  readonly webhooks: Pick<WebhooksService, 'secret'>;
  readonly logger: Logger;
  readonly retryScheduleSeconds?: readonly number[];
  /** Lets webhooks reach loopback and private addresses (development and tests only). */
  readonly allowPrivateTargets?: boolean;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly metrics: ServerMetrics;
  /** PostgreSQL claims with `for update skip locked`; SQLite has one writer and needs nothing more. */
  readonly dialect?: DialectName;
}

interface Delivery {
  readonly id: string;
  readonly payload: string;
  readonly attempts: number;
  readonly subscription_id: string;
  readonly url: string;
}

/**
 * Posts the webhook outbox, on every server of a farm at once (not a singleton: each pass claims
 * its own rows, so servers share the work and a dead one's claims lapse): each due delivery is
 * claimed (so two servers never send it twice at once), signed (Indicia-Webhook-Signature over timestamp and body), sent with a timeout, and
 * either marked delivered on a 2xx answer or scheduled again with backoff until the schedule runs
 * out. Every attempt's outcome is in the delivery log.
 */
export function startWebhookDeliveryJob(options: WebhookDeliveryOptions): WebhookDeliveryJob {
  const { db, webhooks, logger } = options;
  const schedule = options.retryScheduleSeconds ?? DEFAULT_RETRY_SCHEDULE_SECONDS;
  const timeoutMs = options.timeoutMs ?? 5_000;

  const deliver = async (delivery: Delivery, claimedUntil: string): Promise<void> => {
    const attempts = delivery.attempts + 1;
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const url = new URL(delivery.url);
      const refused = await refusedTarget(url, options.allowPrivateTargets === true);
      if (refused !== null) throw new Error(refused);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const secret = await webhooks.secret(delivery.subscription_id);
      const response = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Indicia-Webhooks/1',
          [EVENT_ID_HEADER]: delivery.id,
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, delivery.payload),
        },
        body: delivery.payload,
      });
      statusCode = response.status;
      await response.body?.cancel();
      if (response.status < 200 || response.status > 299) error = `answered HTTP ${response.status}`;
    } catch (caught) {
      error = caught instanceof Error ? caught.message.slice(0, 300) : 'delivery failed';
    }
    const now = Date.now();
    const delay = schedule[attempts - 1];
    await db
      .updateTable('webhook_deliveries')
      .set(
        error === null
          ? {
              status: 'delivered',
              attempts,
              last_status_code: statusCode,
              last_error: null,
              delivered_at: new Date(now).toISOString(),
              next_attempt_at: null,
            }
          : {
              status: delay === undefined ? 'failed' : 'pending',
              attempts,
              last_status_code: statusCode,
              last_error: error,
              next_attempt_at: delay === undefined ? null : new Date(now + delay * 1000).toISOString(),
            },
      )
      .where('id', '=', delivery.id)
      // Still this claim: a server that outlived it (another re-sent the event) leaves the newer outcome.
      .where('next_attempt_at', '=', claimedUntil)
      .execute();
    if (error !== null)
      logger.warn(
        { delivery: delivery.id, attempts, error, willRetry: delay !== undefined },
        'webhook delivery failed',
      );
  };

  /**
   * Claims up to BATCH due deliveries in one statement, for twice the timeout: other servers skip
   * them meanwhile (PostgreSQL: rows another server is claiming are skipped, not waited for; the
   * outer condition is checked again on the row it locks, so a row is never claimed twice), and a
   * crash only delays them to the end of the claim.
   */
  const claimDue = async (): Promise<{ claimedUntil: string; claimed: Delivery[] }> => {
    const now = new Date();
    const nowText = now.toISOString();
    const claimedUntil = new Date(now.getTime() + 2 * timeoutMs).toISOString();
    const due = db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', nowText)
      .orderBy('next_attempt_at')
      .limit(BATCH)
      .$if(options.dialect === 'postgres', (query) => query.forUpdate().skipLocked());
    const rows = await db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: claimedUntil })
      .where('id', 'in', due)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', nowText)
      .returning(['id', 'payload', 'attempts', 'subscription_id'])
      .execute();
    if (rows.length === 0) return { claimedUntil, claimed: [] };
    const urls = new Map(
      (
        await db
          .selectFrom('webhook_subscriptions')
          .select(['id', 'url'])
          .where('id', 'in', [...new Set(rows.map((row) => row.subscription_id))])
          .execute()
      ).map((row) => [row.id, row.url]),
    );
    return {
      claimedUntil,
      claimed: rows.map((row) => ({ ...row, url: urls.get(row.subscription_id) ?? '' })),
    };
  };

  const runOnce = async (): Promise<number> => {
    const { claimedUntil, claimed } = await claimDue();
    await Promise.all(claimed.map((delivery) => deliver(delivery, claimedUntil)));
    return claimed.length;
  };

  const runner = startJobRunner({
    name: 'webhook-delivery',
    schedule: { everyMs: options.intervalMs ?? 1_000 },
    work: runOnce,
    failureMessage: 'webhook delivery pass failed',
    logger,
    metrics: options.metrics,
    isSingleton: false,
  });
  return { runOnce, kick: () => runner.kick(), stop: () => runner.stop() };
}
