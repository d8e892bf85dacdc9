import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** Certificates the authority issued: its own CA certificates and one or more per meter. */
export const migration0003: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('certificates')
      .addColumn('serial', 'text', (column) => column.primaryKey())
      .addColumn('kind', 'text', (column) => column.notNull())
      .addColumn('meter_id', 'text')
      .addColumn('subject', 'text', (column) => column.notNull())
      .addColumn('pem', 'text', (column) => column.notNull())
      .addColumn('not_before', 'text', (column) => column.notNull())
      .addColumn('not_after', 'text', (column) => column.notNull())
      .addColumn('issued_at', 'text', (column) => column.notNull())
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('certificates_meter').on('certificates').column('meter_id').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('certificates').execute();
  },
};
