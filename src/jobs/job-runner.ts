import type { Logger, ServerMetrics } from '../telemetry/index.ts';
import { JobError } from './job-error.ts';
import {
  type JobCoordinator,
  acquireJobLease,
  finishJobRun,
  jobLeaseHolder,
  pruneJobRuns,
  releaseJobLease,
  renewJobLease,
  startJobRun,
} from './job-lease.ts';

/**
 * When a job runs: every `everyMs` (periods aligned to the Unix epoch, so every server of a farm
 * agrees where a period starts), daily at `dailyAt` (HH:MM UTC), or never on a timer (`off`).
 */
export type JobSchedule = { readonly everyMs: number } | { readonly dailyAt: string } | 'off';

/** Milliseconds from `now` to the next `HH:MM` UTC (a full day when it is that minute now). */
export function millisecondsUntil(at: string, now: Date): number {
  const [hours, minutes] = at.split(':').map(Number);
  const next = new Date(now);
  next.setUTCHours(hours ?? 0, minutes ?? 0, 0, 0);
  if (next.getTime() <= now.getTime()) next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime() - now.getTime();
}

/** The start of the next period after `now`. */
function nextPeriodStart(schedule: Exclude<JobSchedule, 'off'>, now: Date): number {
  if ('everyMs' in schedule) return (Math.floor(now.getTime() / schedule.everyMs) + 1) * schedule.everyMs;
  return now.getTime() + millisecondsUntil(schedule.dailyAt, now);
}

export interface JobRunner<T> {
  /**
   * Runs the job now, outside its schedule (a test, the API, a final run at stop), under the
   * lease like a timed run: it joins this server's run in progress, or waits (bounded) while
   * another server runs the job, then throws `job.busy`.
   */
  runOnce(): Promise<T>;
  /** A pass as soon as the one in progress ends (jobs that are not singletons: a commit wrote work). */
  kick(): void;
  /** When the timer fires next; undefined when the job is off or stopped. */
  readonly nextRunAt: Date | undefined;
  /** Stops the timer and waits for a run in progress; `finalRun` runs it once more first (shutdown). */
  stop(options?: { readonly finalRun?: boolean }): Promise<void>;
}

export interface JobDefinition<T> {
  /** Stable name: the lease key, the run rows' and the metrics' `job` label. */
  readonly name: string;
  readonly schedule: JobSchedule;
  /** The job's own work, once. */
  readonly work: () => Promise<T>;
  /** What a run row keeps of the result (counts, ids), as JSON; nothing when omitted. */
  readonly describe?: (result: T) => unknown;
  /** The log line of a failed run. */
  readonly failureMessage: string;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  /**
   * The farm's leases: a singleton job runs each period on one server only. Without it (tests,
   * tools), or for a job that is not a singleton, each process runs the job on its own timer.
   */
  readonly coordinator?: JobCoordinator | undefined;
  /**
   * False for work that is safe on every server at once because it claims its own rows (webhook
   * delivery): no lease, no run rows; a pass asked for while one runs follows it.
   */
  readonly isSingleton?: boolean;
  /** The clock periods are read from; the coordinator's by default. */
  readonly now?: () => Date;
  /** How long runOnce waits for another server's run; default twice the lease. */
  readonly waitMs?: number;
}

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The one runner every job uses: its timer, one run at a time (a period that comes while the
 * last run still goes is skipped), a singleton lease across the servers of a farm with the run
 * recorded (job, period, holder, start, end, outcome), metrics, and a clean stop.
 *
 * A timed run on a farm: at a period's start every server tries the job's lease (free, expired,
 * or its own); the one that gets it records the period's run (unique per job and period, so a
 * period never runs twice even when a late server arrives after the lease is let go), renews the
 * lease every third of its length while it works, records the outcome and lets the lease go. A
 * holder that dies stops renewing: its lease expires and the next period runs on another server.
 *
 * @example
 * const runner = startJobRunner({ name: 'reconciliation', schedule: { everyMs: 3_600_000 },
 *   work: () => reconcileMeters(deps), failureMessage: 'reconciliation failed', logger, metrics, coordinator });
 */
