import { Counter, Gauge } from 'prom-client';
import type { BackupBackend, BackupKind, BackupRecord, PruneReport } from '../backup/index.ts';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';
import type { JobCoordinator } from './job-lease.ts';
import { type JobRunner, startJobRunner } from './job-runner.ts';

/** A full PostgreSQL backup at least this often; incremental ones on the days between. */
export const FULL_BACKUP_EVERY_MS = 7 * 24 * 60 * 60_000;

/** Takes the day's backup and prunes (runOnce now, or at its time); `nextRunAt` is undefined when off. */
export type BackupJob = JobRunner<{ backup: BackupRecord; pruned: PruneReport }>;

/**
 * SQLite: always full. PostgreSQL: full when there is none yet or the newest is a week old,
 * incremental on the other days (each builds on the last backup, so a restore needs one full
 * and at most six incrementals).
 */
export function kindOfNextBackup(
  backend: BackupBackend['name'],
  backups: readonly BackupRecord[],
  now: Date,
): BackupKind {
  if (backend === 'sqlite') return 'full';
  const newestFull = backups.filter((backup) => backup.kind === 'full').at(-1);
  // An hour's grace: the weekly full falls on the same day of the week even if a run was late.
  return newestFull === undefined ||
    now.getTime() - Date.parse(newestFull.takenAt) >= FULL_BACKUP_EVERY_MS - 3_600_000
    ? 'full'
    : 'incremental';
}

/**
 * The daily backup: at `at` (HH:MM UTC; `off` for none) takes a backup through the configured
 * backend, then prunes by retention. Exports the last success's time, size and duration, the
 * backups kept, and failures, on the server's Prometheus registry. A run never overlaps another;
 * in a farm one server takes each day's backup (job-runner.ts).
 */
export function startBackupJob(dependencies: {
  /** The backend, made when first needed: a PostgreSQL installation without INDICIA_PG_DATA_DIR throws. */
  backups: () => BackupBackend;
  logger: Logger;
  metrics: ServerMetrics;
  at: string;
  now?: () => Date;
  coordinator?: JobCoordinator;
}): BackupJob {
  const { logger, metrics, at } = dependencies;
  const now = dependencies.now ?? (() => new Date());
  const registers = [metrics.registry];
  const lastSuccess = new Gauge({
    name: 'indicia_backup_last_success_timestamp_seconds',
    help: 'When the last backup finished (Unix seconds); alert when it is more than a day old.',
    registers,
  });
  const lastSize = new Gauge({
    name: 'indicia_backup_last_size_bytes',
    help: 'Size of the database the last backup copied, in bytes.',
    registers,
  });
  const lastDuration = new Gauge({
    name: 'indicia_backup_last_duration_seconds',
    help: 'How long the last backup took.',
    registers,
  });
  const kept = new Gauge({
    name: 'indicia_backups_kept',
    help: 'Backups kept after the last prune.',
    registers,
  });
  const failures = new Counter({
    name: 'indicia_backup_failures_total',
    help: 'Backups (or prunes) that failed since start; each is logged with its reason.',
    registers,
  });

  const backUp = async (): Promise<{ backup: BackupRecord; pruned: PruneReport }> => {
    const started = Date.now();
    try {
      const backups = dependencies.backups();
      const kind = kindOfNextBackup(backups.name, await backups.list(), now());
      const backup = await backups.take(kind);
      const pruned = await backups.prune();
      lastSuccess.set(Date.now() / 1000);
      lastSize.set(backup.bytes);
      lastDuration.set((Date.now() - started) / 1000);
      kept.set(pruned.kept.length);
      logger.info(
        { backupId: backup.id, kind: backup.kind, bytes: backup.bytes, removed: pruned.removed },
        'backup taken',
      );
      return { backup, pruned };
    } catch (error) {
      failures.inc();
      throw error;
    }
  };
  if (at !== 'off') {
    try {
      dependencies.backups();
    } catch (error) {
      // Said at start, not only at the first failed run a day later.
      logger.warn({ err: error }, 'the daily backup cannot run as configured');
    }
  }
  return startJobRunner({
    name: 'backup',
    schedule: at === 'off' ? 'off' : { dailyAt: at },
    work: backUp,
    describe: ({ backup, pruned }) => ({
      backupId: backup.id,
      kind: backup.kind,
      bytes: backup.bytes,
      removed: pruned.removed.length,
    }),
    failureMessage: 'the daily backup failed',
    logger,
    metrics,
    now,
    coordinator: dependencies.coordinator,
  });
}
