import { PostgresDialect } from 'kysely';
import pg from 'pg';
import { StoreError } from '../../store-error.ts';
import type { StoreDialect } from '../store-dialect.ts';

/** BIGINT columns come back as numbers, as on SQLite; a value beyond 2^53 is an error, never rounded. */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new StoreError(
      'store.integer_out_of_range',
      `A stored integer (${text}) is too large to read exactly.`,
    );
  }
  return value;
}

/** The URL with any password removed, for messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

/**
 * PostgreSQL through `pg`, with a connection pool. BIGINT is parsed per pool, not globally.
 *
 * @example createPostgresDialect('postgres://indicia@127.0.0.1:5432/indicia')
 */
export function createPostgresDialect(url: string, options: { maxConnections?: number } = {}): StoreDialect {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, parseInt8);
  return {
    name: 'postgres',
    location: redactDatabaseUrl(url),
    kyselyDialect: new PostgresDialect({
      pool: new pg.Pool({
        connectionString: url,
        max: options.maxConnections ?? 10,
        types,
      }),
    }),
  };
}
