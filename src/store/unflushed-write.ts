import { type Kysely, PostgresAdapter, sql } from 'kysely';
import { SQLITE_PRAGMAS } from './dialect/sqlite/index.ts';
import type { DatabaseSchema } from './schema.ts';

/**
 * Runs `write` as one commit that does not wait for its log flush: PostgreSQL's
 * `synchronous_commit = off` for its transaction, SQLite's `synchronous = NORMAL` for it (the WAL
 * appended, not fsync'd). Both logs are sequential, so the next durable commit — any other
 * request's, a group commit — makes it durable too; a crash before that loses it, and nothing
 * else: no durable commit can come to depend on a write it does not see. For records whose loss
 * in a crash is harmless (an Idempotency-Key's claim and stored answer: the effect itself commits
 * durably, with the key's outcome), it saves a disk flush per request.
 *
 * @example await withoutFlush(db, (trx) => trx.insertInto('idempotency_keys').values(row).execute());
 */
export async function withoutFlush<T>(
  db: Kysely<DatabaseSchema>,
  write: (db: Kysely<DatabaseSchema>) => Promise<T>,
): Promise<T> {
  if (db.getExecutor().adapter instanceof PostgresAdapter)
    return db.transaction().execute(async (trx) => {
      await sql`set local synchronous_commit = off`.execute(trx);
      return write(trx);
    });
  // SQLite: one connection, which Kysely lends to one caller at a time — no transaction of
  // another caller is open while the setting is changed and put back.
  return db.connection().execute(async (connection) => {
    await sql`pragma synchronous = normal`.execute(connection);
    try {
      return await write(connection);
    } finally {
      await sql.raw(`pragma synchronous = ${SQLITE_PRAGMAS.synchronous}`).execute(connection);
    }
  });
}
