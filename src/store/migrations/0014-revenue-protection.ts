import { type Kysely, SqliteAdapter, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

const ROLES_BEFORE = "'customer', 'support', 'admin', 'crypto-officer', 'auditor'";
const ROLES_AFTER = `${ROLES_BEFORE}, 'verifier'`;

/**
 * Widens the accounts.role check. PostgreSQL swaps the constraint. SQLite cannot alter a check,
 * so the table is rebuilt the way SQLite documents ("making other kinds of table schema
 * changes"): foreign keys off, a copy under the new definition, the old table dropped, the copy
 * renamed, indexes recreated, `foreign_key_check` empty, all in one transaction.
 */
async function setRoleCheck(db: Kysely<unknown>, roles: string): Promise<void> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) {
    await sql`alter table accounts drop constraint if exists accounts_role_check`.execute(db);
    await sql
      .raw(`alter table accounts add constraint accounts_role_check check (role in (${roles}))`)
      .execute(db);
    return;
  }
  const { rows } = await sql<{ type: string; sql: string }>`
    select type, sql from sqlite_schema where tbl_name = 'accounts' and sql is not null
  `.execute(db);
  const table = rows.find((row) => row.type === 'table')?.sql ?? '';
  const check = /check \(role in \([^)]*\)\)/i;
  if (!check.test(table)) throw new Error('accounts has no role check to widen');
  const rebuilt = table
    .replace(/^CREATE TABLE\s+("accounts"|accounts)/i, 'create table "accounts_0014"')
    .replace(check, `check (role in (${roles}))`);
  // PRAGMA foreign_keys is a no-op inside a transaction; SQLite migrations run outside one.
  await sql`pragma foreign_keys = off`.execute(db);
  try {
    await sql`begin immediate`.execute(db);
    try {
      await sql.raw(rebuilt).execute(db);
      await sql`insert into accounts_0014 select * from accounts`.execute(db);
      await sql`drop table accounts`.execute(db);
      await sql`alter table accounts_0014 rename to accounts`.execute(db);
      for (const index of rows.filter((row) => row.type === 'index')) await sql.raw(index.sql).execute(db);
      const broken = await sql`pragma foreign_key_check`.execute(db);
      if (broken.rows.length > 0) throw new Error('rebuilding accounts broke a foreign key');
      await sql`commit`.execute(db);
    } catch (error) {
      await sql`rollback`.execute(db);
      throw error;
    }
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}

/**
 * Revenue protection (issue 16): the verifier role (only verifiers record scans), certificate
 * revocation with an RFC 5280 reason, CA generations (which package holds each CA key, which CA
 * signed each certificate), and the reports a duplicate or implausible scan files for the
 * authority.
 */
export const migration0014: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await setRoleCheck(db, ROLES_AFTER);

    await db.schema.alterTable('certificates').addColumn('revocation_reason', 'text').execute();
    await db.schema.alterTable('certificates').addColumn('revocation_note', 'text').execute();
    // CA rows: the sealed package holding the CA key (AUTHORITY-CA-<generation>).
    await db.schema.alterTable('certificates').addColumn('key_package_id', 'text').execute();
    // Meter and cross certificates: the serial of the CA certificate whose key signed them.
    await db.schema.alterTable('certificates').addColumn('issuer_serial', 'text').execute();
    await sql`update certificates set key_package_id = 'AUTHORITY-CA-1' where kind = 'ca'`.execute(db);
    // Before this migration there was one CA, which signed every meter certificate.
    await sql`update certificates set issuer_serial = (select min(serial) from certificates where kind = 'ca')
      where kind = 'meter'`.execute(db);
    // A revocation before this migration gave no reason: RFC 5280's "unspecified".
    await sql`update certificates set revocation_reason = 'unspecified' where revoked_at is not null`.execute(
      db,
    );

    await db.schema
      .createTable('revenue_protection_reports')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('scan_id', 'text', (column) => column.notNull().unique().references('scans.id'))
      .addColumn('outcome', 'text', (column) => column.notNull())
      .addColumn('reason', 'text', (column) => column.notNull())
      .addColumn('meter_id', 'text')
      .addColumn('indicium_id', 'text')
      .addColumn('customer_number', 'bigint')
      .addColumn('verifier', 'text', (column) => column.notNull())
      .addColumn('policy', 'text', (column) => column.notNull())
      .addColumn('action', 'text', (column) => column.notNull())
      .addColumn('action_detail', 'text')
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex('revenue_protection_reports_created')
      .on('revenue_protection_reports')
      .columns(['created_at', 'id'])
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('revenue_protection_reports').execute();
    for (const column of ['issuer_serial', 'key_package_id', 'revocation_note', 'revocation_reason'])
      await db.schema.alterTable('certificates').dropColumn(column).execute();
    await setRoleCheck(db, ROLES_BEFORE);
  },
};
