import { type Kysely, sql } from 'kysely';
import {
  type CatalogColumn,
  type CatalogTable,
  catalogTables,
  tablesInForeignKeyOrder,
} from './database-catalog.ts';
import { MIGRATION_TABLE, appliedMigrationNames, migrateToLatest } from './migrate.ts';
import type { Store } from './open-store.ts';
import type { DatabaseSchema } from './schema.ts';
import { StoreError } from './store-error.ts';

/** One table as copied: its rows, counted on both sides after the copy. */
export interface CopiedTable {
  readonly name: string;
  readonly rows: number;
}

export interface DatabaseCopyReport {
  /** Every table, in the order copied (referenced tables first). */
  readonly tables: readonly CopiedTable[];
  readonly rows: number;
  /** The migrations the target was built with, the same list the source has applied. */
  readonly migrations: readonly string[];
}

export interface CopyDatabaseOptions {
  /** Rows per read and per INSERT (fewer when a table has many columns). */
  readonly batchSize?: number;
  /**
   * Checks the copied target beside the still-locked source, inside the target's transaction:
   * throwing rolls the whole copy back, so the target holds only data that passed.
   */
  readonly verify?: (databases: {
    readonly source: Kysely<DatabaseSchema>;
    readonly target: Kysely<DatabaseSchema>;
  }) => Promise<void>;
}

type AnyDatabase = Kysely<Record<string, Record<string, unknown>>>;

/** PostgreSQL's parameter limit is 65 535 per statement; stay well below it. */
const MAX_PARAMETERS = 30_000;

/**
 * Copies a migrated SQLite installation into an empty PostgreSQL database: builds the target's
 * schema with the same migrations, then copies every table the migrations made, referenced
 * tables first, in batches — all in one target transaction, so a failure (or a `verify` that
 * throws) leaves the target as empty as it was. The source is held with BEGIN IMMEDIATE for the
 * whole copy: nothing writes it meanwhile, and the copy is one consistent state.
 *
 * The tables come from the databases' catalogues, not from a list: a table or column a later
 * migration adds is copied without a change here, and one that exists on only one side is an
 * error (`store.copy_failed`). A target with any table in it is refused (`store.target_not_empty`).
 *
 * @example const report = await copyDatabase(sqliteStore, postgresStore, { verify: checkArrival });
 */
export async function copyDatabase(
  source: Store,
  target: Store,
  options: CopyDatabaseOptions = {},
): Promise<DatabaseCopyReport> {
  if (source.dialect !== 'sqlite' || target.dialect !== 'postgres') {
    throw new StoreError(
      'store.copy_failed',
      `a database is copied from SQLite to PostgreSQL only (not from ${source.dialect} to ${target.dialect}).`,
    );
  }
  const batchSize = options.batchSize ?? 500;
  return source.db.connection().execute(async (sourceDb) => {
    await sql`begin immediate`.execute(sourceDb);
    try {
      return await target.db.transaction().execute(async (targetDb) => {
        await refuseNonEmptyTarget(targetDb, target.location);
        const migrations = await buildTargetSchema(sourceDb, targetDb, target.location);
        const order = await matchingTables(sourceDb, targetDb, target.location);
        // The migrations seed a few rows (the audit head, number allocators): the source's replace them.
        for (const table of [...order].reverse()) {
          await sql`delete from ${sql.table(table.name)}`.execute(targetDb);
        }
        const tables: CopiedTable[] = [];
        for (const table of order) {
          const rows = await copyTable(sourceDb, targetDb, table, batchSize, target.location);
          tables.push({ name: table.name, rows });
        }
        await options.verify?.({ source: sourceDb, target: targetDb });
        return { tables, rows: tables.reduce((sum, table) => sum + table.rows, 0), migrations };
      });
    } finally {
      // The source was only read. A failed rollback (SQLite may have ended the transaction
      // itself) must not hide the copy's own outcome; closing the store releases the lock anyway.
      await sql`rollback`.execute(sourceDb).catch(() => undefined);
    }
  });
}

async function refuseNonEmptyTarget(targetDb: Kysely<DatabaseSchema>, location: string): Promise<void> {
  const existing = [...(await catalogTables(targetDb, 'postgres', { withBookkeeping: true })).keys()];
  if (existing.length === 0) return;
  const isIndicia = existing.includes(MIGRATION_TABLE) || existing.includes('audit_events');
  throw new StoreError(
    'store.target_not_empty',
    `the target database ${location} is not empty: ${isIndicia ? 'it holds an Indicia installation already' : 'it has tables'} (${existing.sort().slice(0, 8).join(', ')}${existing.length > 8 ? ', …' : ''}). ` +
      'Nothing was changed. Give an empty database (createdb), or drop this one only if you are sure it holds nothing you need.',
    { details: { tables: existing.length } },
  );
}

async function buildTargetSchema(
  sourceDb: Kysely<DatabaseSchema>,
  targetDb: Kysely<DatabaseSchema>,
  location: string,
): Promise<string[]> {
  await migrateToLatest(targetDb, location);
  const sourceMigrations = await appliedMigrationNames(sourceDb);
  const targetMigrations = await appliedMigrationNames(targetDb);
  if (sourceMigrations.join() !== targetMigrations.join()) {
    throw new StoreError(
      'store.copy_failed',
      `the source has the migrations ${sourceMigrations.join(', ')} but the target was built with ${targetMigrations.join(', ')}; migrate the source first (indicia migrate).`,
    );
  }
  return targetMigrations;
}