export function startJobRunner<T>(definition: JobDefinition<T>): JobRunner<T> {
  const { name, schedule, logger, metrics, coordinator } = definition;
  const isSingleton = definition.isSingleton !== false;
  const leased = isSingleton ? coordinator : undefined;
  const now = definition.now ?? coordinator?.now ?? (() => new Date());
  const label = { job: name };
  /** This process's run in progress; null at its end when the period was the farm's elsewhere. */
  let running: Promise<{ readonly value: T } | null> | undefined;
  let isStopped = false;
  let isAgain = false;
  let timer: NodeJS.Timeout | undefined;
  let nextRunAt: Date | undefined;
  let lastFailure: string | null = null;
  let runsSincePrune = 0;

  /** A failure that repeats (the database down, no module serving) is logged once until a success. */
  const reportFailure = (error: unknown): void => {
    const message = errorMessage(error);
    if (message !== lastFailure) logger.error({ err: error, job: name }, definition.failureMessage);
    lastFailure = message;
  };

  /** The work, timed and counted; under a lease it is renewed meanwhile and the run recorded. */
  const measured = async (runId: string | null): Promise<T> => {
    const started = Date.now();
    let renewal: NodeJS.Timeout | undefined;
    if (leased !== undefined) {
      metrics.jobs.holding.set(label, 1);
      renewal = setInterval(() => {
        renewJobLease(leased, name).then(
          (isRenewed) => {
            if (!isRenewed) {
              metrics.jobs.leasesLost.inc(label);
              logger.warn({ job: name }, 'job lease lost during a run: another server may run it too');
            }
          },
          (error: unknown) => logger.warn({ err: error, job: name }, 'job lease could not be renewed'),
        );
      }, leased.leaseMs / 3);
      renewal.unref();
    }
    try {
      const result = await definition.work();
      metrics.jobs.runs.inc({ ...label, outcome: 'succeeded' });
      metrics.jobs.lastSuccess.set(label, Date.now() / 1000);
      lastFailure = null;
      if (leased !== undefined && runId !== null)
        await finishJobRun(leased, runId, 'succeeded', definition.describe?.(result) ?? null).catch(
          (error: unknown) => logger.warn({ err: error, job: name }, 'job run could not be recorded'),
        );
      return result;
    } catch (error) {
      metrics.jobs.runs.inc({ ...label, outcome: 'failed' });
      if (leased !== undefined && runId !== null)
        await finishJobRun(leased, runId, 'failed', { error: errorMessage(error).slice(0, 500) }).catch(
          () => undefined,
        );
      throw error;
    } finally {
      clearInterval(renewal);
      metrics.jobs.lastDuration.set(label, (Date.now() - started) / 1000);
      if (leased !== undefined) {
        metrics.jobs.holding.set(label, 0);
        await releaseJobLease(leased, name).catch(() => undefined); // it expires by itself otherwise
        runsSincePrune += 1;
        if (runsSincePrune >= 50) {
          runsSincePrune = 0;
          await pruneJobRuns(leased, name).catch(() => undefined);
        }
      }
    }
  };

  /** Under the lease: one try for a timed period (null when the farm has it elsewhere). */
  const leasedRun = async (
    period: string | null,
    trigger: 'timer' | 'manual' | 'shutdown',
  ): Promise<{ readonly value: T } | null> => {
    if (leased === undefined) return { value: await measured(null) };
    if (!(await acquireJobLease(leased, name))) return null;
    let runId: string | null;
    try {
      runId = await startJobRun(leased, name, { period, trigger });
    } catch (error) {
      await releaseJobLease(leased, name).catch(() => undefined);
      throw error;
    }
    if (runId === null) {
      await releaseJobLease(leased, name);
      return null;
    }
    return { value: await measured(runId) };
  };

  /** One at a time in this process: `running` is set before the first await. */
  const claimAndRun = (
    period: string | null,
    trigger: 'timer' | 'manual' | 'shutdown',
  ): Promise<{ readonly value: T } | null> => {
    const current = leasedRun(period, trigger);
    running = current;
    return current.finally(() => {
      if (running === current) running = undefined;
    });
  };

  const timedRun = (period: string): void => {
    if (running !== undefined) {
      metrics.jobs.skipped.inc({ ...label, reason: 'overlap' });
      return;
    }
    claimAndRun(period, 'timer').then((result) => {
      if (result === null) metrics.jobs.skipped.inc({ ...label, reason: 'elsewhere' });
    }, reportFailure);
  };

  /** Passes of a job that is not a singleton: one at a time, and one more when asked meanwhile. */
  const pass = (): void => {
    if (isStopped) return;
    if (running !== undefined) {
      isAgain = true;
      return;
    }
    const current = measured(null).then((value) => ({ value }));
    running = current;
    current.catch(reportFailure).finally(() => {
      running = undefined;
      if (isAgain) {
        isAgain = false;
        pass();
      }
    });
  };

  let lastPeriod = 0;
  const arm = (): void => {
    if (isStopped || schedule === 'off') return;
    // From the period just run, not only the clock: a timer that fires a little early runs it once.
    const at = nextPeriodStart(schedule, new Date(Math.max(now().getTime(), lastPeriod)));
    lastPeriod = at;
    nextRunAt = new Date(at);
    timer = setTimeout(
      () => {
        if (isSingleton) timedRun(new Date(at).toISOString());
        else pass();
        arm();
      },
      Math.max(0, at - now().getTime()),
    );
    timer.unref();
  };
  arm();

  const runOnce = async (trigger: 'manual' | 'shutdown' = 'manual'): Promise<T> => {
    if (!isSingleton) return measured(null);
    const waitMs = definition.waitMs ?? 2 * (leased?.leaseMs ?? 0);
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (running !== undefined) {
        // This server's own run serves; a timed try that found the period taken elsewhere is null.
        const result = await running;
        if (result !== null) return result.value;
        continue;
      }
      const result = await claimAndRun(null, trigger);
      if (result !== null) return result.value;
      if (Date.now() >= deadline || leased === undefined) {
        const holder = leased === undefined ? null : await jobLeaseHolder(leased, name);
        throw new JobError(
          'job.busy',
          `The ${name} job is running on another server (${holder?.holder ?? 'unknown'}, lease until ${holder?.expiresAt ?? 'now'}); try again when it has finished.`,
          { details: { job: name, holder: holder?.holder ?? null } },
        );
      }
      await sleep(Math.min(250, Math.max(20, leased.leaseMs / 20)));
    }
  };

  return {
    runOnce: () => runOnce('manual'),
    kick: () => {
      if (isSingleton) void runOnce('manual').catch(reportFailure);
      else pass();
    },
    get nextRunAt() {
      return nextRunAt;
    },
    async stop({ finalRun = false } = {}) {
      isStopped = true;
      clearTimeout(timer);
      nextRunAt = undefined;
      await running?.catch(() => undefined);
      if (finalRun)
        await runOnce('shutdown').catch((error: unknown) =>
          logger.error({ err: error, job: name }, `${definition.failureMessage} (last run at shutdown)`),
        );
    },
  };
}
