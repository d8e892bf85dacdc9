import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * What replay needs beside each module log record: the package versions the record made (sealed
 * under the master key, so the database never sees a key) and the rows the same commit wrote (the
 * indicium, the receipt…), as the statements that wrote them. And the log shipper's watermark:
 * each shipment made, with the last record of every module it holds.
 */
export const migration0017: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('module_log').addColumn('packages', 'text').execute();
    await db.schema.alterTable('module_log').addColumn('statements', 'text').execute();
    await db.schema
      .createTable('log_shipments')
      .addColumn('sequence', 'bigint', (column) => column.primaryKey())
      .addColumn('file', 'text', (column) => column.notNull())
      .addColumn('records', 'bigint', (column) => column.notNull())
      .addColumn('digest', 'text', (column) => column.notNull())
      /** JSON: module serial → the newest counter shipped so far. */
      .addColumn('through', 'text', (column) => column.notNull())
      .addColumn('shipped_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createTable('recovery_gaps')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('restored_at', 'text', (column) => column.notNull())
      .addColumn('module_serial', 'text', (column) => column.notNull())
      .addColumn('meter_id', 'text')
      .addColumn('counter', 'bigint', (column) => column.notNull())
      .addColumn('type', 'text')
      .addColumn('amount_mills', 'bigint')
      .addColumn('ascending_register_mills', 'bigint')
      .addColumn('descending_register_mills', 'bigint')
      .addColumn('package_sequence', 'bigint')
      .addColumn('recorded_at', 'text')
      /** `settled`: the module's memory brought the meter level; `open`: the restore could not. */
      .addColumn('status', 'text', (column) => column.notNull().defaultTo('open'))
      .execute();
    await db.schema
      .createIndex('recovery_gaps_meter')
      .on('recovery_gaps')
      .columns(['meter_id', 'ascending_register_mills'])
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('recovery_gaps').execute();
    await db.schema.dropTable('log_shipments').execute();
    await db.schema.alterTable('module_log').dropColumn('statements').execute();
    await db.schema.alterTable('module_log').dropColumn('packages').execute();
  },
};
