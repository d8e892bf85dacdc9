import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Pooled mode (seed 003): transfers from the vendor's master PSD to mini-PSDs, customers'
 * prefunded balances (a ledger and its running total), mini-PSD check-outs, and the customer an
 * indicium was issued for (a mini-PSD prints for many customers).
 */
export const migration0006: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('pool_transfers')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('master_meter_id', 'text', (column) => column.notNull().references('meters.meter_id'))
      .addColumn('meter_id', 'text', (column) => column.notNull().references('meters.meter_id'))
      .addColumn('amount_mills', 'bigint', (column) => column.notNull())
      .addColumn('master_sequence', 'bigint', (column) => column.notNull())
      .addColumn('package_sequence', 'bigint', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex('pool_transfers_master')
      .on('pool_transfers')
      .column('master_meter_id')
      .execute();
    await db.schema
      .createTable('customer_balances')
      .addColumn('customer_number', 'bigint', (column) => column.primaryKey())
      .addColumn('balance_mills', 'bigint', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createTable('balance_entries')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('customer_number', 'bigint', (column) =>
        column.notNull().references('customer_balances.customer_number'),
      )
      .addColumn('kind', 'text', (column) => column.notNull())
      .addColumn('amount_mills', 'bigint', (column) => column.notNull())
      .addColumn('reference', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex('balance_entries_customer')
      .on('balance_entries')
      .column('customer_number')
      .execute();
    await db.schema
      .createTable('mpsd_checkouts')
      .addColumn('meter_id', 'text', (column) => column.primaryKey().references('meters.meter_id'))
      .addColumn('holder', 'text', (column) => column.notNull())
      .addColumn('checked_out_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema.alterTable('indicia').addColumn('customer_number', 'bigint').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('indicia').dropColumn('customer_number').execute();
    await db.schema.dropTable('mpsd_checkouts').execute();
    await db.schema.dropTable('balance_entries').execute();
    await db.schema.dropTable('customer_balances').execute();
    await db.schema.dropTable('pool_transfers').execute();
  },
};
