import { DatabaseSync } from 'node:sqlite';
import { SqliteDialect } from 'kysely';
import type { StoreDialect } from '../store-dialect.ts';
import { NodeSqliteDatabase } from './node-sqlite-database.ts';
import { type WalCheckpointer, startWalCheckpointer } from './wal-checkpointer.ts';

/** Settings every connection gets: durable commits, enforced foreign keys, readers beside a writer. */
export const SQLITE_PRAGMAS = {
  journal_mode: 'wal',
  synchronous: 2, // FULL: a commit is on disk before it returns, so nothing of value leaves earlier.
  foreign_keys: 1,
  busy_timeout: 5000,
  // A backstop only: a worker thread checkpoints the WAL (see wal-checkpointer.ts).
  wal_autocheckpoint: 16_384,
} as const;

/**
 * The embedded default: one SQLite file through `node:sqlite`, WAL, synchronous=FULL, foreign keys on,
 * and WAL checkpoints on a worker thread rather than inside a commit.
 *
 * @example createSqliteDialect('/var/lib/indicia/indicia.sqlite')
 */
export function createSqliteDialect(file: string): StoreDialect {
  let checkpointer: WalCheckpointer | null = null;
  return {
    name: 'sqlite',
    location: file,
    kyselyDialect: new SqliteDialect({
      database: () => {
        const database = new DatabaseSync(file, { enableForeignKeyConstraints: true, timeout: 5000 });
        for (const [pragma, value] of Object.entries(SQLITE_PRAGMAS)) {
          database.exec(`PRAGMA ${pragma} = ${value}`);
        }
        checkpointer ??= startWalCheckpointer(file);
        return Promise.resolve(new NodeSqliteDatabase(database));
      },
    }),
    async close() {
      await checkpointer?.stop();
      checkpointer = null;
    },
  };
}
