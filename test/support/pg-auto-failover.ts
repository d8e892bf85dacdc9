import { type ChildProcess, spawn } from 'node:child_process';
import {
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { findFreePort } from './free-port.ts';
import { POSTGRES_MAJOR } from './postgres-cluster.ts';
import { installDebianPackages, isRoot, runCommand } from './system-packages.ts';

const BIN_DIR = `/usr/lib/postgresql/${POSTGRES_MAJOR}/bin`;
const EXTENSION = `/usr/lib/postgresql/${POSTGRES_MAJOR}/lib/pgautofailover.so`;
const PACKAGES = [
  `postgresql-${POSTGRES_MAJOR}`,
  `postgresql-${POSTGRES_MAJOR}-auto-failover`,
  'pg-auto-failover-cli',
];
const USER = 'postgres';
/** The application's role and database on the data nodes. */
const APP_USER = 'indicia';
const APP_DATABASE = 'indicia';

/**
 * The monitor's failure detection, tuned from its 20–30 s defaults so that a killed primary is
 * replaced in a few seconds on loopback (see docs/operations.md for what to use between hosts).
 */
const MONITOR_SETTINGS: Record<string, number> = {
  'pgautofailover.health_check_period': 500,
  'pgautofailover.health_check_timeout': 1000,
  'pgautofailover.health_check_max_retries': 1,
  'pgautofailover.health_check_retry_delay': 250,
  'pgautofailover.node_considered_unhealthy_timeout': 1000,
  'pgautofailover.primary_demote_timeout': 2000,
  'pgautofailover.startup_grace_period': 2000,
};

export interface FailoverNode {
  readonly name: string;
  readonly port: number;
  /** The application's URL of this node alone. */
  readonly url: string;
  readonly pgdata: string;
}

/** A node as the monitor sees it (`pg_autoctl show state`). */
export interface NodeState {
  readonly name: string;
  readonly port: number;
  readonly reportedState: string;
  readonly goalState: string;
  readonly isHealthy: boolean;
}

export interface AutoFailoverCluster {
  readonly urls: {
    /** Both nodes, `target_session_attrs=read-write`: what the servers use. */
    readonly multiHost: string;
    readonly nodes: readonly string[];
    readonly monitor: string;
  };
  readonly nodes: readonly FailoverNode[];
  /** The node the monitor has as primary (primary or wait_primary, reported and assigned), waiting for one. */
  currentPrimary(timeoutMs?: number): Promise<FailoverNode>;
  /**
   * SIGKILLs the primary's postmaster. With `keeper: true` its pg_autoctl keeper too, so the monitor
   * fails over (the keeper is started again once the other node is primary, and the old primary
   * rejoins as standby); otherwise the keeper restarts postgres (the monitor may still fail over).
   */
  killPrimary(options?: { keeper?: boolean }): Promise<{ node: FailoverNode; killedAt: number }>;
  /** Waits until one node is primary and the other its synchronous standby, restarting killed keepers. */
  waitForPrimaryAndSyncStandby(timeoutMs?: number): Promise<FailoverNode>;
  state(): Promise<NodeState[]>;
  /** The monitor's latest events (`pg_autoctl show events`), oldest first, one line each. */
  events(count?: number): Promise<string[]>;
  /** The primary's synchronous_standby_names. */
  synchronousStandbyNames(): Promise<string>;
  stop(): Promise<void>;
}

interface Keeper {
  readonly pgdata: string;
  readonly log: string;
  process: ChildProcess | null;
  diedAt: number | null;
}

function uidOf(user: string): { uid: number; gid: number } {
  const uid = runCommand('id', ['-u', user]);
  const gid = runCommand('id', ['-g', user]);
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      `the "${user}" user is missing; reinstall the Debian package postgresql-${POSTGRES_MAJOR}.`,
    );
  }
  return { uid: Number(uid.output.trim()), gid: Number(gid.output.trim()) };
}

/**
 * Installs Debian's pg_auto_failover packages when missing (the test runner calls it once, so
 * test processes do not race for the dpkg lock); throws saying what is missing if it cannot.
 */
