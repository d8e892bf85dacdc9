import { Kysely, sql } from 'kysely';
import { createPostgresDialect } from './dialect/postgres/index.ts';
import { createSqliteDialect } from './dialect/sqlite/index.ts';
import type { DatabaseTarget, DialectName, StoreDialect } from './dialect/store-dialect.ts';
import type { DatabaseSchema } from './schema.ts';
import { StoreError } from './store-error.ts';

/** An open database: the typed query builder plus what the server needs to manage it. */
export interface Store {
  readonly db: Kysely<DatabaseSchema>;
  readonly dialect: DialectName;
  /** File path or redacted URL, for messages. */
  readonly location: string;
  /** Resolves when the database answers a trivial query. */
  readonly ping: () => Promise<void>;
  readonly close: () => Promise<void>;
}

function dialectFor(target: DatabaseTarget): StoreDialect {
  switch (target.dialect) {
    case 'sqlite':
      return createSqliteDialect(target.file);
    case 'postgres':
      return createPostgresDialect(target.url);
  }
}

/**
 * Opens the database and checks that it answers. Does not migrate (see `migrateToLatest`).
 *
 * @example const store = await openStore({ dialect: 'sqlite', file: 'indicia-data/indicia.sqlite' });
 */
export async function openStore(target: DatabaseTarget): Promise<Store> {
  const dialect = dialectFor(target);
  const db = new Kysely<DatabaseSchema>({ dialect: dialect.kyselyDialect });
  const ping = async (): Promise<void> => {
    await sql`select 1`.execute(db);
  };
  try {
    await ping();
  } catch (error) {
    await db.destroy().catch(() => undefined);
    await dialect.close?.();
    const reason = error instanceof Error ? error.message : String(error);
    throw new StoreError(
      'store.unavailable',
      `cannot open the ${dialect.name} database ${dialect.location}: ${reason}`,
      {
        cause: error,
      },
    );
  }
  return {
    db,
    dialect: dialect.name,
    location: dialect.location,
    ping,
    close: async () => {
      await db.destroy();
      await dialect.close?.();
    },
  };
}
