import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { isMultiHostUrl, parsePostgresUrl } from '../config/index.ts';
import type { DatabaseTarget } from './dialect/store-dialect.ts';
import type { DatabaseSchema } from './schema.ts';
import { StoreError } from './store-error.ts';

/**
 * A PostgreSQL session advisory lock: two int4 keys (the two-key form, so it never meets the
 * one-bigint locks other parts may take). `classId` names what is locked, `objectId` which one.
 */
export interface AdvisoryLockKey {
  readonly classId: number;
  readonly objectId: number;
}

/** An object id for a text (a server id, a module serial): 31 bits of its SHA-256, never negative. */
export function advisoryObjectId(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) >>> 1;
}

/**
 * One connection of its own that holds session advisory locks for as long as it lives: when the
 * process dies its connection closes and PostgreSQL frees the locks, with no lease to wait out.
 */
export interface LockSession {
  /** Takes the lock if no other session holds it; true when this session holds it now. */
  tryLock(key: AdvisoryLockKey): Promise<boolean>;
  unlock(key: AdvisoryLockKey): Promise<void>;
  /** A round trip on the session; throws when its connection is gone (its locks with it). */
  ping(): Promise<void>;
  /** Whether the connection broke (its locks are gone). */
  readonly isLost: boolean;
  /** Ends the session; PostgreSQL frees its locks. */
  close(): Promise<void>;
}

async function connectReadWrite(url: string): Promise<pg.Client> {
  const hostUrls: string[] = [];
  if (isMultiHostUrl(url)) {
    const parsed = parsePostgresUrl(url);
    if ('problem' in parsed) throw new StoreError('store.unavailable', `The database URL ${parsed.problem}.`);
    for (let index = 0; index < parsed.hosts.length; index += 1) hostUrls.push(parsed.singleHostUrl(index));
  } else hostUrls.push(url);
  const failures: string[] = [];
  for (const hostUrl of hostUrls) {
    const client = new pg.Client({ connectionString: hostUrl, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined); // a lost connection shows at the next query
    try {
      await client.connect();
      const { rows } = await client.query<{ recovery: boolean }>('select pg_is_in_recovery() as recovery');
      if (rows[0]?.recovery === false) return client;
      failures.push(`${new URL(hostUrl).host}: a standby`);
    } catch (error) {
      failures.push(`${new URL(hostUrl).host}: ${error instanceof Error ? error.message : String(error)}`);
    }
    await client.end().catch(() => undefined);
  }
  throw new StoreError(
    'store.unavailable',
    `cannot open a session for the server's locks on the primary (${failures.join('; ')})`,
  );
}

/**
 * Opens a {@link LockSession} on the database: PostgreSQL only (SQLite has no sessions to
 * outlive; there a lock file and the heartbeat stand in). Null for SQLite.
 *
 * @example const session = await openLockSession({ dialect: 'postgres', url });
 */
export async function openLockSession(target: DatabaseTarget): Promise<LockSession | null> {
  if (target.dialect !== 'postgres') return null;
  const client = await connectReadWrite(target.url);
  let isLost = false;
  client.on('error', () => {
    isLost = true;
  });
  client.on('end', () => {
    isLost = true;
  });
  const query = async <Row extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<Row[]> => {
    try {
      return (await client.query<Row>(text, values)).rows;
    } catch (error) {
      isLost = true;
      throw error;
    }
  };
  return {
    async tryLock(key) {
      const rows = await query<{ taken: boolean }>(
        'select pg_try_advisory_lock($1::int4, $2::int4) as taken',
        [key.classId, key.objectId],
      );
      return rows[0]?.taken === true;
    },
    async unlock(key) {
      await query('select pg_advisory_unlock($1::int4, $2::int4)', [key.classId, key.objectId]);
    },
    async ping() {
      await query('select 1', []);
    },
    get isLost() {
      return isLost;
    },
    async close() {
      isLost = true;
      await client.end().catch(() => undefined);
    },
  };
}

/**
 * The object ids of class `classId` whose session advisory locks some session of this database
 * holds now (PostgreSQL's lock table: exact, no lease). Empty on SQLite.
 */
export async function heldAdvisoryLocks(db: Kysely<DatabaseSchema>, classId: number): Promise<Set<number>> {
  const { rows } = await sql<{ objid: string | number }>`
    select objid from pg_locks
    where locktype = 'advisory' and granted and objsubid = 2 and classid = ${classId}
      and database = (select oid from pg_database where datname = current_database())
  `.execute(db);
  return new Set(rows.map((row) => Number(row.objid)));
}
