import { DatabaseSync } from 'node:sqlite';
import { SqliteDialect } from 'kysely';
import type { StoreDialect } from '../store-dialect.ts';
import { NodeSqliteDatabase } from './node-sqlite-database.ts';

/** Settings every connection gets: durable commits, enforced foreign keys, readers beside a writer. */
export const SQLITE_PRAGMAS = {
  journal_mode: 'wal',
  synchronous: 2, // FULL: a commit is on disk before it returns, so nothing of value leaves earlier.
  foreign_keys: 1,
  busy_timeout: 5000,
} as const;

/**
 * The embedded default: one SQLite file through `node:sqlite`, WAL, synchronous=FULL, foreign keys on.
 *
 * @example createSqliteDialect('/var/lib/indicia/indicia.sqlite')
 */
export function createSqliteDialect(file: string): StoreDialect {
  return {
    name: 'sqlite',
    location: file,
    kyselyDialect: new SqliteDialect({
      database: () => {
        const database = new DatabaseSync(file, { enableForeignKeyConstraints: true, timeout: 5000 });
        for (const [pragma, value] of Object.entries(SQLITE_PRAGMAS)) {
          database.exec(`PRAGMA ${pragma} = ${value}`);
        }
        return Promise.resolve(new NodeSqliteDatabase(database));
      },
    }),
  };
}
