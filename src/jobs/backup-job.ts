import { Counter, Gauge } from 'prom-client';
import type { BackupBackend, BackupKind, BackupRecord, PruneReport } from '../backup/index.ts';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';

/** A full PostgreSQL backup at least this often; incremental ones on the days between. */
export const FULL_BACKUP_EVERY_MS = 7 * 24 * 60 * 60_000;

export interface BackupJob {
  /** Takes the day's backup and prunes now (also what the timer calls); one run at a time. */
  runOnce(): Promise<{ backup: BackupRecord; pruned: PruneReport }>;
  /** When the timer fires next; undefined when the daily backup is off. */
  readonly nextRunAt: Date | undefined;
  stop(): void;
}

/** Milliseconds from `now` to the next `HH:MM` UTC (a full day when it is that minute now). */
export function millisecondsUntil(at: string, now: Date): number {
  const [hours, minutes] = at.split(':').map(Number);
  const next = new Date(now);
  next.setUTCHours(hours ?? 0, minutes ?? 0, 0, 0);
  if (next.getTime() <= now.getTime()) next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime() - now.getTime();
}

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
 * backups kept, and failures, on the server's Prometheus registry. A run never overlaps another.
 */
export function startBackupJob(dependencies: {
  /** The backend, made when first needed: a PostgreSQL installation without INDICIA_PG_DATA_DIR throws. */
  backups: () => BackupBackend;
  logger: Logger;
  metrics: ServerMetrics;
  at: string;
  now?: () => Date;
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

  let running: Promise<{ backup: BackupRecord; pruned: PruneReport }> | undefined;
  const runOnce = (): Promise<{ backup: BackupRecord; pruned: PruneReport }> => {
    running ??= (async () => {
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
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  let timer: NodeJS.Timeout | undefined;
  let nextRunAt: Date | undefined;
  let isStopped = false;
  const schedule = (): void => {
    if (isStopped) return;
    const wait = millisecondsUntil(at, now());
    nextRunAt = new Date(now().getTime() + wait);
    timer = setTimeout(() => {
      runOnce()
        .catch((error: unknown) => logger.error({ err: error }, 'the daily backup failed'))
        .finally(schedule);
    }, wait);
    timer.unref();
  };
  if (at !== 'off') {
    try {
      dependencies.backups();
    } catch (error) {
      // Said at start, not only at the first failed run a day later.
      logger.warn({ err: error }, 'the daily backup cannot run as configured');
    }
    schedule();
  }
  return {
    runOnce,
    get nextRunAt() {
      return nextRunAt;
    },
    stop: () => {
      isStopped = true;
      clearTimeout(timer);
      nextRunAt = undefined;
    },
  };
}
