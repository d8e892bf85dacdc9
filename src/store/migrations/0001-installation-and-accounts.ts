import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/** Installation facts and the accounts table (demo operator and customer are created at first start). */
export const migration0001: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('installation')
      .addColumn('key', 'text', (column) => column.primaryKey())
      .addColumn('value', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .execute();

    await db.schema
      .createTable('accounts')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('email', 'text', (column) => column.notNull().unique())
      .addColumn('display_name', 'text', (column) => column.notNull())
      // Kept in step with AccountRole in schema.ts.
      .addColumn('role', 'text', (column) =>
        column.notNull().check(sql`role in ('customer', 'support', 'admin', 'crypto-officer', 'auditor')`),
      )
      .addColumn('password_hash', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('accounts').execute();
    await db.schema.dropTable('installation').execute();
  },
};
