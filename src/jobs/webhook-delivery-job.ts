import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import type { Logger } from '../telemetry/index.ts';
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
}

/**
 * Posts the webhook outbox: each due delivery is claimed (so two servers never send it twice at
 * once), signed (Indicia-Webhook-Signature over timestamp and body), sent with a timeout, and
 * either marked delivered on a 2xx answer or scheduled again with backoff until the schedule runs
 * out. Every attempt's outcome is in the delivery log.
 */
export function startWebhookDeliveryJob(options: WebhookDeliveryOptions): WebhookDeliveryJob {
  const { db, webhooks, logger } = options;
  const schedule = options.retryScheduleSeconds ?? DEFAULT_RETRY_SCHEDULE_SECONDS;
  const timeoutMs = options.timeoutMs ?? 5_000;
  let running: Promise<number> | null = null;
  let again = false;
  let stopped = false;

  const deliver = async (delivery: {
    id: string;
    payload: string;
    attempts: number;
    subscription_id: string;
    url: string;
  }): Promise<void> => {
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
      .execute();
    if (error !== null)
      logger.warn(
        { delivery: delivery.id, attempts, error, willRetry: delay !== undefined },
        'webhook delivery failed',
      );
  };

  const runOnce = async (): Promise<number> => {
    const now = new Date();
    const due = await db
      .selectFrom('webhook_deliveries')
      .innerJoin('webhook_subscriptions', 'webhook_subscriptions.id', 'webhook_deliveries.subscription_id')
      .select([
        'webhook_deliveries.id',
        'webhook_deliveries.payload',
        'webhook_deliveries.attempts',
        'webhook_deliveries.subscription_id',
        'webhook_deliveries.next_attempt_at',
        'webhook_subscriptions.url',
      ])
      .where('webhook_deliveries.status', '=', 'pending')
      .where('webhook_deliveries.next_attempt_at', '<=', now.toISOString())
      .orderBy('webhook_deliveries.next_attempt_at')
      .limit(BATCH)
      .execute();
    const claimed = [];
    for (const delivery of due) {
      // Claimed for twice the timeout: another server skips it meanwhile, and a crash retries it.
      const claim = await db
        .updateTable('webhook_deliveries')
        .set({ next_attempt_at: new Date(now.getTime() + 2 * timeoutMs).toISOString() })
        .where('id', '=', delivery.id)
        .where('status', '=', 'pending')
        .where('next_attempt_at', '=', delivery.next_attempt_at)
        .executeTakeFirst();
      if (claim.numUpdatedRows === 1n) claimed.push(delivery);
    }
    await Promise.all(claimed.map(deliver));
    return claimed.length;
  };

  const pass = (): void => {
    if (stopped) return;
    if (running !== null) {
      again = true;
      return;
    }
    running = runOnce()
      .catch((error: unknown) => {
        logger.error({ err: error }, 'webhook delivery pass failed');
        return 0;
      })
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          pass();
        }
      });
  };
  const timer = setInterval(pass, options.intervalMs ?? 1_000);
  timer.unref();

  return {
    runOnce,
    kick: pass,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
