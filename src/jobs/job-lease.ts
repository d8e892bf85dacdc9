import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { DatabaseSchema, JobRunOutcome, JobRunTrigger } from '../store/index.ts';

/** How long a job lease lasts unless renewed: the longest a dead holder keeps a job from the farm. */
export const DEFAULT_JOB_LEASE_MS = 30_000;
/** Runs kept per job; older ones are deleted as new ones finish. */
const RUNS_KEPT_PER_JOB = 1_000;

/**
 * What one server's jobs share to run once in a farm: the database the leases are in, the name
 * this server holds them under (host, process, and a random part, so two servers in one process
 * differ), and how long a lease lasts. Without one, a job runs on its timer in this process only.
 */
export interface JobCoordinator {
  readonly db: Kysely<DatabaseSchema>;
  readonly holder: string;
  readonly leaseMs: number;
  /** The clock leases and periods are read from (servers of a farm keep theirs in step, NTP). */
  readonly now: () => Date;
}

/**
 * @example const coordinator = jobCoordinator({ db: store.db }); // holder "host/1234/1a2b3c"
 */
export function jobCoordinator(options: {
  readonly db: Kysely<DatabaseSchema>;
  readonly holder?: string;
  readonly leaseMs?: number;
  readonly now?: () => Date;
}): JobCoordinator {
  return {
    db: options.db,
    holder: options.holder ?? `${hostname()}/${process.pid}/${randomUUID().slice(0, 6)}`,
    leaseMs: options.leaseMs ?? DEFAULT_JOB_LEASE_MS,
    now: options.now ?? (() => new Date()),
  };
}

const iso = (time: number): string => new Date(time).toISOString();

/**
 * Takes the job's lease when it is free, expired, or already this holder's: one conditional
 * UPDATE, which both dialects run atomically (PostgreSQL re-checks the condition on the row it
 * locked; SQLite has one writer). Returns whether this holder now has it.
 */
export async function acquireJobLease(coordinator: JobCoordinator, job: string): Promise<boolean> {
  const { db, holder, leaseMs } = coordinator;
  const now = coordinator.now().getTime();
  await db
    .insertInto('job_leases')
    .values({ job, holder: null, acquired_at: null, expires_at: null })
    .onConflict((conflict) => conflict.column('job').doNothing())
    .execute();
  const taken = await db
    .updateTable('job_leases')
    .set({ holder, acquired_at: iso(now), expires_at: iso(now + leaseMs) })
    .where('job', '=', job)
    .where((where) =>
      where.or([
        where('holder', 'is', null),
        where('holder', '=', holder),
        where('expires_at', '<', iso(now)),
      ]),
    )
    .executeTakeFirst();
  return taken.numUpdatedRows === 1n;
}

/** Extends this holder's lease by a lease length from now; false when it is no longer this holder's. */
export async function renewJobLease(coordinator: JobCoordinator, job: string): Promise<boolean> {
  const renewed = await coordinator.db
    .updateTable('job_leases')
    .set({ expires_at: iso(coordinator.now().getTime() + coordinator.leaseMs) })
    .where('job', '=', job)
    .where('holder', '=', coordinator.holder)
    .executeTakeFirst();
  return renewed.numUpdatedRows === 1n;
}

/** Frees the lease at once (a run finished, a clean stop), so any server may take the next period. */
export async function releaseJobLease(coordinator: JobCoordinator, job: string): Promise<void> {
  await coordinator.db
    .updateTable('job_leases')
    .set({ holder: null, acquired_at: null, expires_at: null })
    .where('job', '=', job)
    .where('holder', '=', coordinator.holder)
    .execute();
}

/** Who holds a job's lease and until when, or null when nobody does. */
export async function jobLeaseHolder(
  coordinator: Pick<JobCoordinator, 'db'>,
  job: string,
): Promise<{ holder: string; expiresAt: string } | null> {
  const row = await coordinator.db
    .selectFrom('job_leases')
    .select(['holder', 'expires_at'])
    .where('job', '=', job)
    .executeTakeFirst();
  return row === undefined || row.holder === null || row.expires_at === null
    ? null
    : { holder: row.holder, expiresAt: row.expires_at };
}

/**
 * Records that this holder starts a run (under the lease). A timed run names its period: when
 * that period has a run already (another server ran it and let the lease go), nothing is written
 * and null is returned. Runs another holder left `running` are marked `abandoned`: the lease is
 * this holder's, so their holder's lease expired (it died or stalled).
 */
export async function startJobRun(
  coordinator: JobCoordinator,
  job: string,
  run: { readonly period: string | null; readonly trigger: JobRunTrigger },
): Promise<string | null> {
  const { db, holder } = coordinator;
  const id = randomUUID();
  const startedAt = coordinator.now().toISOString();
  const inserted = await db
    .insertInto('job_runs')
    .values({
      id,
      job,
      period: run.period,
      holder,
      trigger: run.trigger,
      started_at: startedAt,
      finished_at: null,
      outcome: 'running',
      details: null,
    })
    .onConflict((conflict) => conflict.columns(['job', 'period']).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted === undefined) return null;
  await db
    .updateTable('job_runs')
    .set({ outcome: 'abandoned', finished_at: startedAt })
    .where('job', '=', job)
    .where('outcome', '=', 'running')
    .where('holder', '!=', holder)
    .execute();
  return id;
}

export async function finishJobRun(
  coordinator: JobCoordinator,
  id: string,
  outcome: Exclude<JobRunOutcome, 'running' | 'abandoned'>,
  details: unknown,
): Promise<void> {
  await coordinator.db
    .updateTable('job_runs')
    .set({
      outcome,
      finished_at: coordinator.now().toISOString(),
      details: details === undefined || details === null ? null : JSON.stringify(details),
    })
    .where('id', '=', id)
    .execute();
}

/** Deletes a job's runs beyond the newest RUNS_KEPT_PER_JOB. */
export async function pruneJobRuns(coordinator: Pick<JobCoordinator, 'db'>, job: string): Promise<void> {
  const { db } = coordinator;
  const oldestKept = await db
    .selectFrom('job_runs')
    .select('started_at')
    .where('job', '=', job)
    .orderBy('started_at', 'desc')
    .offset(RUNS_KEPT_PER_JOB - 1)
    .limit(1)
    .executeTakeFirst();
  if (oldestKept === undefined) return;
  await db
    .deleteFrom('job_runs')
    .where('job', '=', job)
    .where('started_at', '<', oldestKept.started_at)
    .execute();
}

export interface JobRunRecord {
  readonly job: string;
  readonly period: string | null;
  readonly holder: string;
  readonly trigger: JobRunTrigger;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly outcome: JobRunOutcome;
  readonly details: unknown;
}

/**
 * The newest runs, of one job or of all, newest first: what an operator (`indicia jobs`) and a
 * test read to see that each period ran once and where.
 *
 * @example const runs = await listJobRuns(store.db, { job: 'log-shipping', limit: 20 });
 */
export async function listJobRuns(
  db: Kysely<DatabaseSchema>,
  options: { readonly job?: string; readonly limit?: number } = {},
): Promise<JobRunRecord[]> {
  let query = db.selectFrom('job_runs').selectAll();
  if (options.job !== undefined) query = query.where('job', '=', options.job);
  const rows = await query
    .orderBy('started_at', 'desc')
    .limit(options.limit ?? 100)
    .execute();
  return rows.map((row) => ({
    job: row.job,
    period: row.period,
    holder: row.holder,
    trigger: row.trigger,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    outcome: row.outcome,
    details: row.details === null ? null : (JSON.parse(row.details) as unknown),
  }));
}