export function ensureAutoFailoverInstalled(): void {
  if (existsSync('/usr/bin/pg_autoctl') && existsSync(EXTENSION) && existsSync(join(BIN_DIR, 'pg_ctl')))
    return;
  installDebianPackages(
    PACKAGES,
    'pg_auto_failover (monitor, keeper, extension) is needed for the failover tests',
  );
  if (!existsSync('/usr/bin/pg_autoctl') || !existsSync(EXTENSION)) {
    throw new Error(`${PACKAGES.join(' ')} were installed but pg_autoctl or ${EXTENSION} is still missing.`);
  }
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts a pg_auto_failover formation on loopback: a monitor and two PostgreSQL data nodes with
 * synchronous replication between them, each run by `pg_autoctl run`, in a new temporary folder,
 * installing the Debian packages first when missing. Throws saying what is missing if it cannot.
 */
export async function startAutoFailoverCluster(): Promise<AutoFailoverCluster> {
  if (!isRoot()) {
    throw new Error('the failover drill runs pg_autoctl as the postgres user, so it must run as root.');
  }
  ensureAutoFailoverInstalled();
  const { uid, gid } = uidOf(USER);
  // In memory when possible: a SIGKILL loses nothing the kernel holds, so the drill's durability
  // is the same, and the nodes' fsyncs (and pg_rewind's when a node rejoins) cost nothing.
  const folder = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'indicia-paf-'));
  chownSync(folder, uid, gid);
  const environment = [
    `XDG_CONFIG_HOME=${join(folder, 'config')}`,
    `XDG_DATA_HOME=${join(folder, 'share')}`,
    `XDG_RUNTIME_DIR=${join(folder, 'run')}`,
    `PG_CONFIG=${join(BIN_DIR, 'pg_config')}`,
  ];
  const pgAutoctl = (args: readonly string[]): string => {
    const result = runCommand('env', [...environment, 'pg_autoctl', ...args], { asUser: USER, cwd: folder });
    if (result.status !== 0)
      throw new Error(`pg_autoctl ${args.slice(0, 2).join(' ')} failed:\n${result.output}`);
    return result.output;
  };
  const keepers: Keeper[] = [];
  const startKeeper = (keeper: Keeper): void => {
    const log = openSync(keeper.log, 'a');
    const child = spawn(
      'runuser',
      ['-u', USER, '--', 'env', ...environment, 'pg_autoctl', 'run', '--pgdata', keeper.pgdata],
      { cwd: folder, detached: true, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    child.unref();
    keeper.process = child;
    keeper.diedAt = null;
    child.once('exit', () => {
      if (keeper.process === child) {
        keeper.process = null;
        keeper.diedAt = Date.now();
      }
    });
  };
  const killKeeper = (keeper: Keeper, signal: NodeJS.Signals): void => {
    const pid = keeper.process?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  const killAll = (): void => {
    for (const keeper of keepers) killKeeper(keeper, 'SIGKILL');
    for (const keeper of keepers) killPostmaster(keeper.pgdata);
    rmSync(folder, { recursive: true, force: true });
  };
  process.once('exit', killAll);

  try {
    const monitorPort = await findFreePort();
    const monitorData = join(folder, 'monitor');
    pgAutoctl([
      'create',
      'monitor',
      '--pgdata',
      monitorData,
      '--pgport',
      String(monitorPort),
      '--hostname',
      '127.0.0.1',
      '--auth',
      'trust',
      '--no-ssl',
      '--pgctl',
      join(BIN_DIR, 'pg_ctl'),
    ]);
    pgAutoctl(['config', 'set', '--pgdata', monitorData, 'postgresql.listen_addresses', '127.0.0.1']);
    const monitor: Keeper = {
      pgdata: monitorData,
      log: join(folder, 'monitor.log'),
      process: null,
      diedAt: null,
    };
    keepers.push(monitor);
    startKeeper(monitor);
    const monitorUrl = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`;
    const monitorAdmin = `postgres://${USER}@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`;
    await waitUntil(30_000, 'the monitor to accept connections', async () => {
      await query(monitorUrl, 'select 1');
      return true;
    });
    for (const [name, value] of Object.entries(MONITOR_SETTINGS))
      await query(monitorAdmin, `alter system set ${name} = ${value}`);
    await query(monitorAdmin, 'select pg_reload_conf()');

    const nodes: FailoverNode[] = [];
    for (const name of ['node1', 'node2']) {
      const port = await findFreePort();
      const pgdata = join(folder, name);
      pgAutoctl([
        'create',
        'postgres',
        '--pgdata',
        pgdata,
        '--pgport',
        String(port),
        '--listen',
        '127.0.0.1',
        '--hostname',
        '127.0.0.1',
        '--name',
        name,
        '--dbname',
        APP_DATABASE,
        '--monitor',
        monitorUrl,
        '--auth',
        'trust',
        '--no-ssl',
        '--pgctl',
        join(BIN_DIR, 'pg_ctl'),
      ]);
      const keeper: Keeper = { pgdata, log: join(folder, `${name}.log`), process: null, diedAt: null };
      keepers.push(keeper);
      startKeeper(keeper);
      nodes.push({ name, port, pgdata, url: `postgres://${APP_USER}@127.0.0.1:${port}/${APP_DATABASE}` });
      if (nodes.length === 1) {
        await waitUntil(30_000, `${name} to run as a single primary`, async () => {
          const admin = `postgres://${USER}@127.0.0.1:${port}/${APP_DATABASE}`;
          await query(
            admin,
            `do $$ begin if not exists (select from pg_roles where rolname = '${APP_USER}') then create role ${APP_USER} login; end if; end $$`,
          );
          await query(admin, `alter database ${APP_DATABASE} owner to ${APP_USER}`);
          return true;
        });
      }
    }
    const nodeOf = (name: string): FailoverNode => {
      const node = nodes.find((candidate) => candidate.name === name);
      if (node === undefined) throw new Error(`the monitor names an unknown node ${name}`);
      return node;
    };
    const keeperOf = (node: FailoverNode): Keeper =>
      keepers.find((keeper) => keeper.pgdata === node.pgdata) as Keeper;

    const state = async (): Promise<NodeState[]> =>
      (
        await query<{
          nodename: string;
          nodeport: number;
          reportedstate: string;
          goalstate: string;
          health: number;
        }>(
          monitorUrl,
          'select nodename, nodeport, reportedstate, goalstate, health from pgautofailover.node order by nodeid',
        )
      ).map((row) => ({
        name: row.nodename,
        port: row.nodeport,
        reportedState: row.reportedstate,
        goalState: row.goalstate,
        isHealthy: row.health === 1,
      }));
    const events = async (count = 40): Promise<string[]> =>
      (
        await query<{ at: string; nodename: string; description: string }>(
          monitorUrl,
          `select to_char(eventtime, 'HH24:MI:SS.MS') as at, nodename, description
             from pgautofailover.event order by eventid desc limit ${Math.trunc(count)}`,
        )
      )
        .reverse()
        .map((row) => `${row.at} ${row.nodename}: ${row.description}`);
    const describe = (states: readonly NodeState[]): string =>
      states
        .map(
          (node) =>
            `${node.name} ${node.reportedState}→${node.goalState}${node.isHealthy ? '' : ' (unhealthy)'}`,
        )
        .join(', ');
    const isPrimaryState = (value: string): boolean => value === 'primary' || value === 'wait_primary';

    const currentPrimary = async (timeoutMs = 30_000): Promise<FailoverNode> => {
      let last: NodeState[] = [];
      try {
        return await waitUntil(timeoutMs, 'a primary', async () => {
          last = await state();
          const primary = last.find(
            (node) => isPrimaryState(node.reportedState) && node.goalState === node.reportedState,
          );
          return primary === undefined ? undefined : nodeOf(primary.name);
        });
      } catch (error) {
        throw new Error(`${(error as Error).message}; the monitor says: ${describe(last)}`);
      }
    };
    const synchronousStandbyNames = async (): Promise<string> => {
      const primary = await currentPrimary();
      const rows = await query<{ synchronous_standby_names: string }>(
        `postgres://${USER}@127.0.0.1:${primary.port}/${APP_DATABASE}`,
        'show synchronous_standby_names',
      );
      return rows[0]?.synchronous_standby_names ?? '';
    };

    const waitForPrimaryAndSyncStandby = async (timeoutMs = 90_000): Promise<FailoverNode> => {
      let last: NodeState[] = [];
      try {
        return await waitUntil(timeoutMs, 'a primary and a synchronous standby', async () => {
          last = await state();
          // A keeper killed for a failover comes back once the other node has taken over (or
          // after a while if no failover happened), so the old primary rejoins as standby.
          for (const node of nodes) {
            const keeper = keeperOf(node);
            if (keeper.process !== null || keeper.diedAt === null) continue;
            const tookOver = last.some(
              (other) => other.name !== node.name && isPrimaryState(other.goalState),
            );
            if (tookOver || Date.now() - keeper.diedAt > 20_000) startKeeper(keeper);
          }
          const primary = last.find(
            (node) => node.reportedState === 'primary' && node.goalState === 'primary',
          );
          const standby = last.find(
            (node) => node.reportedState === 'secondary' && node.goalState === 'secondary',
          );
          if (primary === undefined || standby === undefined) return undefined;
          if ((await synchronousStandbyNames()) === '') return undefined;
          return nodeOf(primary.name);
        });
      } catch (error) {
        throw new Error(`${(error as Error).message}; the monitor says: ${describe(last)}`);
      }
    };

    const killPrimary = async (options: { keeper?: boolean } = {}) => {
      const node = await currentPrimary(0);
      const keeper = keeperOf(node);
      if (options.keeper === true) {
        killKeeper(keeper, 'SIGKILL');
        keeper.diedAt = Date.now();
      }
      const killedAt = Date.now();
      if (!killPostmaster(node.pgdata)) throw new Error(`${node.name} has no running postmaster to kill`);
      return { node, killedAt };
    };

    const stop = async (): Promise<void> => {
      process.removeListener('exit', killAll);
      // Data nodes first, then the monitor: pg_autoctl stops its postgres on SIGTERM.
      const terminate = async (group: readonly Keeper[]): Promise<void> => {
        await Promise.all(
          group.map(async (keeper) => {
            const child = keeper.process;
            if (child === null) return;
            const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
            killKeeper(keeper, 'SIGTERM');
            await Promise.race([exited, sleep(10_000)]);
          }),
        );
      };
      await terminate(keepers.filter((keeper) => keeper !== monitor));
      await terminate([monitor]);
      // INDICIA_FAILOVER_LOGS=<folder> keeps the keepers' and monitor's logs for a post-mortem.
      const keep = process.env['INDICIA_FAILOVER_LOGS'];
      if (keep !== undefined && keep !== '') {
        mkdirSync(keep, { recursive: true });
        for (const keeper of keepers)
          if (existsSync(keeper.log)) copyFileSync(keeper.log, join(keep, basename(keeper.log)));
      }
      killAll();
    };

    await waitForPrimaryAndSyncStandby(120_000);
    return {
      urls: {
        multiHost: `postgres://${APP_USER}@${nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}/${APP_DATABASE}?target_session_attrs=read-write`,
        nodes: nodes.map((node) => node.url),
        monitor: monitorUrl,
      },
      nodes,
      currentPrimary,
      killPrimary,
      waitForPrimaryAndSyncStandby,
      state,
      events,
      synchronousStandbyNames,
      stop,
    };
  } catch (error) {
    const logs = keepers
      .map(
        (keeper) =>
          `--- ${keeper.log}\n${existsSync(keeper.log) ? readFileSync(keeper.log, 'utf8').slice(-3000) : ''}`,
      )
      .join('\n');
    killAll();
    process.removeListener('exit', killAll);
    throw new Error(`pg_auto_failover did not start: ${(error as Error).message}\n${logs}`, { cause: error });
  }
}

/** SIGKILLs the postmaster of a data directory; false when none runs. */
function killPostmaster(pgdata: string): boolean {
  const pidFile = join(pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

async function waitUntil<T>(
  timeoutMs: number,
  what: string,
  probe: () => Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = ` (last: ${(error as Error).message})`;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError}`);
    await sleep(250);
  }
}
