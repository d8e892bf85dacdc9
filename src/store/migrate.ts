import { type Kysely, sql } from 'kysely';
import { type MigrationResultSet, Migrator } from 'kysely/migration';
import { migrations } from './migrations/index.ts';
import { StoreError } from './store-error.ts';

export const MIGRATION_TABLE = 'kysely_migration';

export interface MigrationReport {
  applied: string[];
  alreadyApplied: string[];
}

function createMigrator<DB>(db: Kysely<DB>): Migrator {
  return new Migrator({
    db,
    migrationTableName: MIGRATION_TABLE,
    provider: { getMigrations: () => Promise.resolve({ ...migrations }) },
  });
}

/** Names of migrations recorded in the database, or an empty list for a new database. Reads only. */
export async function appliedMigrationNames<DB>(db: Kysely<DB>): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((table) => table.name === MIGRATION_TABLE)) return [];
  const rows = await sql<{
    name: string;
  }>`select name from ${sql.table(MIGRATION_TABLE)} order by name`.execute(db);
  return rows.rows.map((row) => row.name);
}

/**
 * Refuses a database written by a newer Indicia, before anything is written to it.
 * Throws `store.schema_newer` naming the unknown migrations.
 */
export async function assertSchemaNotNewer<DB>(db: Kysely<DB>, location: string): Promise<void> {
  const known = new Set(Object.keys(migrations));
  const unknown = (await appliedMigrationNames(db)).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new StoreError(
      'store.schema_newer',
      `the database ${location} was written by a newer Indicia (it has migration ${unknown.join(', ')}); ` +
        'run that newer version, or point --data-dir / INDICIA_DATABASE_URL at another database.',
      { details: { unknownMigrations: unknown } },
    );
  }
}

/** Applies every pending migration in one run; reports what it did. */
export function migrateToLatest<DB>(db: Kysely<DB>, location: string): Promise<MigrationReport> {
  return migrate(db, location, (migrator) => migrator.migrateToLatest());
}

/**
 * Applies the pending migrations up to and including `name` and leaves later ones pending: how an
 * upgrade test builds the database an older Indicia left. Never migrates down.
 *
 * @example await migrateThrough(store.db, store.location, '0010-labels-and-mailing-lists');
 */
export async function migrateThrough<DB>(
  db: Kysely<DB>,
  location: string,
  name: string,
): Promise<MigrationReport> {
  const isPast = (await appliedMigrationNames(db)).some((applied) => applied > name);
  if (!knownMigrationNames().includes(name) || isPast)
    throw new StoreError(
      'store.migration_failed',
      `cannot migrate ${location} up to ${name}: it is not a known migration, or the database is past it.`,
    );
  return migrate(db, location, (migrator) => migrator.migrateTo(name));
}

async function migrate<DB>(
  db: Kysely<DB>,
  location: string,
  run: (migrator: Migrator) => Promise<MigrationResultSet>,
): Promise<MigrationReport> {
  await assertSchemaNotNewer(db, location);
  const before = new Set(await appliedMigrationNames(db));
  const { error, results } = await run(createMigrator(db));
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName ?? 'unknown';
    throw new StoreError(
      'store.migration_failed',
      `migration ${failed} failed on ${location}: ${error instanceof Error ? error.message : 'unknown error'}`,
      { cause: error },
    );
  }
  return {
    applied: (results ?? [])
      .filter((result) => result.status === 'Success')
      .map((result) => result.migrationName),
    alreadyApplied: [...before],
  };
}

/** Names of the migrations this version knows, in order. */
export function knownMigrationNames(): string[] {
  return Object.keys(migrations).sort();
}
