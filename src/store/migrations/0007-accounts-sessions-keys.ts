import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Accounts for the public API: what a licence application needs, e-mail verification, lockout
 * after failed sign-ins; browser sessions, API keys, one-time tokens (e-mail verification and
 * password reset) and licence applications. Every secret is stored as a SHA-256 hash.
 */
export const migration0007: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // SQLite cannot add a UNIQUE column; a unique index does the same on both.
    await db.schema.alterTable('accounts').addColumn('customer_number', 'bigint').execute();
    await db.schema
      .createIndex('accounts_customer_number')
      .on('accounts')
      .column('customer_number')
      .unique()
      .execute();
    await db.schema.alterTable('accounts').addColumn('meter_mode', 'text').execute();
    await db.schema.alterTable('accounts').addColumn('company', 'text').execute();
    await db.schema.alterTable('accounts').addColumn('phone', 'text').execute();
    // The sign-up's addresses, licensing ZIP and post office as canonical JSON.
    await db.schema.alterTable('accounts').addColumn('profile', 'text').execute();
    await db.schema.alterTable('accounts').addColumn('email_verified_at', 'text').execute();
    await db.schema
      .alterTable('accounts')
      .addColumn('failed_sign_ins', 'integer', (column) => column.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable('accounts').addColumn('locked_until', 'text').execute();
    await db.schema.alterTable('accounts').addColumn('password_changed_at', 'text').execute();

    await db.schema
      .createTable('sessions')
      .addColumn('token_hash', 'text', (column) => column.primaryKey())
      .addColumn('id', 'text', (column) => column.notNull().unique())
      .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
      .addColumn('csrf_hash', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('expires_at', 'text', (column) => column.notNull())
      .addColumn('last_seen_at', 'text', (column) => column.notNull())
      .addColumn('ended_at', 'text')
      .execute();
    await db.schema.createIndex('sessions_account').on('sessions').column('account_id').execute();

    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('scopes', 'text', (column) => column.notNull())
      .addColumn('secret_hash', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('last_used_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('api_keys_account').on('api_keys').column('account_id').execute();

    await db.schema
      .createTable('account_tokens')
      .addColumn('token_hash', 'text', (column) => column.primaryKey())
      .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
      .addColumn('purpose', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('expires_at', 'text', (column) => column.notNull())
      .addColumn('used_at', 'text')
      .execute();

    await db.schema
      .createTable('licence_applications')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('account_id', 'text', (column) => column.notNull().unique().references('accounts.id'))
      .addColumn('meter_mode', 'text', (column) => column.notNull())
      .addColumn('status', 'text', (column) => column.notNull())
      .addColumn('licence_number', 'text', (column) => column.unique())
      .addColumn('application', 'text', (column) => column.notNull())
      .addColumn('decision', 'text', (column) => column.notNull())
      .addColumn('filed_at', 'text', (column) => column.notNull())
      .addColumn('decided_at', 'text')
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('licence_applications').execute();
    await db.schema.dropTable('account_tokens').execute();
    await db.schema.dropTable('api_keys').execute();
    await db.schema.dropTable('sessions').execute();
    await db.schema.dropIndex('accounts_customer_number').execute();
    for (const column of [
      'password_changed_at',
      'locked_until',
      'failed_sign_ins',
      'email_verified_at',
      'profile',
      'phone',
      'company',
      'meter_mode',
      'customer_number',
    ]) {
      await db.schema.alterTable('accounts').dropColumn(column).execute();
    }
  },
};
