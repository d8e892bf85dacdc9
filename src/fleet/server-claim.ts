import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type Kysely, type Transaction, sql } from 'kysely';
import { StartupError } from '../startup/index.ts';
import {
  type AdvisoryLockKey,
  type DatabaseSchema,
  type DatabaseTarget,
  type LockSession,
  advisoryObjectId,
  openLockSession,
} from '../store/index.ts';
import { OPERATOR_MODULE_NUMBER } from '../vault/index.ts';
import { ensureServerId } from './server-identity.ts';

/** Advisory lock classes (two-key form): a server id's lock, a module serial's, number allocation. */
export const SERVER_LOCK_CLASS = 0x1d1c0001;
export const SERIAL_LOCK_CLASS = 0x1d1c0002;
const ALLOCATION_LOCK_CLASS = 0x1d1c0003;

/** How often a server writes its heartbeat, and after how long without one it counts as gone. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const LEASE_MS = 15_000;

/** Claims of this process (servers started in-process, as tests do): instance ids that are live. */
const liveInstances = new Set<string>();

/** What a heartbeat reports of the server and each of its modules. */
export interface HeartbeatReport {
  readonly groupsCommitted: number;
  readonly commandsCommitted: number;
  readonly waitingCommands: number;
  readonly modules: readonly {
    readonly moduleNumber: number | null;
    readonly serial: string;
    readonly state: string;
    readonly totalOperations: number;
    readonly operationsPerSecond: number;
    readonly load: number;
  }[];
}

/** A server's exclusive hold on its data directory's server id and module numbers. */
export interface ServerClaim {
  readonly serverId: string;
  /** The module numbers this server drives, ascending: its own from earlier starts first. */
  readonly moduleNumbers: readonly number[];
  /**
   * Takes the serials of the opened modules: refuses (startup.modules_claimed) a serial another
   * live server drives, e.g. a data directory copied with its `vault/modules/` folders.
   */
  bindSerials(
    modules: readonly { readonly serial: string; readonly moduleNumber: number | null }[],
  ): Promise<void>;
  /** Writes the heartbeat now: the server's port once it listens, and its modules' load. */
  heartbeat(report: HeartbeatReport, port?: number): Promise<void>;
  /** Writes the heartbeat every interval until released; `onLost` when the claim cannot be kept. */
  startHeartbeat(report: () => HeartbeatReport, onLost: (reason: string) => void): void;
  /**
   * Stops the heartbeat, marks the server stopped and frees its locks. Idempotent. `forget`
   * (a start that failed) also removes what this start added: new module numbers, a new server row.
   */
  release(options?: { readonly forget?: boolean }): Promise<void>;
}

export interface ClaimOptions {
  readonly db: Kysely<DatabaseSchema>;
  readonly target: DatabaseTarget;
  readonly dataDir: string;
  /** How many modules the server runs (INDICIA_CRYPTO_MODULES). */
  readonly moduleCount: number;
  /** The backend's kind: numbers another backend's rows used stay free for this one. */
  readonly backend: string;
  readonly heartbeatIntervalMs?: number;
  readonly leaseMs?: number;
}

const isPidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

type ServerRow = Awaited<ReturnType<typeof readServer>>;
const readServer = (db: Kysely<DatabaseSchema> | Transaction<DatabaseSchema>, serverId: string) =>
  db.selectFrom('servers').selectAll().where('server_id', '=', serverId).executeTakeFirst();

const described = (row: NonNullable<ServerRow>): string =>
  `server ${row.server_id} (data directory ${row.data_dir} on ${row.host}, pid ${row.pid}${row.port === null ? '' : `, port ${row.port}`}, started ${row.started_at})`;

/**
 * Whether a SQLite server row is a live server: its heartbeat within the lease and, on this host,
 * its process alive (in this very process: a claim not yet released).
 */
function isLiveOnSqlite(row: NonNullable<ServerRow>, leaseMs: number, now: number): boolean {
  if (row.stopped_at !== null) return false;
  if (row.host === hostname()) {
    if (row.pid === process.pid) return liveInstances.has(row.instance);
    if (!isPidAlive(row.pid)) return false;
  }
  return now - Date.parse(row.heartbeat_at) <= leaseMs;
}

/**
 * The module numbers `serverId` drives: those bound to it, then (when it has fewer than
 * `count`) the smallest numbers nobody has used, bound to it for good. The first server of an
 * installation older than the claims takes 1..N, the numbers its modules always had.
 */
