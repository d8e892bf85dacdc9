import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import {
  type DatabaseSchema,
  type DialectName,
  advisoryObjectId,
  heldAdvisoryLocks,
} from '../store/index.ts';
import { LEASE_MS, SERVER_LOCK_CLASS } from './server-claim.ts';

/**
 * A server of the installation: `live` (its claim held and its heartbeat within the lease),
 * `unresponsive` (claim held, heartbeat late: its modules cannot be taken over yet), `gone` (it
 * died: nothing holds its claim; its modules come back when its data directory starts again),
 * `stopped` (shut down cleanly).
 */
export type FleetServerState = 'live' | 'unresponsive' | 'gone' | 'stopped';

export interface FleetServer {
  readonly serverId: string;
  readonly host: string;
  readonly pid: number;
  readonly port: number | null;
  readonly dataDir: string;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  readonly stoppedAt: string | null;
  readonly state: FleetServerState;
  /** Since its start, as of its last heartbeat. */
  readonly groupsCommitted: number;
  readonly commandsCommitted: number;
  /** Commands waiting for a module of this server at its last heartbeat. */
  readonly waitingCommands: number;
}

export interface FleetModule {
  readonly moduleNumber: number;
  readonly serverId: string;
  /** Null until the module's first heartbeat. */
  readonly serial: string | null;
  /** The module's own state at its last heartbeat, or `gone` / `stopped` with its server. */
  readonly state: string;
  readonly serverState: FleetServerState;
  readonly host: string;
  readonly port: number | null;
  readonly totalOperations: number;
  readonly operationsPerSecond: number;
  readonly load: number;
  readonly heartbeatAt: string | null;
}

export interface Fleet {
  readonly leaseSeconds: number;
  readonly servers: readonly FleetServer[];
  readonly modules: readonly FleetModule[];
}

const isPidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Every server of the installation and every module each claims, with its state, load and last
 * heartbeat. On PostgreSQL liveness is the server's session lock as PostgreSQL's lock table
 * shows it (a killed server is gone at once); on SQLite the heartbeat and, on this host, its pid.
 *
 * @example const fleet = await readFleet(store.db, store.dialect);
 */
export async function readFleet(
  db: Kysely<DatabaseSchema>,
  dialect: DialectName,
  options: { leaseMs?: number; now?: number } = {},
): Promise<Fleet> {
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const now = options.now ?? Date.now();
  const [serverRows, claimRows, held] = await Promise.all([
    db.selectFrom('servers').selectAll().orderBy('started_at').execute(),
    db.selectFrom('module_claims').selectAll().orderBy('module_number').execute(),
    dialect === 'postgres' ? heldAdvisoryLocks(db, SERVER_LOCK_CLASS) : Promise.resolve(null),
  ]);
  const servers = serverRows.map((row): FleetServer => {
    const isFresh = now - Date.parse(row.heartbeat_at) <= leaseMs;
    const isHeld =
      held !== null
        ? held.has(advisoryObjectId(row.server_id))
        : row.stopped_at === null &&
          isFresh &&
          (row.host !== hostname() || row.pid === process.pid || isPidAlive(row.pid));
    const state: FleetServerState = isHeld
      ? isFresh
        ? 'live'
        : 'unresponsive'
      : row.stopped_at !== null
        ? 'stopped'
        : 'gone';
    return {
      serverId: row.server_id,
      host: row.host,
      pid: row.pid,
      port: row.port,
      dataDir: row.data_dir,
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
      stoppedAt: row.stopped_at,
      state,
      groupsCommitted: row.groups_committed,
      commandsCommitted: row.commands_committed,
      waitingCommands: row.waiting_commands,
    };
  });
  const byId = new Map(servers.map((server) => [server.serverId, server]));
  const modules = claimRows.map((row): FleetModule => {
    const server = byId.get(row.server_id);
    const serverState = server?.state ?? 'gone';
    return {
      moduleNumber: row.module_number,
      serverId: row.server_id,
      serial: row.serial,
      state:
        serverState === 'live' || serverState === 'unresponsive' ? (row.state ?? 'starting') : serverState,
      serverState,
      host: server?.host ?? '',
      port: server?.port ?? null,
      totalOperations: row.total_operations,
      operationsPerSecond: row.operations_per_kilosecond / 1000,
      load: row.load_per_mille / 1000,
      heartbeatAt: row.heartbeat_at,
    };
  });
  return { leaseSeconds: leaseMs / 1000, servers, modules };
}

/**
 * The module numbers of a data directory's server, and those bound to other servers (which this
 * data directory must never open: their rings live elsewhere).
 */
export async function moduleNumbersOf(
  db: Kysely<DatabaseSchema>,
  serverId: string | null,
): Promise<{ readonly own: number[]; readonly others: Set<number> }> {
  const rows = await db.selectFrom('module_claims').select(['module_number', 'server_id']).execute();
  return {
    own: rows.filter((row) => row.server_id === serverId).map((row) => row.module_number),
    others: new Set(rows.filter((row) => row.server_id !== serverId).map((row) => row.module_number)),
  };
}
