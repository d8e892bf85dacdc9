import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The protected module log: every checkpoint record each crypto module sealed and the database
 * committed, one row per record, MACed by the module and linked to the one before by its SHA-256.
 * An existing installation's log starts at each module's latest checkpoint (what it holds now).
 */
export const migration0011: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('module_log')
      .addColumn('module_serial', 'text', (column) => column.notNull())
      .addColumn('counter', 'bigint', (column) => column.notNull())
      .addColumn('previous_digest', 'text')
      .addColumn('digest', 'text', (column) => column.notNull())
      .addColumn('sealed', 'text', (column) => column.notNull())
      .addColumn('recorded_at', 'text', (column) => column.notNull())
      .addPrimaryKeyConstraint('module_log_pk', ['module_serial', 'counter'])
      .execute();
    const { rows } = await sql<{ serial: string; checkpoint: string | null; updated_at: string }>`
      select serial, checkpoint, updated_at from crypto_modules where checkpoint is not null
    `.execute(db);
    for (const row of rows) {
      if (row.checkpoint === null) continue;
      const sealed = Buffer.from(row.checkpoint, 'base64');
      // magic (4) ‖ length (2) ‖ JSON ‖ MAC: the counter is read from the JSON, unverified here;
      // reconciliation verifies every row's MAC through a module.
      const body = sealed.subarray(6, 6 + sealed.readUInt16BE(4)).toString('utf8');
      const { counter } = JSON.parse(body) as { counter: number };
      const digest = createDigest(sealed);
      await sql`
        insert into module_log (module_serial, counter, previous_digest, digest, sealed, recorded_at)
        values (${row.serial}, ${counter}, ${null}, ${digest}, ${row.checkpoint}, ${row.updated_at})
      `.execute(db);
    }
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('module_log').execute();
  },
};

function createDigest(sealed: Buffer): string {
  return createHash('sha256').update(sealed).digest('hex');
}
