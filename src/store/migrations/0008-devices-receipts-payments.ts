import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The signed client protocol's enrolled devices, signed receipts for every value-moving request,
 * and card payments through a processor (the sandbox processor first).
 */
export const migration0008: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('devices')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
      // A meter's id, or a pooled customer's client package (CLIENT-<customer number>).
      .addColumn('meter_id', 'text', (column) => column.notNull())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('enrolled_at', 'text', (column) => column.notNull())
      .addColumn('replaced_at', 'text')
      .execute();
    await db.schema.createIndex('devices_meter').on('devices').column('meter_id').execute();

    await db.schema
      .createTable('receipts')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('customer_number', 'bigint', (column) => column.notNull())
      // The package whose key signed it: a meter's, or a pooled customer's client package.
      .addColumn('meter_id', 'text', (column) => column.notNull())
      .addColumn('kind', 'text', (column) => column.notNull())
      .addColumn('sequence', 'bigint', (column) => column.notNull())
      // The canonical JSON that was signed, and the meter key's signature over it.
      .addColumn('body', 'text', (column) => column.notNull())
      .addColumn('signature', 'text', (column) => column.notNull())
      .addColumn('certificate_serial', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('receipts_customer').on('receipts').column('customer_number').execute();

    await db.schema
      .createTable('card_payments')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
      .addColumn('processor', 'text', (column) => column.notNull())
      .addColumn('amount_mills', 'bigint', (column) => column.notNull())
      .addColumn('card_last4', 'text', (column) => column.notNull())
      .addColumn('outcome', 'text', (column) => column.notNull())
      .addColumn('processor_reference', 'text')
      .addColumn('message', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('card_payments').execute();
    await db.schema.dropTable('receipts').execute();
    await db.schema.dropTable('devices').execute();
  },
};
