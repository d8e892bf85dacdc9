import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The installation's servers and the crypto module numbers each drives (fleet/): `servers` (one
 * row per data directory that ever ran `indicia serve`, with its heartbeat), `module_claims` (a
 * module number belongs to one server for good, because its checkpoint ring lives in that
 * server's data directory; the serial and load its heartbeat last reported, in integers so both
 * dialects store them exactly), and
 * `installation_keys` (a fingerprint of the keys the installation's modules share, so a server
 * without them refuses to start instead of making keys of its own).
 */
export const migration0019: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('servers')
      .addColumn('server_id', 'text', (column) => column.primaryKey())
      .addColumn('host', 'text', (column) => column.notNull())
      .addColumn('pid', 'integer', (column) => column.notNull())
      .addColumn('port', 'integer')
      .addColumn('data_dir', 'text', (column) => column.notNull())
      .addColumn('instance', 'text', (column) => column.notNull())
      .addColumn('started_at', 'text', (column) => column.notNull())
      .addColumn('heartbeat_at', 'text', (column) => column.notNull())
      .addColumn('stopped_at', 'text')
      .addColumn('groups_committed', 'bigint', (column) => column.notNull().defaultTo(0))
      .addColumn('commands_committed', 'bigint', (column) => column.notNull().defaultTo(0))
      .addColumn('waiting_commands', 'integer', (column) => column.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable('module_claims')
      .addColumn('module_number', 'integer', (column) => column.primaryKey())
      .addColumn('server_id', 'text', (column) => column.notNull())
      .addColumn('claimed_at', 'text', (column) => column.notNull())
      .addColumn('serial', 'text')
      .addColumn('state', 'text')
      .addColumn('total_operations', 'bigint', (column) => column.notNull().defaultTo(0))
      .addColumn('operations_per_kilosecond', 'bigint', (column) => column.notNull().defaultTo(0))
      .addColumn('load_per_mille', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('heartbeat_at', 'text')
      .execute();
    await db.schema.createIndex('module_claims_server').on('module_claims').column('server_id').execute();
    await db.schema
      .createTable('installation_keys')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('backend', 'text', (column) => column.notNull())
      .addColumn('fingerprint', 'text', (column) => column.notNull())
      .addColumn('recorded_at', 'text', (column) => column.notNull())
      .addColumn('recorded_by', 'text', (column) => column.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('installation_keys').execute();
    await db.schema.dropTable('module_claims').execute();
    await db.schema.dropTable('servers').execute();
  },
};
