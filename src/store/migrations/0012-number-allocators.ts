import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/** The first customer number a sign-up got before this migration (accounts-service.ts). */
const FIRST_CUSTOMER_NUMBER = 100_001;

/**
 * One table of counters for every number the server hands out (`allocateNumber`), replacing the
 * customer number read as max + 1 (two sign-ups at once on PostgreSQL got the same one) and the
 * meter_serials table. Seeded from existing data, so an upgraded installation continues where it
 * stopped. The names are the `NumberCounter` names of store/number-allocator.ts.
 */
export const migration0012: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('number_allocators')
      .addColumn('name', 'text', (column) => column.primaryKey())
      .addColumn('next_number', 'bigint', (column) => column.notNull())
      .execute();

    const highest = await sql<{
      highest: number | string | null;
    }>`select max(customer_number) as highest from accounts`.execute(db);
    const nextCustomer = Math.max(FIRST_CUSTOMER_NUMBER, Number(highest.rows[0]?.highest ?? 0) + 1);
    await sql`insert into number_allocators (name, next_number) values ('customer-number', ${nextCustomer})`.execute(
      db,
    );
    await sql`insert into number_allocators (name, next_number)
      select 'meter-serial:' || model_id, next_serial from meter_serials`.execute(db);
    await db.schema.dropTable('meter_serials').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('meter_serials')
      .addColumn('model_id', 'text', (column) => column.primaryKey())
      .addColumn('next_serial', 'bigint', (column) => column.notNull())
      .execute();
    await sql`insert into meter_serials (model_id, next_serial)
      select substr(name, ${sql.lit('meter-serial:'.length + 1)}), next_number from number_allocators
      where name like 'meter-serial:%'`.execute(db);
    await db.schema.dropTable('number_allocators').execute();
  },
};
