import type { Kysely } from 'kysely';
import {
  type AuditEvent,
  type AuditVerification,
  type RecordMacs,
  appendAuditEvents,
  verifyAuditLog,
} from '../audit/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';
import type { JobCoordinator } from './job-lease.ts';
import { startJobRunner } from './job-runner.ts';

export interface AuditVerificationJob {
  /** Verifies once now (what the timer calls). */
  runOnce(): Promise<AuditVerification>;
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/** Problems logged one line each per run; the rest are counted. */
const LOGGED_PROBLEMS = 10;

/**
 * The audit verification job: every `intervalSeconds` it verifies the audit log (the first run
 * from genesis, later runs from the newest anchor an intact run checked), with the module log
 * cross-check when given, exports the outcome as metrics, logs each problem and records the run
 * (`audit.verified`) in the installation chain. A run never overlaps the previous one; in a farm
 * one server runs each period (job-runner.ts).
 */
export function startAuditVerificationJob(dependencies: {
  readonly db: Kysely<DatabaseSchema>;
  readonly verifyMac: RecordMacs['verify'];
  /** Built per run, so its cache of opened module log records lives one run only. */
  readonly crossCheck?: () => (event: AuditEvent) => Promise<string | null>;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly intervalSeconds: number;
  readonly coordinator?: JobCoordinator;
}): AuditVerificationJob {
  const { db, verifyMac, crossCheck, logger, metrics, intervalSeconds } = dependencies;
  let from: number | undefined;
  const verify = async (): Promise<AuditVerification> => {
    const report = await verifyAuditLog(db, {
      verifyMac,
      ...(from === undefined ? {} : { from }),
      ...(crossCheck === undefined ? {} : { crossCheck: crossCheck() }),
    }).catch((error: unknown) => {
      from = undefined; // the anchor it started from is gone: the next run starts at genesis
      throw error;
    });
    metrics.audit.recordsVerified.set(report.records);
    metrics.audit.unanchoredEvents.set(report.unanchored);
    metrics.audit.lastVerification.set(Date.now() / 1000);
    if (report.isIntact) from = report.newestAnchor ?? undefined;
    else {
      metrics.audit.verificationFailures.inc();
      for (const problem of report.problems.slice(0, LOGGED_PROBLEMS))
        logger.error({ ...problem }, 'audit log verification: a record does not verify');
    }
    await db.transaction().execute((trx) =>
      appendAuditEvents(trx, [
        {
          kind: 'audit.verified',
          details: {
            isIntact: report.isIntact,
            records: report.records,
            anchors: report.anchors,
            fromAnchor: report.firstAnchor,
            unanchored: report.unanchored,
            problems: report.problemCount,
            firstProblem: report.firstProblem?.message ?? null,
          },
        },
      ]),
    );
    logger.info(
      { records: report.records, anchors: report.anchors, problems: report.problemCount },
      'audit log verified',
    );
    return report;
  };
  const runner = startJobRunner({
    name: 'audit-verification',
    schedule: intervalSeconds > 0 ? { everyMs: intervalSeconds * 1000 } : 'off',
    work: () =>
      verify().catch((error: unknown) => {
        metrics.audit.verificationFailures.inc();
        throw error;
      }),
    describe: (report) => ({
      isIntact: report.isIntact,
      records: report.records,
      problems: report.problemCount,
    }),
    failureMessage: 'audit log verification failed',
    logger,
    metrics,
    coordinator: dependencies.coordinator,
  });
  return { runOnce: () => runner.runOnce(), stop: () => runner.stop() };
}
