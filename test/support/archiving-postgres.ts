import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { findFreePort } from './free-port.ts';
import { POSTGRES_MAJOR, findBinDir } from './postgres-cluster.ts';
import { installDebianPackages, isRoot, runCommand } from './system-packages.ts';

/**
 * A PostgreSQL cluster of the backup tests' own, archiving its WAL through pgBackRest: never the
 * shared TEST_POSTGRES_URL cluster, whose configuration other suites rely on.
 */
export interface ArchivingCluster {
  /** Superuser URL of the `postgres` maintenance database. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Where the server puts its Unix socket (pg1-socket-path). */
  readonly socketDir: string;
  /** The cluster's folder (owned by the postgres user); restored data directories go beside it. */
  readonly folder: string;
  /** The disaster: stops the server at once (no checkpoint) and deletes its data directory. */
  destroy(): void;
  stop(): void;
}

/** The OS user PostgreSQL and pgBackRest run as: `postgres` when the tests run as root. */
export const POSTGRES_OS_USER: string | undefined = isRoot() ? 'postgres' : undefined;

function ownedByPostgres(path: string): void {
  if (POSTGRES_OS_USER === undefined) return;
  const uid = runCommand('id', ['-u', POSTGRES_OS_USER]);
  const gid = runCommand('id', ['-g', POSTGRES_OS_USER]);
  if (uid.status !== 0)
    throw new Error(
      `the "${POSTGRES_OS_USER}" user is missing; reinstall the Debian package postgresql-${POSTGRES_MAJOR}.`,
    );
  chownSync(path, Number(uid.output.trim()), Number(gid.output.trim()));
}

/** A new temporary folder the postgres user owns. */
export function postgresOwnedFolder(prefix: string): string {
  const folder = mkdtempSync(join(tmpdir(), prefix));
  ownedByPostgres(folder);
  return folder;
}

/** PostgreSQL's bin folder, installing PostgreSQL and pgBackRest (Debian packages) when missing. */
export function postgresWithPgBackRest(): string {
  const missing = [
    ...(findBinDir() === undefined ? [`postgresql-${POSTGRES_MAJOR}`] : []),
    ...(runCommand('pgbackrest', ['version']).status === 0 ? [] : ['pgbackrest']),
  ];
  if (missing.length > 0) installDebianPackages(missing, 'the PostgreSQL backup tests need pgBackRest');
  const binDir = findBinDir();
  if (binDir === undefined) throw new Error('PostgreSQL was installed but no initdb was found.');
  return binDir;
}

function startServer(binDir: string, dataDir: string, folder: string, port: number): void {
  const logFile = join(folder, `postgres-${port}.log`);
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${folder}`;
  const start = runCommand(
    join(binDir, 'pg_ctl'),
    ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', options, 'start'],
    { asUser: POSTGRES_OS_USER, cwd: folder },
  );
  if (start.status !== 0) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    throw new Error(`PostgreSQL did not start on ${dataDir}:\n${start.output}\n${log}`);
  }
}

function stopServer(binDir: string, dataDir: string, folder: string): void {
  runCommand(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop'], {
    asUser: POSTGRES_OS_USER,
    cwd: folder,
  });
}

/**
 * Starts a cluster on a free loopback port whose postgresql.conf gets the lines `settings`
 * returns (given where the cluster lives): the archive settings pgBackRest needs.
 */
export async function startArchivingCluster(
  settings: (cluster: { dataDir: string; port: number; socketDir: string }) => Record<string, string>,
): Promise<ArchivingCluster> {
  const binDir = postgresWithPgBackRest();
  const folder = postgresOwnedFolder('indicia-pgbr-');
  const dataDir = join(folder, 'data');
  const initdb = runCommand(
    join(binDir, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { asUser: POSTGRES_OS_USER, cwd: folder },
  );
  if (initdb.status !== 0) throw new Error(`initdb failed:\n${initdb.output}`);
  const port = await findFreePort();
  const lines = Object.entries({
    fsync: 'off',
    ...settings({ dataDir, port, socketDir: folder }),
  }).map(([name, value]) => `${name} = '${value.replaceAll("'", "''")}'`);
  appendFileSync(join(dataDir, 'postgresql.conf'), `\n${lines.join('\n')}\n`);
  try {
    startServer(binDir, dataDir, folder, port);
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
  let isStopped = false;
  const stop = (): void => {
    if (isStopped) return;
    isStopped = true;
    stopServer(binDir, dataDir, folder);
    rmSync(folder, { recursive: true, force: true });
  };
  process.once('exit', stop);
  const destroy = (): void => {
    runCommand(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], {
      asUser: POSTGRES_OS_USER,
      cwd: folder,
    });
    rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    socketDir: folder,
    folder,
    destroy,
    stop,
  };
}

/**
 * Starts a restored data directory on another free port and waits until recovery has ended (a
 * server accepts connections while it still replays WAL). stop() stops it; the folder stays.
 */
export async function startRestoredCluster(
  dataDir: string,
  folder: string,
): Promise<{ url: string; stop(): void }> {
  const binDir = postgresWithPgBackRest();
  const port = await findFreePort();
  startServer(binDir, dataDir, folder, port);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ recovering: boolean }>('select pg_is_in_recovery() as recovering');
    await client.end();
    if (rows[0]?.recovering === false) break;
    if (Date.now() > deadline) {
      stopServer(binDir, dataDir, folder);
      throw new Error(`the restored cluster in ${dataDir} was still recovering after 60 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let isStopped = false;
  const stop = (): void => {
    if (isStopped) return;
    isStopped = true;
    stopServer(binDir, dataDir, folder);
  };
  process.once('exit', stop);
  return { url, stop };
}
