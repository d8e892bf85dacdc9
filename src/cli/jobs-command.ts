import { listJobRuns } from '../jobs/index.ts';
import { hasDatabase, openMigratedStore } from '../installation/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';

export const JOBS_USAGE = [
  'indicia jobs [--job NAME] [--limit N]  the timed jobs of every server on this database: who holds',
  '                                    each job now, and the newest runs (period, server, start, end,',
  '                                    outcome); runs beside a live farm and changes nothing',
].join('\n');

/** `indicia jobs`: the job leases and the newest job runs, newest first. */
export async function jobsCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, config } = parseSubcommand(
    args,
    { job: { type: 'string' }, limit: { type: 'string' } },
    io,
    { allowPositionals: false },
  );
  const limitText = values['limit'];
  const limit = typeof limitText === 'string' ? Number(limitText) : 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new UsageError(`--limit takes a number of runs from 1 to 10000, not "${String(limitText)}"`);
  const job = typeof values['job'] === 'string' ? values['job'] : undefined;
  if (!hasDatabase(config)) {
    io.write(`There is no Indicia database in ${config.dataDir} yet: no job has run.\n`);
    return 0;
  }
  const { store } = await openMigratedStore(config);
  try {
    const now = new Date().toISOString();
    const leases = await store.db.selectFrom('job_leases').selectAll().orderBy('job').execute();
    io.write('job                  held by                               until\n');
    for (const lease of leases) {
      if (job !== undefined && lease.job !== job) continue;
      const isHeld = lease.holder !== null && lease.expires_at !== null && lease.expires_at >= now;
      io.write(
        `${lease.job.padEnd(20)} ${(isHeld ? (lease.holder ?? '') : '(free)').padEnd(37)} ${isHeld ? (lease.expires_at ?? '') : ''}\n`,
      );
    }
    const runs = await listJobRuns(store.db, { ...(job === undefined ? {} : { job }), limit });
    io.write(
      `\n${'job'.padEnd(20)} ${'period'.padEnd(24)} ${'server'.padEnd(28)} ${'started'.padEnd(24)} ${'took'.padStart(8)}  outcome\n`,
    );
    for (const run of runs) {
      const took =
        run.finishedAt === null
          ? ''
          : `${((Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000).toFixed(1)} s`;
      io.write(
        `${run.job.padEnd(20)} ${(run.period ?? `(${run.trigger})`).padEnd(24)} ${run.holder.padEnd(28)} ${run.startedAt.padEnd(24)} ${took.padStart(8)}  ${run.outcome}\n`,
      );
    }
    if (runs.length === 0) io.write('no runs recorded yet\n');
    return 0;
  } finally {
    await store.close();
  }
}
