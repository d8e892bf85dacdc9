import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Timed jobs that run once in a farm: a lease per job (which server runs it, until when; the
 * holder renews it while it runs), and a row per run (which server, which period, how it ended),
 * unique per job and period so that two servers can never both run the same period.
 */
export const migration0020: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('job_leases')
      .addColumn('job', 'text', (column) => column.primaryKey())
      .addColumn('holder', 'text')
      .addColumn('acquired_at', 'text')
      .addColumn('expires_at', 'text')
      .execute();
    await db.schema
      .createTable('job_runs')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('job', 'text', (column) => column.notNull())
      /** The scheduled period's start (ISO time); null for a run asked for by hand or at shutdown. */
      .addColumn('period', 'text')
      .addColumn('holder', 'text', (column) => column.notNull())
      /** `timer`, `manual` (runOnce, the API, a test) or `shutdown` (a last run at a clean stop). */
      .addColumn('trigger', 'text', (column) => column.notNull())
      .addColumn('started_at', 'text', (column) => column.notNull())
      .addColumn('finished_at', 'text')
      /** `running`, `succeeded`, `failed`, or `abandoned` (its holder died; another took the job over). */
      .addColumn('outcome', 'text', (column) => column.notNull())
      /** JSON: what the run did (records shipped, meters checked…) or why it failed. */
      .addColumn('details', 'text')
      .execute();
    await db.schema
      .createIndex('job_runs_period')
      .on('job_runs')
      .columns(['job', 'period'])
      .unique()
      .execute();
    await db.schema.createIndex('job_runs_started').on('job_runs').columns(['job', 'started_at']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('job_runs').execute();
    await db.schema.dropTable('job_leases').execute();
  },
};
