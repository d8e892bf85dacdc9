import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The module table (each crypto module's latest checkpoint), sealed PSD packages, and the
 * hash-chained audit log with its head row (the chain's last sequence and hash).
 */
export const migration0002: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('crypto_modules')
      .addColumn('serial', 'text', (column) => column.primaryKey())
      .addColumn('backend', 'text', (column) => column.notNull())
      .addColumn('checkpoint', 'text')
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .execute();

    await db.schema
      .createTable('psd_packages')
      .addColumn('meter_id', 'text', (column) => column.primaryKey())
      .addColumn('sequence', 'bigint', (column) => column.notNull())
      .addColumn('key_version', 'integer', (column) => column.notNull())
      .addColumn('sealed', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .execute();

    await db.schema
      .createTable('audit_events')
      .addColumn('sequence', 'bigint', (column) => column.primaryKey())
      .addColumn('at', 'text', (column) => column.notNull())
      .addColumn('kind', 'text', (column) => column.notNull())
      .addColumn('module_serial', 'text')
      .addColumn('meter_id', 'text')
      .addColumn('details', 'text', (column) => column.notNull())
      .addColumn('previous_hash', 'text', (column) => column.notNull())
      .addColumn('hash', 'text', (column) => column.notNull().unique())
      .execute();
    await db.schema.createIndex('audit_events_meter').on('audit_events').column('meter_id').execute();

    await db.schema
      .createTable('audit_head')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('sequence', 'bigint', (column) => column.notNull())
      .addColumn('hash', 'text', (column) => column.notNull())
      .execute();
    await sql`insert into audit_head (id, sequence, hash) values (1, 0, ${'0'.repeat(64)})`.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const table of ['audit_head', 'audit_events', 'psd_packages', 'crypto_modules']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
