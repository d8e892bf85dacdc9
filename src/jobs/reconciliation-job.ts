import type { Kysely } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import type { CustodyService } from '../custody/index.ts';
import { type ReconciliationReport, reconcileMeters } from '../meters/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';
import type { JobCoordinator } from './job-lease.ts';
import { type JobRunner, startJobRunner } from './job-runner.ts';

export type ReconciliationJob = JobRunner<ReconciliationReport>;

/**
 * The reconciliation job: every `intervalMinutes`, proves every meter balances from stored data,
 * logs the outcome (an error per difference), exports it as metrics and records it in the audit
 * log. Once per period in a farm (job-runner.ts).
 */
export function startReconciliationJob(dependencies: {
  db: Kysely<DatabaseSchema>;
  custody: CustodyService;
  logger: Logger;
  metrics: ServerMetrics;
  intervalMinutes: number;
  coordinator?: JobCoordinator;
}): ReconciliationJob {
  const { db, custody, logger, metrics, intervalMinutes } = dependencies;
  const reconcile = async (): Promise<ReconciliationReport> => {
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
    logger.info({ meters: report.meters.length, unbalanced: unbalanced.length }, 'reconciliation completed');
    return report;
  };
  return startJobRunner({
    name: 'reconciliation',
    schedule: intervalMinutes > 0 ? { everyMs: intervalMinutes * 60_000 } : 'off',
    work: reconcile,
    describe: (report) => ({
      meters: report.meters.length,
      unbalanced: report.meters.filter((meter) => meter.differences.length > 0).length,
    }),
    failureMessage: 'reconciliation failed',
    logger,
    metrics,
    coordinator: dependencies.coordinator,
  });
}
