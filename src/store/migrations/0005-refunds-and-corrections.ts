import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** Refunds (spoiled indicia, withdrawals) and the link from a correction indicium to the original. */
export const migration0005: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('refunds')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('meter_id', 'text', (column) => column.notNull().references('meters.meter_id'))
      .addColumn('indicium_id', 'text', (column) => column.references('indicia.id'))
      .addColumn('kind', 'text', (column) => column.notNull())
      .addColumn('amount_mills', 'bigint', (column) => column.notNull())
      .addColumn('package_sequence', 'bigint', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('refunds_meter').on('refunds').column('meter_id').execute();
    await db.schema.alterTable('indicia').addColumn('corrects_indicium_id', 'text').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('indicia').dropColumn('corrects_indicium_id').execute();
    await db.schema.dropTable('refunds').execute();
  },
};