/** The target's tables in foreign-key order, after checking both sides have the same tables and columns. */
async function matchingTables(
  sourceDb: Kysely<DatabaseSchema>,
  targetDb: Kysely<DatabaseSchema>,
  location: string,
): Promise<CatalogTable[]> {
  const sourceTables = await catalogTables(sourceDb, 'sqlite');
  const targetTables = await catalogTables(targetDb, 'postgres');
  const problems: string[] = [];
  for (const name of sourceTables.keys())
    if (!targetTables.has(name)) problems.push(`the source has a table ${name} the target lacks`);
  for (const [name, table] of targetTables) {
    const sourceTable = sourceTables.get(name);
    if (sourceTable === undefined) {
      problems.push(`the target has a table ${name} the source lacks`);
      continue;
    }
    const sourceColumns = sourceTable.columns.map((column) => column.name).sort();
    const targetColumns = table.columns.map((column) => column.name).sort();
    if (sourceColumns.join() !== targetColumns.join())
      problems.push(
        `table ${name} has the columns ${sourceColumns.join(', ')} in the source but ${targetColumns.join(', ')} in the target`,
      );
  }
  if (problems.length > 0) {
    throw new StoreError(
      'store.copy_failed',
      `the source and the target ${location} do not have the same schema after migrating both: ${problems.join('; ')}. Nothing was copied.`,
    );
  }
  const order = await tablesInForeignKeyOrder(targetDb, 'postgres', targetTables.keys());
  return order.map((name) => targetTables.get(name) as CatalogTable);
}

async function countRows(db: Kysely<DatabaseSchema>, table: string): Promise<number> {
  const { rows } = await sql<{
    count: number | string;
  }>`select count(*) as count from ${sql.table(table)}`.execute(db);
  return Number(rows[0]?.count ?? 0);
}

async function copyTable(
  sourceDb: Kysely<DatabaseSchema>,
  targetDb: Kysely<DatabaseSchema>,
  table: CatalogTable,
  batchSize: number,
  location: string,
): Promise<number> {
  const rowsPerInsert = Math.max(1, Math.min(batchSize, Math.floor(MAX_PARAMETERS / table.columns.length)));
  const reader = sourceDb as unknown as AnyDatabase;
  const writer = targetDb as unknown as AnyDatabase;
  let copied = 0;
  let batch: Record<string, unknown>[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    try {
      await writer.insertInto(table.name).values(batch).execute();
    } catch (error) {
      throw new StoreError(
        'store.copy_failed',
        `copying table ${table.name} to ${location} failed after ${copied} row(s): ${error instanceof Error ? error.message : String(error)}. ` +
          'The copy is one transaction: the target was left as empty as it was. Fix the cause and run the command again.',
        { cause: error },
      );
    }
    copied += batch.length;
    batch = [];
  };
  // Rowid order is insertion order: a row that references an earlier row of its table follows it.
  for await (const row of reader
    .selectFrom(table.name)
    .selectAll()
    .orderBy(sql`rowid`)
    .stream(rowsPerInsert)) {
    const converted: Record<string, unknown> = {};
    for (const column of table.columns) {
      converted[column.name] = targetValue(row[column.name], column, `${table.name}.${column.name}`);
    }
    batch.push(converted);
    if (batch.length >= rowsPerInsert) await flush();
  }
  await flush();
  const [sourceCount, targetCount] = [
    await countRows(sourceDb, table.name),
    await countRows(targetDb, table.name),
  ];
  if (sourceCount !== copied || targetCount !== copied) {
    throw new StoreError(
      'store.copy_failed',
      `table ${table.name}: ${sourceCount} row(s) in the source, ${copied} copied, ${targetCount} in the target; nothing was kept.`,
    );
  }
  return copied;
}

const INTEGER_TYPES = new Set(['int2', 'int4', 'int8', 'integer', 'bigint', 'smallint']);
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'json', 'jsonb']);

/**
 * A source value as the target column stores it, exactly: integers stay safe integers (BIGINT
 * mills, sequences), text stays text (timestamps are ISO text on both), SQLite's 0/1 becomes a
 * PostgreSQL boolean. Anything else is refused rather than converted by guesswork.
 */
function targetValue(value: unknown, column: CatalogColumn, where: string): unknown {
  if (value === null || value === undefined) return null;
  const refuse = (): never => {
    throw new StoreError(
      'store.copy_failed',
      `${where} holds a ${typeof value} value the target's ${column.dataType} column cannot take exactly; nothing was kept. ` +
        'Correct the row in the source (or teach src/store/copy-database.ts the type) and run the command again.',
    );
  };
  if (INTEGER_TYPES.has(column.dataType)) {
    if (typeof value === 'bigint') {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) refuse();
      return Number(value);
    }
    return typeof value === 'number' && Number.isSafeInteger(value) ? value : refuse();
  }
  if (TEXT_TYPES.has(column.dataType)) return typeof value === 'string' ? value : refuse();
  if (column.dataType === 'bool') {
    if (value === 0 || value === false) return false;
    if (value === 1 || value === true) return true;
    return refuse();
  }
  if (column.dataType === 'bytea') return value instanceof Uint8Array ? Buffer.from(value) : refuse();
  return refuse();
}