async function allocateModuleNumbers(
  trx: Transaction<DatabaseSchema>,
  serverId: string,
  count: number,
  backend: string,
): Promise<{ numbers: number[]; added: number[] }> {
  const claims = await trx.selectFrom('module_claims').select(['module_number', 'server_id']).execute();
  const mine = claims
    .filter((claim) => claim.server_id === serverId)
    .map((claim) => claim.module_number)
    .sort((left, right) => left - right);
  if (mine.length >= count) return { numbers: mine.slice(0, count), added: [] };
  const isFirstServer = claims.length === 0;
  const used = new Set([OPERATOR_MODULE_NUMBER, ...claims.map((claim) => claim.module_number)]);
  if (!isFirstServer) {
    // A number a module of this backend had before claims existed (PKCS#11: the same serial).
    const rows = await trx
      .selectFrom('crypto_modules')
      .select('module_number')
      .where('backend', '=', backend)
      .where('module_number', 'is not', null)
      .execute();
    for (const row of rows) if (row.module_number !== null) used.add(row.module_number);
  }
  const now = new Date().toISOString();
  const added: number[] = [];
  for (let number = 1; mine.length < count; number += 1) {
    if (used.has(number)) continue;
    await trx
      .insertInto('module_claims')
      .values({
        module_number: number,
        server_id: serverId,
        claimed_at: now,
        serial: null,
        state: null,
        total_operations: 0,
        operations_per_kilosecond: 0,
        load_per_mille: 0,
        heartbeat_at: null,
      })
      .execute();
    mine.push(number);
    added.push(number);
  }
  return { numbers: mine, added };
}

/**
 * Claims this data directory's server id and its crypto module numbers in the database, so that
 * no two processes drive one module (two would run private copies of its checkpoint ring against
 * one checkpoint row, and the first commands would inhibit it). On PostgreSQL the claim is a
 * session advisory lock on a connection of its own, freed by PostgreSQL the moment the process
 * dies; the heartbeat only shows liveness. On SQLite, which is for one server, a live server row
 * (any data directory) refuses the start and names PostgreSQL as the way to run several.
 *
 * @example const claim = await claimServerModules({ db, target, dataDir, moduleCount: 2, backend: 'software' });
 */
