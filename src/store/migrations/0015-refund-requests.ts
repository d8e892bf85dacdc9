import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Refund requests (issue 16): one per piece, pending until staff decide it under a review-window
 * plan, or decided at once under the spoilage cap; and the pricing plan an operator put a customer
 * on (null: the installation's default plan).
 */
export const migration0015: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('accounts').addColumn('pricing_plan', 'text').execute();
    await db.schema
      .createTable('refund_requests')
      .addColumn('id', 'text', (column) => column.primaryKey())
      // One request per piece, ever: a second one is refused by this index as well as by the check.
      .addColumn('indicium_id', 'text', (column) => column.notNull().unique().references('indicia.id'))
      .addColumn('meter_id', 'text', (column) => column.notNull().references('meters.meter_id'))
      .addColumn('customer_number', 'bigint', (column) => column.notNull())
      .addColumn('account_id', 'text', (column) => column.references('accounts.id'))
      .addColumn('amount_mills', 'bigint', (column) => column.notNull())
      .addColumn('status', 'text', (column) =>
        column.notNull().check(sql`status in ('pending', 'approved', 'denied')`),
      )
      .addColumn('plan', 'text', (column) => column.notNull())
      // Canonical JSON of the refund policy in force when it was asked for.
      .addColumn('policy', 'text', (column) => column.notNull())
      .addColumn('requested_at', 'text', (column) => column.notNull())
      .addColumn('decided_at', 'text')
      .addColumn('decided_by', 'text')
      .addColumn('decision_note', 'text')
      .addColumn('refund_id', 'text', (column) => column.references('refunds.id'))
      .execute();
    await db.schema
      .createIndex('refund_requests_status')
      .on('refund_requests')
      .columns(['status', 'requested_at'])
      .execute();
    await db.schema
      .createIndex('refund_requests_customer')
      .on('refund_requests')
      .columns(['customer_number', 'requested_at'])
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('refund_requests').execute();
    await db.schema.alterTable('accounts').dropColumn('pricing_plan').execute();
  },
};
