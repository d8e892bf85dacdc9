import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import pg from 'pg';
import type { PostgresUrl } from '../../../config/index.ts';
import { StoreError } from '../../store-error.ts';

/** How long one host may take to accept a connection before the next is tried (libpq's connect_timeout). */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** Server error codes meaning the session is gone or the server is no longer the primary. */
const LOST_SQLSTATES = new Set([
  '57P01', // admin_shutdown: a fast shutdown (pg_auto_failover demoting the node)
  '57P02', // crash_shutdown: another backend crashed, or the postmaster was killed
  '57P03', // cannot_connect_now: starting up or shutting down
  '25006', // read_only_sql_transaction: the node is a standby now
]);
const LOST_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
const LOST_MESSAGES =
  /Connection terminated|not queryable|Connection ended|timeout expired|connection timeout/i;

/** Whether an error from node-postgres says the connection or its server is lost (not a query error). */
export function isConnectionLoss(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (LOST_SQLSTATES.has(code) || code.startsWith('08')) return true;
    if (LOST_SYSTEM_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return false;
  }
  return LOST_MESSAGES.test(error.message);
}

function lostConnection(location: string, error: unknown): StoreError {
  return new StoreError(
    'store.unavailable',
    `The connection to the database ${location} was lost during the request (the primary may be ` +
      'failing over to its standby). The request was not confirmed; retry it in a few seconds.',
    { cause: error },
  );
}

type Query = (sql: string, parameters: readonly unknown[]) => Promise<PostgresQueryResult<unknown>>;

/**
 * A pool for a multi-host URL, shaped as Kysely's `PostgresPool`. Every new connection goes to the
 * host that last answered as wanted, then to the others in the URL's order, and is kept only when
 * `target_session_attrs` is met (read-write: not in recovery and not read-only, as libpq checks).
 * A connection that breaks is destroyed, never pooled again, and its query fails with
 * `store.unavailable`; the next connection finds the new primary.
 */
export function createFailoverPool(
  url: PostgresUrl,
  options: { readonly maxConnections: number; readonly types: pg.CustomTypesConfig },
): PostgresPool {
  const hostCount = url.hosts.length;
  const timeout = Number(new URL(url.singleHostUrl(0)).searchParams.get('connect_timeout') ?? '');
  const connectTimeoutMs = timeout > 0 ? timeout * 1000 : DEFAULT_CONNECT_TIMEOUT_MS;
  let preferred = 0;
  const hostIndexes = new WeakMap<object, number>();
  const verified = new WeakSet<object>();

  // node-postgres fixes a client's host when it is made: each new client takes the preferred one.
  class PreferredHostClient extends pg.Client {
    constructor(config: pg.ClientConfig = {}) {
      const index = preferred;
      super({
        ...config,
        connectionString: url.singleHostUrl(index),
        connectionTimeoutMillis: connectTimeoutMs,
      });
      hostIndexes.set(this, index);
    }
  }
  const pool = new pg.Pool({
    Client: PreferredHostClient,
    max: options.maxConnections,
    types: options.types,
  });
  // An idle connection whose server died: the pool drops it; nothing is waiting on it.
  pool.on('error', () => undefined);

  const hostName = (index: number): string => {
    const host = url.hosts[index];
    return host === undefined ? '?' : `${host.host}:${host.port}`;
  };
  const moveOn = (from: number): void => {
    if (preferred === from) preferred = (from + 1) % hostCount;
  };
  const isReadWrite = async (client: pg.PoolClient): Promise<boolean> => {
    const { rows } = await client.query<{ recovery: boolean; read_only: string }>(
      "select pg_is_in_recovery() as recovery, current_setting('transaction_read_only') as read_only",
    );
    return rows[0]?.recovery === false && rows[0].read_only === 'off';
  };

  const guard = (client: pg.PoolClient): PostgresPoolClient => {
    let isBroken = false;
    // A connection lost between two queries (inside a transaction) is an 'error' event with no
    // query to fail; unheard, it would end the process. The next query fails instead.
    const onError = (): void => {
      isBroken = true;
    };
    client.on('error', onError);
    const query: Query = async (sql, parameters) => {
      try {
        return (await client.query(sql, [...parameters])) as PostgresQueryResult<unknown>;
      } catch (error) {
        if (!isConnectionLoss(error)) throw error;
        isBroken = true;
        moveOn(hostIndexes.get(client) ?? preferred);
        throw lostConnection(url.redacted, error);
      }
    };
    return {
      // Undocumented in pg's types; Kysely reads it to cancel a query.
      get processID() {
        return (client as { processID?: number }).processID;
      },
      query: query as PostgresPoolClient['query'],
      release: (destroy?: boolean) => {
        client.removeListener('error', onError);
        client.release(destroy === true || isBroken);
      },
    };
  };

  const connect = async (): Promise<PostgresPoolClient> => {
    const failures: string[] = [];
    // Twice round the list: an idle connection found dead on the way costs one attempt.
    for (let attempt = 0; attempt < 2 * hostCount; attempt += 1) {
      const index = preferred;
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        failures.push(`${hostName(index)}: ${error instanceof Error ? error.message : String(error)}`);
        moveOn(index);
        continue;
      }
      const clientIndex = hostIndexes.get(client) ?? index;
      if (url.targetSessionAttrs === 'read-write' && !verified.has(client)) {
        let reason: string | null = null;
        try {
          if (!(await isReadWrite(client))) reason = 'not read-write (a standby, or a primary being fenced)';
        } catch (error) {
          reason = error instanceof Error ? error.message : String(error);
        }
        if (reason !== null) {
          client.release(true);
          failures.push(`${hostName(clientIndex)}: ${reason}`);
          moveOn(clientIndex);
          continue;
        }
        verified.add(client);
      }
      return guard(client);
    }
    const wanted = url.targetSessionAttrs === 'read-write' ? 'a read-write (primary) server' : 'a server';
    throw new StoreError(
      'store.unavailable',
      `None of the database hosts of ${url.redacted} is ${wanted} just now; if a failover is under ` +
        `way, retry in a few seconds. Tried: ${[...new Set(failures)].join('; ')}`,
    );
  };

  return {
    Client: PreferredHostClient,
    options: pool.options,
    connect,
    end: () => pool.end(),
  };
}
