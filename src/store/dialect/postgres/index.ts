import { PostgresDialect } from 'kysely';
import pg from 'pg';
import { isMultiHostUrl, parsePostgresUrl } from '../../../config/index.ts';
import { StoreError } from '../../store-error.ts';
import type { StoreDialect } from '../store-dialect.ts';
import { createFailoverPool } from './failover-pool.ts';

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
  if (isMultiHostUrl(url)) {
    const parsed = parsePostgresUrl(url);
    return 'problem' in parsed ? 'postgres://(unparseable URL)' : parsed.redacted;
  }
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

/**
 * PostgreSQL through `pg`, with a connection pool. BIGINT is parsed per pool, not globally. A
 * libpq host list (a primary and its standby) gets a pool that finds the primary for every new
 * connection and drops broken ones (failover-pool.ts); one host is handed to `pg` as it is.
 *
 * @example createPostgresDialect('postgres://indicia@127.0.0.1:5432/indicia')
 * @example createPostgresDialect('postgres://indicia@db1:5432,db2:5432/indicia?target_session_attrs=read-write')
 */
export function createPostgresDialect(url: string, options: { maxConnections?: number } = {}): StoreDialect {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, parseInt8);
  if (isMultiHostUrl(url)) {
    const parsed = parsePostgresUrl(url);
    if ('problem' in parsed) {
      throw new StoreError('store.unavailable', `The database URL ${parsed.problem}.`);
    }
    return {
      name: 'postgres',
      location: parsed.redacted,
      kyselyDialect: new PostgresDialect({
        pool: createFailoverPool(parsed, { maxConnections: options.maxConnections ?? 10, types }),
      }),
    };
  }
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
