import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Meters (their sealed PSDs are in psd_packages), the value moved into them, the indicia they
 * printed, and the scans verifiers reported. Amounts are BIGINT mills.
 */
export const migration0004: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('meter_serials')
      .addColumn('model_id', 'text', (column) => column.primaryKey())
      .addColumn('next_serial', 'bigint', (column) => column.notNull())
      .execute();

    await db.schema
      .createTable('meters')
      .addColumn('meter_id', 'text', (column) => column.primaryKey())
      .addColumn('mode', 'text', (column) => column.notNull())
      .addColumn('customer_number', 'bigint', (column) => column.notNull())
      .addColumn('status', 'text', (column) => column.notNull())
      .addColumn('licensing_zip', 'text', (column) => column.notNull())
      .addColumn('certificate_serial', 'text', (column) => column.notNull())
      .addColumn('max_descending_register_mills', 'bigint', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .execute();

    await db.schema
      .createTable('meter_fundings')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('meter_id', 'text', (column) => column.notNull().references('meters.meter_id'))
      .addColumn('amount_mills', 'bigint', (column) => column.notNull())
      .addColumn('source', 'text', (column) => column.notNull())
      .addColumn('package_sequence', 'bigint', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('meter_fundings_meter').on('meter_fundings').column('meter_id').execute();

    await db.schema
      .createTable('indicia')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('meter_id', 'text', (column) => column.notNull().references('meters.meter_id'))
      .addColumn('package_sequence', 'bigint', (column) => column.notNull())
      .addColumn('certificate_serial', 'text', (column) => column.notNull())
      .addColumn('postage_mills', 'bigint', (column) => column.notNull())
      .addColumn('ascending_register_mills', 'bigint', (column) => column.notNull())
      .addColumn('descending_register_mills', 'bigint', (column) => column.notNull())
      .addColumn('mailing_date', 'text', (column) => column.notNull())
      .addColumn('origin_zip', 'text', (column) => column.notNull())
      .addColumn('rate_category', 'text', (column) => column.notNull())
      .addColumn('label_serial', 'bigint', (column) => column.notNull())
      .addColumn('status', 'text', (column) => column.notNull())
      .addColumn('data', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex('indicia_meter')
      .on('indicia')
      .columns(['meter_id', 'ascending_register_mills'])
      .execute();
    await db.schema.createIndex('indicia_data').on('indicia').column('data').unique().execute();

    await db.schema
      .createTable('scans')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('indicium_id', 'text')
      .addColumn('meter_id', 'text')
      .addColumn('verifier', 'text', (column) => column.notNull())
      .addColumn('outcome', 'text', (column) => column.notNull())
      .addColumn('reason', 'text')
      .addColumn('scanned_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('scans_indicium').on('scans').column('indicium_id').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const table of ['scans', 'indicia', 'meter_fundings', 'meters', 'meter_serials']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