export async function claimServerModules(options: ClaimOptions): Promise<ServerClaim> {
  const { db, target, dataDir } = options;
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const intervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
  const serverId = ensureServerId(dataDir);
  const instance = randomUUID();
  const serverKey: AdvisoryLockKey = { classId: SERVER_LOCK_CLASS, objectId: advisoryObjectId(serverId) };
  let session: LockSession | null = await openLockSession(target);
  const serialKeys: AdvisoryLockKey[] = [];
  const fail = async (error: unknown): Promise<never> => {
    liveInstances.delete(instance);
    await session?.close();
    throw error;
  };

  if (session !== null && !(await session.tryLock(serverKey))) {
    const row = await readServer(db, serverId);
    return fail(
      new StartupError(
        'startup.modules_claimed',
        `another server runs on the data directory ${dataDir}: ${row === undefined ? serverId : described(row)}. ` +
          'Each server needs a data directory of its own (its crypto modules’ checkpoint rings live there): stop that one, or start this one with another --data-dir.',
      ),
    );
  }
  let moduleNumbers: number[];
  let added: number[] = [];
  let isNewServer = false;
  try {
    moduleNumbers = await db.transaction().execute(async (trx) => {
      if (target.dialect === 'postgres')
        await sql`select pg_advisory_xact_lock(${ALLOCATION_LOCK_CLASS}::int4, 0)`.execute(trx);
      else {
        const now = Date.now();
        const live = (await trx.selectFrom('servers').selectAll().execute()).filter(
          (row) => row.instance !== instance && isLiveOnSqlite(row, leaseMs, now),
        );
        const other = live[0];
        if (other !== undefined)
          throw new StartupError(
            'startup.modules_claimed',
            `${described(other)} runs on this SQLite database. SQLite is for one server; to run several ` +
              'servers on one installation, move it to PostgreSQL (indicia migrate --to postgres://…) and give every server INDICIA_DATABASE_URL and a data directory of its own.',
          );
      }
      isNewServer = (await readServer(trx, serverId)) === undefined;
      const allocation = await allocateModuleNumbers(trx, serverId, options.moduleCount, options.backend);
      added = allocation.added;
      const now = new Date().toISOString();
      const row = {
        host: hostname(),
        pid: process.pid,
        port: null,
        data_dir: dataDir,
        instance,
        started_at: now,
        heartbeat_at: now,
        stopped_at: null,
        waiting_commands: 0,
      };
      await trx
        .insertInto('servers')
        .values({ server_id: serverId, ...row, groups_committed: 0, commands_committed: 0 })
        .onConflict((conflict) => conflict.column('server_id').doUpdateSet(row))
        .execute();
      return allocation.numbers;
    });
  } catch (error) {
    return fail(error);
  }
  liveInstances.add(instance);

  const lockSerials = async (on: LockSession): Promise<string | null> => {
    for (const key of serialKeys)
      if (!(await on.tryLock(key))) return `a module serial's lock is held elsewhere`;
    return null;
  };
  let timer: NodeJS.Timeout | undefined;
  let released: Promise<void> | undefined;
  let isBeating = false;
  let isLost = false;

  const writeHeartbeat = async (report: HeartbeatReport, port?: number): Promise<boolean> => {
    const now = new Date().toISOString();
    return db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('servers')
        .set({
          heartbeat_at: now,
          groups_committed: report.groupsCommitted,
          commands_committed: report.commandsCommitted,
          waiting_commands: report.waitingCommands,
          ...(port === undefined ? {} : { port }),
        })
        .where('server_id', '=', serverId)
        .where('instance', '=', instance)
        .executeTakeFirst();
      if (updated.numUpdatedRows !== 1n) return false;
      for (const module of report.modules) {
        if (module.moduleNumber === null) continue;
        await trx
          .updateTable('module_claims')
          .set({
            serial: module.serial,
            state: module.state,
            total_operations: module.totalOperations,
            operations_per_kilosecond: Math.round(module.operationsPerSecond * 1000),
            load_per_mille: Math.round(module.load * 1000),
            heartbeat_at: now,
          })
          .where('module_number', '=', module.moduleNumber)
          .where('server_id', '=', serverId)
          .execute();
      }
      return true;
    });
  };

  /** A session that broke (the database restarted): a new one takes the locks again, or the claim is lost. */
  const keepSession = async (): Promise<string | null> => {
    if (session === null) return null;
    try {
      await session.ping();
      return null;
    } catch {
      await session.close();
    }
    const fresh = await openLockSession(target);
    if (fresh === null) return null;
    if (!(await fresh.tryLock(serverKey))) {
      await fresh.close();
      return 'another process took this server’s claim while its database session was lost';
    }
    const problem = await lockSerials(fresh);
    if (problem !== null) {
      await fresh.close();
      return problem;
    }
    session = fresh;
    return null;
  };

  return {
    serverId,
    moduleNumbers,
    async bindSerials(modules) {
      const claims = await db
        .selectFrom('module_claims')
        .select(['serial', 'server_id', 'heartbeat_at'])
        .execute();
      for (const module of modules) {
        const key = { classId: SERIAL_LOCK_CLASS, objectId: advisoryObjectId(module.serial) };
        const elsewhere = claims.find(
          (claim) => claim.serial === module.serial && claim.server_id !== serverId,
        );
        const isTakenElsewhere =
          session !== null
            ? !(await session.tryLock(key))
            : elsewhere !== undefined &&
              (await readServer(db, elsewhere.server_id).then(
                (row) => row !== undefined && isLiveOnSqlite(row, leaseMs, Date.now()),
              ));
        if (isTakenElsewhere)
          throw new StartupError(
            'startup.modules_claimed',
            `crypto module ${module.serial} (number ${module.moduleNumber ?? '?'}) is driven by another live server${elsewhere === undefined ? '' : ` (${elsewhere.server_id})`}: ` +
              'was this data directory copied from another server’s, vault/modules/ included? Give this server a data directory of its own with only the keys (docs/operations.md, “Adding a server to a farm”).',
          );
        serialKeys.push(key);
      }
    },
    async heartbeat(report, port) {
      await writeHeartbeat(report, port);
    },
    startHeartbeat(report, onLost) {
      timer = setInterval(() => {
        if (isBeating) return;
        isBeating = true;
        void (async () => {
          const problem =
            (await keepSession()) ??
            ((await writeHeartbeat(report()))
              ? null
              : 'another start of this server’s data directory replaced its claim');
          if (problem === null || isLost) return;
          isLost = true;
          clearInterval(timer);
          onLost(problem);
        })()
          .catch(() => undefined) // the database is away: the next beat tries again
          .finally(() => {
            isBeating = false;
          });
      }, intervalMs);
      timer.unref();
    },
    release(releaseOptions = {}) {
      released ??= (async () => {
        clearInterval(timer);
        liveInstances.delete(instance);
        if (releaseOptions.forget === true) {
          await db
            .transaction()
            .execute(async (trx) => {
              if (added.length > 0)
                await trx
                  .deleteFrom('module_claims')
                  .where('server_id', '=', serverId)
                  .where('module_number', 'in', added)
                  .execute();
              if (isNewServer)
                await trx
                  .deleteFrom('servers')
                  .where('server_id', '=', serverId)
                  .where('instance', '=', instance)
                  .execute();
            })
            .catch(() => undefined);
        }
        await db
          .updateTable('servers')
          .set({ stopped_at: new Date().toISOString() })
          .where('server_id', '=', serverId)
          .where('instance', '=', instance)
          .execute()
          .catch(() => undefined);
        await session?.close();
      })();
      return released;
    },
  };
}
