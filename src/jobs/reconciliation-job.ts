import type { Kysely } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import type { CustodyService } from '../custody/index.ts';
import { type ReconciliationReport, reconcileMeters } from '../meters/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';

export interface ReconciliationJob {
  /** Runs once now (also what the timer calls). */
  runOnce(): Promise<ReconciliationReport>;
  stop(): void;
}

/**
 * The reconciliation job: every `intervalMinutes`, proves every meter balances from stored data,
 * logs the outcome (an error per difference), exports it as metrics and records it in the audit
 * log. A run never overlaps the previous one.
 */
export function startReconciliationJob(dependencies: {
  db: Kysely<DatabaseSchema>;
  custody: CustodyService;
  logger: Logger;
  metrics: ServerMetrics;
  intervalMinutes: number;
}): ReconciliationJob {
  const { db, custody, logger, metrics, intervalMinutes } = dependencies;
  let running: Promise<ReconciliationReport> | undefined;
  const runOnce = (): Promise<ReconciliationReport> => {
    running ??= (async () => {
      try {
        const report = await reconcileMeters({ db, custody });
        const unbalanced = report.meters.filter((meter) => meter.differences.length > 0);
        for (const meter of unbalanced)
          logger.error(
            { meterId: meter.meterId, differences: meter.differences },
            'reconciliation: meter does not balance',
          );
        metrics.reconciliation.set({ result: 'meters' }, report.meters.length);
        metrics.reconciliation.set({ result: 'unbalanced' }, unbalanced.length);
        await db.transaction().execute((trx) =>
          appendAuditEvents(trx, [
            {
              kind: 'reconciliation.completed',
              details: {
                meters: report.meters.length,
                unbalanced: unbalanced.map((meter) => meter.meterId),
              },
            },
          ]),
        );
        logger.info(
          { meters: report.meters.length, unbalanced: unbalanced.length },
          'reconciliation completed',
        );
        return report;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer =
    intervalMinutes > 0
      ? setInterval(() => {
          runOnce().catch((error: unknown) => logger.error({ err: error }, 'reconciliation failed'));
        }, intervalMinutes * 60_000)
      : undefined;
  timer?.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
