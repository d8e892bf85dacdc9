import { type Kysely, sql } from 'kysely';
import type { DialectName } from './dialect/store-dialect.ts';
import { MIGRATION_TABLE } from './migrate.ts';
import { StoreError } from './store-error.ts';

/** One column as the database itself declares it (SQLite: the declared type; PostgreSQL: `int8`, `text`…). */
export interface CatalogColumn {
  readonly name: string;
  readonly dataType: string;
}

/** One base table of the database's own schema, with its columns in declaration order. */
export interface CatalogTable {
  readonly name: string;
  readonly columns: readonly CatalogColumn[];
}

/** Kysely's bookkeeping tables: the migration list is rebuilt on a target, the lock is transient. */
export const MIGRATION_BOOKKEEPING_TABLES: ReadonlySet<string> = new Set([
  MIGRATION_TABLE,
  `${MIGRATION_TABLE}_lock`,
]);

async function currentSchema<DB>(db: Kysely<DB>, dialect: DialectName): Promise<string | undefined> {
  if (dialect === 'sqlite') return undefined;
  const { rows } = await sql<{ name: string }>`select current_schema() as name`.execute(db);
  return rows[0]?.name;
}

/**
 * The base tables of the database's own schema (PostgreSQL: the current schema), by name; views
 * are left out. `withBookkeeping` includes Kysely's migration tables.
 */
export async function catalogTables<DB>(
  db: Kysely<DB>,
  dialect: DialectName,
  { withBookkeeping = false }: { withBookkeeping?: boolean } = {},
): Promise<Map<string, CatalogTable>> {
  const schema = await currentSchema(db, dialect);
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  const result = new Map<string, CatalogTable>();
  for (const table of tables) {
    if (table.isView || (schema !== undefined && table.schema !== schema)) continue;
    if (!withBookkeeping && MIGRATION_BOOKKEEPING_TABLES.has(table.name)) continue;
    result.set(table.name, {
      name: table.name,
      columns: table.columns.map((column) => ({
        name: column.name,
        dataType: column.dataType.toLowerCase(),
      })),
    });
  }
  return result;
}

/** Every foreign key as (table, the table it references), self-references included. */
async function foreignKeys<DB>(
  db: Kysely<DB>,
  dialect: DialectName,
  tables: Iterable<string>,
): Promise<{ table: string; referenced: string }[]> {
  if (dialect === 'postgres') {
    const { rows } = await sql<{ table: string; referenced: string }>`
      select child.relname as "table", parent.relname as "referenced"
      from pg_constraint constraint_row
      join pg_class child on child.oid = constraint_row.conrelid
      join pg_class parent on parent.oid = constraint_row.confrelid
      join pg_namespace namespace on namespace.oid = child.relnamespace
      where constraint_row.contype = 'f' and namespace.nspname = current_schema()
    `.execute(db);
    return rows;
  }
  const result: { table: string; referenced: string }[] = [];
  for (const table of tables) {
    const { rows } = await sql<{
      table: string;
    }>`select "table" from pragma_foreign_key_list(${table})`.execute(db);
    for (const row of rows) result.push({ table, referenced: row.table });
  }
  return result;
}

/**
 * The tables in an order that inserts every referenced table before the tables that reference
 * it (alphabetical among equals, so the order is stable). A cycle is refused: such a schema
 * needs deferred constraints, which the copy does not use.
 *
 * @example const order = await tablesInForeignKeyOrder(db, 'postgres', tables.keys());
 */
export async function tablesInForeignKeyOrder<DB>(
  db: Kysely<DB>,
  dialect: DialectName,
  tables: Iterable<string>,
): Promise<string[]> {
  const names = [...tables].sort();
  const parentsOf = new Map(names.map((name) => [name, new Set<string>()]));
  for (const { table, referenced } of await foreignKeys(db, dialect, names)) {
    if (table !== referenced) parentsOf.get(table)?.add(referenced);
  }
  const ordered: string[] = [];
  const placed = new Set<string>();
  while (ordered.length < names.length) {
    const ready = names.filter(
      (name) => !placed.has(name) && [...(parentsOf.get(name) ?? [])].every((parent) => placed.has(parent)),
    );
    if (ready.length === 0) {
      const stuck = names.filter((name) => !placed.has(name));
      throw new StoreError(
        'store.copy_failed',
        `the tables ${stuck.join(', ')} reference each other in a cycle; the copy cannot order them.`,
      );
    }
    for (const name of ready) {
      ordered.push(name);
      placed.add(name);
    }
  }
  return ordered;
}
