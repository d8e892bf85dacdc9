import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

const COLUMNS = ['module_number', 'inhibited_reason', 'inhibited_cause', 'inhibited_at', 'zeroized_at'];

/**
 * The module table becomes the installation's list of modules and their inhibitions, so that every
 * process (the server, operator commands) counts the inhibited modules of the whole installation
 * against the threshold: each module's number in its backend (server modules 1..N, the operator's
 * 100; null for a row older than this migration until its module opens again), why and since when
 * it is inhibited (cause `database` or `module`), and when the keys it had were zeroized.
 */
export const migration0013: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('crypto_modules').addColumn('module_number', 'integer').execute();
    await db.schema.alterTable('crypto_modules').addColumn('inhibited_reason', 'text').execute();
    await db.schema.alterTable('crypto_modules').addColumn('inhibited_cause', 'text').execute();
    await db.schema.alterTable('crypto_modules').addColumn('inhibited_at', 'text').execute();
    await db.schema.alterTable('crypto_modules').addColumn('zeroized_at', 'text').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const column of [...COLUMNS].reverse())
      await db.schema.alterTable('crypto_modules').dropColumn(column).execute();
  },
};
