import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/** The chain every event before 0018 belongs to, and the default one of every append since. */
const INSTALLATION_CHAIN = 'installation';

/** The events table with a chain column (0018), or as 0002 made it (`down`). */
async function createEventsTable(db: Kysely<unknown>, name: string, withChain: boolean): Promise<void> {
  const table = withChain
    ? db.schema
        .createTable(name)
        .addColumn('chain', 'text', (column) => column.notNull())
        .addColumn('sequence', 'bigint', (column) => column.notNull())
    : db.schema.createTable(name).addColumn('sequence', 'bigint', (column) => column.primaryKey());
  const complete = table
    .addColumn('at', 'text', (column) => column.notNull())
    .addColumn('kind', 'text', (column) => column.notNull())
    .addColumn('module_serial', 'text')
    .addColumn('meter_id', 'text')
    .addColumn('details', 'text', (column) => column.notNull())
    .addColumn('previous_hash', 'text', (column) => column.notNull())
    .addColumn('hash', 'text', (column) => column.notNull());
  await (
    withChain ? complete.addPrimaryKeyConstraint(`${name}_pk`, ['chain', 'sequence']) : complete
  ).execute();
}

/**
 * Audit chains without one global lock: every event belongs to a chain (a text id; custody uses
 * its crypto module's serial) with its own head row and sequence, so appends to different chains
 * never wait for each other. Existing events become chain `installation` with their sequences and
 * hashes unchanged. And the root chain of anchors (`audit_anchors`) a crypto module MACs.
 * SQLite cannot change a primary key in place, so the events table is rebuilt on both dialects.
 */
export const migration0018: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await createEventsTable(db, 'audit_events_0018', true);
    await sql`
      insert into audit_events_0018 (chain, sequence, at, kind, module_serial, meter_id, details, previous_hash, hash)
      select ${INSTALLATION_CHAIN}, sequence, at, kind, module_serial, meter_id, details, previous_hash, hash
      from audit_events
    `.execute(db);
    await db.schema.dropTable('audit_events').execute();
    await db.schema.alterTable('audit_events_0018').renameTo('audit_events').execute();
    await db.schema.createIndex('audit_events_meter').on('audit_events').column('meter_id').execute();

    await db.schema
      .createTable('audit_heads')
      .addColumn('chain', 'text', (column) => column.primaryKey())
      .addColumn('sequence', 'bigint', (column) => column.notNull())
      .addColumn('hash', 'text', (column) => column.notNull())
      .execute();
    await sql`
      insert into audit_heads (chain, sequence, hash)
      select ${INSTALLATION_CHAIN}, sequence, hash from audit_head where id = 1
    `.execute(db);
    await db.schema.dropTable('audit_head').execute();

    await db.schema
      .createTable('audit_anchors')
      .addColumn('sequence', 'bigint', (column) => column.primaryKey())
      .addColumn('anchored_at', 'text', (column) => column.notNull())
      .addColumn('record', 'text', (column) => column.notNull())
      .addColumn('digest', 'text', (column) => column.notNull())
      .addColumn('mac', 'text', (column) => column.notNull())
      .addColumn('module_serial', 'text', (column) => column.notNull())
      .execute();
  },
  /** Back to one chain: only the `installation` chain's events survive; anchors are dropped. */
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('audit_anchors').execute();
    await db.schema
      .createTable('audit_head')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('sequence', 'bigint', (column) => column.notNull())
      .addColumn('hash', 'text', (column) => column.notNull())
      .execute();
    await sql`
      insert into audit_head (id, sequence, hash)
      select 1, sequence, hash from audit_heads where chain = ${INSTALLATION_CHAIN}
    `.execute(db);
    await sql`
      insert into audit_head (id, sequence, hash)
      select 1, 0, ${'0'.repeat(64)} where not exists (select 1 from audit_head)
    `.execute(db);
    await db.schema.dropTable('audit_heads').execute();
    await createEventsTable(db, 'audit_events_0002', false);
    await sql`
      insert into audit_events_0002 (sequence, at, kind, module_serial, meter_id, details, previous_hash, hash)
      select sequence, at, kind, module_serial, meter_id, details, previous_hash, hash
      from audit_events where chain = ${INSTALLATION_CHAIN}
    `.execute(db);
    await db.schema.dropTable('audit_events').execute();
    await db.schema.alterTable('audit_events_0002').renameTo('audit_events').execute();
    await db.schema.createIndex('audit_events_meter').on('audit_events').column('meter_id').execute();
  },
};
